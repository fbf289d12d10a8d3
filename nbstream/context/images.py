"""Images as message parts: matplotlib figures, PIL images, IPython `Image`s, image files.

Each becomes PNG, JPEG, GIF or WebP bytes no larger than `max_side` on either side (resized with
Pillow when larger), sent as a `data:` URL; the token estimate follows OpenAI's tile formula.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import BadInputError, ConfigError

#: The formats vision endpoints accept, by Pillow's format name.
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
#: OpenAI's figure for a 1024×1024 image: a URL's size is not known before the server reads it.
URL_TOKENS = 765


@dataclass(frozen=True)
class Image:
    """An encoded image ready to send: its bytes, format and size in pixels."""

    data: bytes
    media_type: str
    width: int
    height: int

    @property
    def digest(self) -> str:
        """The sha256 of the bytes: what the store and the cache keep instead of them."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def url(self) -> str:
        """The image as a `data:` URL."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"

    def part(self) -> dict[str, Any]:
        """The Chat Completions content part."""
        return {"type": "image_url", "image_url": {"url": self.url}}

    @property
    def label(self) -> str:
        """'image 640×480 PNG, 12 kB'."""
        kind = self.media_type.split("/")[1].upper()
        return f"image {self.width}×{self.height} {kind}, {_size(len(self.data))}"

    @property
    def tokens(self) -> int:
        """Prompt tokens by OpenAI's documented formula for `detail: high`."""
        return image_tokens(self.width, self.height)


def image_tokens(width: int, height: int) -> int:
    """OpenAI's estimate: fit in 2048×2048, shortest side down to 768, 170 per 512px tile + 85."""
    fit = min(1.0, 2048 / max(width, height, 1))
    shortest = min(1.0, 768 / max(min(width, height) * fit, 1))
    scale = fit * shortest
    return 85 + 170 * math.ceil(width * scale / 512) * math.ceil(height * scale / 512)


def parts_tokens(messages: Iterable[dict[str, Any]]) -> int:
    """The prompt tokens of every image part in `messages` (a thread's history sends its images
    again), by OpenAI's formula; an image URL counts as URL_TOKENS."""
    urls = [part["image_url"]["url"] for message in messages
            if isinstance(content := message.get("content"), list)
            for part in content if part.get("type") == "image_url"]  # fmt: skip
    return sum(_url_tokens(url) for url in urls)


def _url_tokens(url: str) -> int:
    if not url.startswith("data:"):
        return URL_TOKENS
    try:  # Pillow reads the size from the header, without decoding the pixels
        picture = _pillow().open(io.BytesIO(base64.b64decode(url.partition(",")[2])))
    except (OSError, ValueError):
        return URL_TOKENS
    return image_tokens(*picture.size)


def is_image(value: Any) -> bool:
    """True for a matplotlib Figure or Axes, a PIL image, or an IPython `Image`."""
    kind, module = type(value).__name__, type(value).__module__
    if module.startswith("matplotlib"):
        return hasattr(value, "savefig") or hasattr(getattr(value, "figure", None), "savefig")
    if module.startswith("PIL."):
        return hasattr(value, "save") and hasattr(value, "size")
    return module.startswith("IPython") and kind == "Image"


def image_of(value: Any, max_side: int) -> Image:
    """The image shown by a figure, PIL image or IPython `Image`, at most `max_side` wide/high."""
    module = type(value).__module__
    if module.startswith("matplotlib"):
        figure = value if hasattr(value, "savefig") else value.figure
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return from_bytes(buffer.getvalue(), max_side, "figure")
    if module.startswith("PIL."):
        return _encode(value, max_side)
    data = getattr(value, "data", None)
    if not isinstance(data, bytes):
        raise BadInputError(
            "this IPython Image has no data in memory (a URL image)",
            "attach the URL with %%chat -a URL, or load it with Image(url, embed=True)",
        )
    return from_bytes(data, max_side, "IPython Image")


def from_bytes(data: bytes, max_side: int, what: str) -> Image:
    """Image bytes as sent: as they are when small enough and accepted, else re-encoded."""
    pil = _pillow()
    try:
        picture = pil.open(io.BytesIO(data))
        picture.load()
    except (OSError, ValueError) as err:  # Pillow's UnidentifiedImageError is an OSError
        raise BadInputError(f"{what} is not an image Pillow can read: {err}",
                            "attach PNG, JPEG, GIF or WebP") from None  # fmt: skip
    media_type = MEDIA_TYPES.get(picture.format or "")
    animated = getattr(picture, "is_animated", False)
    if media_type and not animated and max(picture.size) <= max_side:
        return Image(data, media_type, *picture.size)
    return _encode(picture, max_side)


def _encode(picture: Any, max_side: int) -> Image:
    """A PIL image resized to fit `max_side` and saved as PNG (JPEG when it came as JPEG)."""
    jpeg = picture.format == "JPEG" or picture.mode == "CMYK"
    picture = picture.copy()  # the first frame of an animation: GIFs are sent still
    picture.thumbnail((max_side, max_side))
    if jpeg:
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG" if jpeg else "PNG")
    media_type = "image/jpeg" if jpeg else "image/png"
    return Image(buffer.getvalue(), media_type, *picture.size)


def _pillow() -> Any:
    try:
        from PIL import Image as pil
    except ImportError:
        raise ConfigError("attaching images needs Pillow", "pip install pillow") from None
    return pil


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    if count < 1_000_000:
        return f"{count / 1000:.0f} kB"
    return f"{count / 1_000_000:.1f} MB"
