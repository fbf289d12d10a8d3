"""Replies of every shape the segmenter cuts differently, about `tokens` words each."""

from __future__ import annotations

WORDS = ("the", "notebook", "shows", "each", "token", "as", "soon", "as", "it", "arrives")


def _words(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(n)]


def shapes(tokens: int) -> dict[str, str]:
    """Prose without blank lines, one code block, CJK text, a list and a table."""
    rows = max(1, tokens // 6)
    return {
        "one paragraph": " ".join(_words(tokens)) + ".",
        "code block": "```python\n"
        + "".join(f"value_{i} = compute({i}, 'x')\n" for i in range(rows))
        + "```",
        "CJK": "\u3000".join("漢字の文章です。" for _ in range(tokens // 2)),
        "list": "".join(f"- item {i}: {' '.join(_words(4))}\n" for i in range(rows)),
        "table": "| n | words |\n|---|---|\n"
        + "".join(f"| {i} | {' '.join(_words(3))} |\n" for i in range(rows)),
    }
