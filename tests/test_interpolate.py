"""`{name}` interpolation: only what resolves; everything else byte for byte."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbstream.interpolate import interpolate


class Box:
    size = 7


NS = {"x": 1, "name": "Ada", "d": {"k": "v", 2: "two"}, "items": [10, 20], "box": Box(),
      "In": ["", "print(1)"], "Out": {1: "out-one"}}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{name}", "Ada"),
        ("{d[k]} {d['k']} {d[2]}", "v v two"),
        ("{items[1]} {box.size}", "20 7"),
        ("{In[1]} / {Out[1]}", "print(1) / out-one"),
        ("{missing}", "{missing}"),
        ("{d[nope]} {box.nope} {items[9]}", "{d[nope]} {box.nope} {items[9]}"),
        ("{x:>10} {0} {} {!r}", "{x:>10} {0} {} {!r}"),
        ('{"a": {"b": 1}}', '{"a": {"b": 1}}'),
        ("def f():\n    return {x for x in y}", "def f():\n    return {x for x in y}"),
        ("{{name}}", "{name}"),
        ("```js\nif (a) { b() }\n```", "```js\nif (a) { b() }\n```"),
        ("$ {x} $$", "$ 1 $$"),
        ("{box._private}", "{box._private}"),
    ],
)
def test_interpolation_table(text: str, expected: str) -> None:
    assert interpolate(text, NS) == expected


@given(st.text(alphabet=st.characters(blacklist_characters="{}")))
def test_text_without_braces_is_untouched(text: str) -> None:
    assert interpolate(text, NS) == text


@given(st.text(alphabet="{}[]():>0 \n\"'abc").map(lambda t: re.sub(r"\{+", "{", t)))
def test_unresolvable_braces_are_sent_byte_for_byte(text: str) -> None:
    assert interpolate(text, {}) == text
