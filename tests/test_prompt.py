"""A prompt with context: values put in by name, files attached, and what the footer says."""

from __future__ import annotations

import pandas as pd
from PIL import Image as PILImage

from nbstream.context.prompt import build


def test_names_become_their_values_and_the_footer_counts_what_was_attached(tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    frame = pd.DataFrame({"a": [1, 2, 3]})
    prompt = build("Sum {df} for {who}", {"df": frame, "who": "me"}, budget=500, max_side=512,
                   attachments=[str(notes)])  # fmt: skip
    assert str(prompt).startswith("Sum pandas table, 3 rows × 1 columns")
    assert " for me\n\n--- notes.txt ---\nhello\n--- end of notes.txt ---" in prompt
    assert prompt.attached() == "1 table (3×1), 1 file (notes.txt)"
    assert prompt.content() == str(prompt)  # no image: plain text content


def test_an_image_is_its_own_part_after_the_text_with_a_marker_in_it() -> None:
    picture = PILImage.new("RGB", (64, 64), "red")
    prompt = build("Look: {pic}", {"pic": picture}, budget=500, max_side=512)
    content = prompt.content()
    assert isinstance(content, list) and content[0]["type"] == "text"
    assert content[0]["text"].startswith("Look: [image 1: image 64×64 PNG, ")
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert prompt.attached(exact=False) == "1 image (≈255 tokens)"


def test_without_a_namespace_the_text_is_sent_as_written() -> None:
    prompt = build("Keep {braces}", None, budget=500, max_side=512)
    assert str(prompt) == "Keep {braces}" and prompt.pieces == ()
