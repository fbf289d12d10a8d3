"""A prompt with the notebook's values in it: text, plus the image parts it attaches.

`Prompt` is a `str` (the text sent and stored, with a placeholder where each image went), so
every path that takes a prompt takes one; `content()` is the message content with the images.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..interpolate import interpolate
from .files import attach
from .values import Piece, describe

_PLURAL = {"image": "images", "table": "tables", "file": "files"}


class Prompt(str):
    """Prompt text and the pieces of context in it (tables, images, files)."""

    pieces: tuple[Piece, ...]

    def __new__(cls, text: str, pieces: Iterable[Piece] = ()) -> Prompt:
        prompt = super().__new__(cls, text)
        prompt.pieces = tuple(pieces)
        return prompt

    def content(self) -> str | list[dict[str, Any]]:
        """The user message's content: the text, then each image as its own part."""
        images = self.image_parts()
        return [{"type": "text", "text": str(self)}, *images] if images else str(self)

    def image_parts(self) -> list[dict[str, Any]]:
        """The image parts, in the order the images appear in the text."""
        return [p.part for p in self.pieces if p.part is not None]

    @property
    def image_tokens(self) -> int:
        """The images' prompt tokens by OpenAI's tile formula."""
        return sum(p.tokens for p in self.pieces)

    def attached(self, exact: bool = True) -> str:
        """'1 image (765 tokens), 1 table (344×7)': what the footer says was attached; the
        image tokens are OpenAI's formula, marked ≈ (`exact=False`) for other servers."""
        said = []
        for kind, count in Counter(p.kind for p in self.pieces).items():
            of_kind = [p for p in self.pieces if p.kind == kind]
            if kind == "image":
                detail = f"{'' if exact else '≈'}{self.image_tokens} tokens"
            elif kind == "table":
                detail = ", ".join(p.label.partition(" ")[2].strip("()") for p in of_kind)
            else:
                detail = ", ".join(p.label for p in of_kind)
            said.append(f"{count} {kind if count == 1 else _PLURAL[kind]} ({detail})")
        return ", ".join(said)


def build(
    text: str,
    namespace: Mapping[str, Any] | None,
    *,
    budget: int,
    max_side: int,
    attachments: Sequence[str] = (),
    notice: Callable[[str], None] = lambda line: None,
) -> Prompt:
    """`text` with each `{name}` replaced by its value as context (`namespace` None: sent as
    written), then each attached file or image URL."""
    pieces: list[Piece] = []

    def convert(value: Any) -> str:
        piece = describe(value, budget, max_side)
        pieces.append(piece)
        return _marker(piece, pieces)

    if namespace is not None:
        text = interpolate(text, namespace, notice, convert=convert)
    for spec in attachments:
        piece = attach(spec, budget, max_side)
        pieces.append(piece)
        text += "\n\n" + _marker(piece, pieces)
    return Prompt(text, (p for p in pieces if p.kind in _PLURAL))


def _marker(piece: Piece, pieces: list[Piece]) -> str:
    if piece.part is None:
        return piece.text
    number = sum(p.part is not None for p in pieces)
    return f"[image {number}: {piece.label}, sha256 {piece.digest[:12] or 'of the URL'}]"
