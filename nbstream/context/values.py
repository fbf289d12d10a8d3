"""One value of the notebook as prompt context: text that fits the budget, or an image.

The order: an object's own `_repr_llm_()`, a DataFrame or Series as a table view, a figure or
image, `_repr_markdown_()`, then `str()`. Text other than a plain `str` is cut to the budget
with a note of what was left out; a `str` is sent whole, as the user wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.result import estimate_tokens
from .images import image_of, is_image
from .tables import is_table, table_view


@dataclass(frozen=True)
class Piece:
    """What a value adds to a prompt: its text, or an image part with a marker in the text."""

    text: str
    kind: str  # table, image, file, text: what the footer counts
    label: str = ""  # 'table (344×7)', 'image 640×480 PNG, 12 kB'
    part: dict[str, Any] | None = None  # an image's content part
    tokens: int = 0  # an image's prompt tokens by OpenAI's formula
    digest: str = ""  # an image's sha256


def describe(value: Any, budget: int, max_side: int) -> Piece:
    """`value` as context, in at most about `budget` tokens of text."""
    own = getattr(value, "_repr_llm_", None)
    if callable(own) and not isinstance(value, type):
        return Piece(bounded(str(own()), budget), "text")
    if is_table(value):
        table = table_view(value, budget)
        return Piece(table.text, "table", table.label)
    if is_image(value):
        image = image_of(value, max_side)
        return Piece("", "image", image.label, image.part(), image.tokens, image.digest)
    if isinstance(value, str):
        return Piece(value, "text")
    return Piece(bounded(_markdown(value) or str(value), budget), "text")


def _markdown(value: Any) -> str | None:
    method = getattr(value, "_repr_markdown_", None)
    if not callable(method) or isinstance(value, type):
        return None
    shown = method()
    if isinstance(shown, tuple):  # (markdown, metadata), as IPython allows
        shown = shown[0]
    return shown if isinstance(shown, str) else None


def bounded(text: str, budget: int) -> str:
    """`text`, cut to about `budget` tokens with a note of how much was left out."""
    if estimate_tokens(text) <= budget:
        return text
    kept = text[: max(budget, 1) * 4]
    return f"{kept}\n… (left out: {len(text) - len(kept):,} of {len(text):,} characters)"
