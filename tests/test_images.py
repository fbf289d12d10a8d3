"""Images as prompt context: OpenAI's token formula, a label, a data URL, refusals in words."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image as PILImage

from nbstream.context.images import (
    URL_TOKENS,
    from_bytes,
    image_of,
    image_tokens,
    is_image,
    parts_tokens,
)
from nbstream.errors import BadInputError


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("size", "tokens"), [((512, 512), 255), ((1024, 1024), 765),
                                              ((2048, 4096), 1105)])  # fmt: skip
def test_tokens_follow_the_tile_formula(size, tokens) -> None:
    assert image_tokens(*size) == tokens


def test_a_small_png_is_sent_as_it_is_with_a_label_and_a_data_url() -> None:
    data = png(64, 32)
    image = from_bytes(data, 512, "figure")
    assert (image.width, image.height, image.media_type) == (64, 32, "image/png")
    assert image.label.startswith("image 64×32 PNG, ")
    assert (
        image.part()["image_url"]["url"]
        == f"data:image/png;base64,{base64.b64encode(data).decode()}"
    )


def test_a_large_image_is_shrunk_to_the_max_side() -> None:
    image = image_of(PILImage.new("RGB", (2000, 1000), "blue"), 500)
    assert max(image.width, image.height) == 500 and is_image(PILImage.new("L", (1, 1)))


def test_bytes_that_are_no_image_are_refused_naming_what() -> None:
    with pytest.raises(BadInputError, match=r"notes\.png is not an image Pillow can read"):
        from_bytes(b"hello", 512, "notes.png")
    assert not is_image(b"\x89PNG")


def test_parts_tokens_counts_every_image_of_every_message_and_a_url_as_1024_square() -> None:
    def part(url: str) -> dict:
        return {"type": "image_url", "image_url": {"url": url}}

    small, large = from_bytes(png(100, 100), 4096, "a"), from_bytes(png(2048, 4096), 4096, "b")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "x"}, part(small.url)]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [part(large.url), part("https://x.test/a.png")]},
    ]
    assert parts_tokens(messages) == 255 + 1105 + URL_TOKENS
    assert parts_tokens([{"role": "user", "content": "no images"}]) == 0
