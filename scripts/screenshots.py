"""Retake the README's pictures from a real JupyterLab in headless Chromium.

    python scripts/screenshots.py [--out docs]

The pictures are the browser tier's own: its theme tests (`-k light_and_dark_themes`) run a
`%%chat` cell, a `gather` grid and the chat panel against the offline demo server in JupyterLab
4, at two device pixels per CSS pixel, in the Light and Dark themes, check their contrast, and
save them; this script runs those tests and copies the pictures to `--out`. The same content
and window size each time, so only what nbstream draws changes from one take to the next
(and the measured times in the footers). Needs what the browser tier needs: the `e2e` extra
and Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PICTURES = [
    f"{name}{theme}.png" for name in ("chat-cell", "grid", "panel") for theme in ("", "-dark")
]


def take(into: Path) -> list[Path]:
    """Run the theme tests with their artifacts in `into`; the pictures they saved."""
    env = {**os.environ, "NBSTREAM_E2E_ARTIFACTS": str(into)}
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "e2e",
        "tests/e2e", "-k", "light_and_dark_themes",
        "--timeout", "900",  # a hang bound: a loaded machine starts JupyterLab slowly
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    missing = [name for name in PICTURES if not (into / name).is_file()]
    if missing:
        raise SystemExit(f"the theme tests saved no {', '.join(missing)}")
    return [into / name for name in PICTURES]


def main(argv: list[str] | None = None) -> None:
    """Take the pictures and copy them to `--out` (docs/ by default)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="where the README's pictures live"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbstream-pictures-") as tmp:
        for picture in take(Path(tmp)):
            shutil.copyfile(picture, args.out / picture.name)
            print(f"{args.out / picture.name}: {picture.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
