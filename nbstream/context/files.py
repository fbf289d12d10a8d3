"""`%%chat -a PATH|URL`: image files as image parts, text files and PDFs as text.

Image URLs are sent as URLs (the server fetches them); nbstream reads no network. Text is cut
to the context budget with a note of what was left out; a PDF's text needs `pypdf`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BadInputError, ConfigError
from .images import URL_TOKENS, from_bytes
from .values import Piece, bounded

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def attach(spec: str, budget: int, max_side: int) -> Piece:
    """The file at path `spec`, or the image at URL `spec`, as context."""
    if spec.startswith(("http://", "https://")):
        return _url(spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise BadInputError(f"cannot attach {spec}: no such file", "check the path")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        image = from_bytes(path.read_bytes(), max_side, path.name)
        return Piece("", "image", image.label, image.part(), image.tokens, image.digest)
    text = _pdf_text(path, budget) if suffix == ".pdf" else _text(path)
    body = bounded(text, budget)
    return Piece(f"--- {path.name} ---\n{body}\n--- end of {path.name} ---", "file", path.name)


def _url(url: str) -> Piece:
    if not url.lower().split("?")[0].endswith(IMAGE_SUFFIXES):
        raise BadInputError(
            f"cannot attach {url}: only image URLs (PNG, JPEG, GIF, WebP) are sent as URLs",
            "download the file and attach its path",
        )
    part = {"type": "image_url", "image_url": {"url": url}}
    return Piece("", "image", "image from URL", part, URL_TOKENS)


def _text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise BadInputError(
            f"cannot attach {path.name}: it is binary, not text",
            "attach text files, PDFs, or PNG/JPEG/GIF/WebP images",
        )
    return data.decode("utf-8", errors="replace")


def _pdf_text(path: Path, budget: int) -> str:
    reader = _pdf_reader(path)
    pages: list[str] = []
    size = 0
    for number, page in enumerate(reader.pages, 1):
        if size > budget * 4:  # enough to fill the budget: the rest would be cut anyway
            pages.append(f"[pages {number}–{len(reader.pages)} not read]")
            break
        text = page.extract_text() or ""
        pages.append(f"[page {number}]\n{text}")
        size += len(text)
    return "\n\n".join(pages)


def _pdf_reader(path: Path) -> Any:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        raise ConfigError(f"attaching {path.name} needs pypdf", "pip install pypdf") from None
    try:
        return PdfReader(path)
    except (PyPdfError, OSError, ValueError) as err:
        raise BadInputError(f"cannot read {path.name} as a PDF: {err}", "check the file") from None
