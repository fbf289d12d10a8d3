"""Attached files: text between markers, images as parts, refusals that say what to do."""

from __future__ import annotations

import pytest

from nbstream.context.files import URL_TOKENS, attach
from nbstream.errors import BadInputError


def test_a_text_file_goes_between_markers_cut_to_the_budget(tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("line one\nline two")
    piece = attach(str(notes), 100, 512)
    assert piece.text == "--- notes.txt ---\nline one\nline two\n--- end of notes.txt ---"
    assert (piece.kind, piece.label) == ("file", "notes.txt")
    notes.write_text("x" * 10_000)
    assert "… (left out: 9,600 of 10,000 characters)" in attach(str(notes), 100, 512).text


def test_an_image_url_is_a_part_and_other_urls_are_refused() -> None:
    piece = attach("https://x.org/cat.PNG?size=2", 100, 512)
    assert piece.part == {"type": "image_url", "image_url": {"url": "https://x.org/cat.PNG?size=2"}}
    assert piece.tokens == URL_TOKENS
    with pytest.raises(BadInputError, match="only image URLs"):
        attach("https://x.org/page.html", 100, 512)


def test_missing_and_binary_files_are_refused_naming_them(tmp_path) -> None:
    with pytest.raises(BadInputError, match=r"cannot attach .*nope\.txt: no such file"):
        attach(str(tmp_path / "nope.txt"), 100, 512)
    blob = tmp_path / "data.bin"
    blob.write_bytes(b"\x00\x01\x02")
    with pytest.raises(BadInputError, match=r"data\.bin: it is binary, not text"):
        attach(str(blob), 100, 512)
