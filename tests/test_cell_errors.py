"""The errors of cells since `%load_ext`: kept without colour, looked up by cell number."""

from __future__ import annotations

import pytest

from nbstream.context.cell_errors import KEPT, CellErrors, fix_prompt, plain


def test_a_traceback_is_kept_without_colour_and_the_last_is_the_default() -> None:
    errors = CellErrors(first=3)
    assert str(errors) == "(no cell has failed since %load_ext nbstream)"
    errors.record(4, "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero\n")
    errors.record(6, "NameError: x")
    assert errors[4] == "ZeroDivisionError: division by zero"
    assert str(errors) == errors._repr_llm_() == "NameError: x" and 6 in errors


def test_a_cell_before_loading_or_without_an_error_says_which() -> None:
    errors = CellErrors(first=3)
    with pytest.raises(LookupError, match=r"cell 2 ran before %load_ext nbstream \(cell 3\)"):
        errors[2]
    with pytest.raises(LookupError, match="cell 5 raised no error"):
        errors[5]
    with pytest.raises(TypeError, match="a cell number, like Err"):
        errors["5"]  # type: ignore[index]


def test_a_huge_traceback_keeps_its_end_where_the_error_is() -> None:
    errors = CellErrors(first=1)
    errors.record(1, "frame\n" * 10_000 + "RecursionError: too deep")
    kept = errors[1]
    assert kept.startswith("… (left out: the first 44,024 characters)\n")
    assert kept.endswith("RecursionError: too deep") and len(kept.splitlines()[-1]) < KEPT


def test_the_fix_prompt_holds_the_cell_and_its_error() -> None:
    asked = fix_prompt(7, "1/0\n", plain("\x1b[31mZeroDivisionError\x1b[0m"))
    assert asked.startswith("Cell 7 of my notebook failed.")
    assert asked.endswith("```python\n1/0\n```\n\nThe error:\n\n```\nZeroDivisionError\n```")
