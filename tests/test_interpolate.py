"""`{name}` interpolation: only what resolves; everything else byte for byte."""

from __future__ import annotations

import os
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nbstream
from nbstream.interpolate import interpolate


class Box:
    size = 7
    _private = "hidden"  # there, so that only the rule keeps `{box._private}` text


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


# ---- data only: no code, no frames, nothing that raises its way out


class Raising:
    @property
    def boom(self) -> str:
        raise ValueError("computed badly\nsecond line")

    def __getitem__(self, key: str) -> str:
        raise RuntimeError(f"no item {key}")


class BadStr:
    def __str__(self) -> str:
        raise TypeError("cannot show")


def _frames() -> dict:
    def gen():
        yield 1

    try:
        raise ValueError("x")
    except ValueError as err:
        tb = err.__traceback__
    return {"tb": tb, "gen": gen(), "func": _frames, "method": NS.get, "lam": lambda: 1}


CODE_NS = {**NS, "os": os, "nbstream": nbstream, "sys": sys, "env": os.environ, **_frames(),
           "raising": Raising(), "bad": BadStr(), "Box": Box}  # fmt: skip


@pytest.mark.parametrize(
    "field",
    [
        "{os.environ}", "{os.environ[HOME]}", "{nbstream.settings.os}", "{nbstream.settings}",
        "{sys.modules}", "{tb.tb_frame.f_globals}", "{tb.tb_frame}", "{tb}", "{gen.gi_frame}",
        "{gen.gi_code}", "{func}", "{func.__globals__}", "{method}", "{lam}", "{d.get}",
        "{name.upper}", "{box.__class__}", "{Box.__init__}", "{_frames}",
    ],
)  # fmt: skip
def test_code_and_its_surroundings_stay_as_text(field: str) -> None:
    notices: list[str] = []
    assert interpolate(f"a {field} b", CODE_NS, notices.append) == f"a {field} b"
    assert notices == []


@pytest.mark.parametrize(
    "field", ["{box._private}", "{box.__dict__}", "{box.__class__.__name__}", "{x.__doc__}"]
)
def test_attributes_starting_with_an_underscore_stay_as_text(field: str) -> None:
    assert interpolate(f"a {field} b", {**CODE_NS, "box": Box()}) == f"a {field} b"


def test_data_reached_past_nothing_but_data_still_resolves() -> None:
    assert interpolate("{env[NBSTREAM_TEST_X]}", {"env": {"NBSTREAM_TEST_X": "ok"}}) == "ok"
    assert interpolate("{Box.size} {box.size} {gen}", CODE_NS).startswith("7 7 <generator")


@pytest.mark.parametrize(
    ("field", "notice"),
    [
        ("{raising.boom}", "{raising.boom} left as text: ValueError: computed badly"),
        ("{raising[k]}", "{raising[k]} left as text: RuntimeError: no item k"),
        ("{bad}", "{bad} left as text: TypeError: cannot show"),
    ],
)
def test_a_field_that_raises_stays_as_text_with_a_one_line_notice(field, notice) -> None:
    notices: list[str] = []
    assert interpolate(f"x {field} {{name}}", CODE_NS, notices.append) == f"x {field} Ada"
    assert notices == [notice]


class Quiet:
    @property
    def empty(self) -> str:
        raise ValueError()

    @property
    def long(self) -> str:
        raise ValueError("x" * 500)


def test_mutation_survivors_are_pinned() -> None:
    notices: list[str] = []
    ns = {"q": Quiet(), "d": {"2": "string key", "k": 1}, "box": Box()}
    text = "{box.nope} {d[2]} {d[XkX]} {q.empty} {q.long}"
    assert (
        interpolate(text, ns, notices.append) == "{box.nope} string key {d[XkX]} {q.empty} {q.long}"
    )
    assert notices == [
        "{q.empty} left as text: ValueError: (no message)",  # a missing attribute says nothing
        "{q.long} left as text: ValueError: " + "x" * 200,  # one line, cut at 200 characters
    ]
