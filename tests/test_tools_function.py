"""A function as a tool: its schema from hints and docstring, `@nbstream.tool`, results as text."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal

import pytest

import nbstream
from nbstream.errors import ToolError
from nbstream.tools.function import describe, toolbox


def google(city: str, days: int = 3) -> str:
    """Forecast for a city.

    Args:
        city: The city's name.
        days: How many days ahead.
    """
    return city


def numpy_style(city: str, days: int = 3) -> str:
    """Forecast for a city.

    Parameters
    ----------
    city : str
        The city's name.
    days : int
        How many days ahead.
    """
    return city


def rest_style(city: str, days: int = 3) -> str:
    """Forecast for a city.

    :param city: The city's name.
    :param days: How many days ahead.
    """
    return city


@pytest.mark.parametrize("fn", [google, numpy_style, rest_style], ids=lambda f: f.__name__)
def test_docstring_summary_and_parameter_notes_in_every_style(fn: Any) -> None:
    tool = describe(fn)
    assert tool.description == "Forecast for a city."
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city's name."},
            "days": {"type": "integer", "description": "How many days ahead. Default: 3."},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    assert tool.strict is True
    assert tool.definition()["function"]["strict"] is True


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclasses.dataclass
class Place:
    name: str
    country: str = "FR"


def rich(place: Place, unit: Unit, kind: Literal["rain", "sun"] = "sun") -> str:
    """Rich types."""
    return f"{place.name}/{place.country}/{unit.value}/{kind}"


def test_arguments_arrive_as_the_hinted_types() -> None:
    tool = describe(rich)
    made = tool.call(
        {"place": {"name": "Lyon", "country": "FR"}, "unit": "celsius", "kind": "rain"}
    )
    assert made == "Lyon/FR/celsius/rain"


def test_an_unannotated_parameter_takes_its_defaults_type() -> None:
    def f(n=3):  # type: ignore[no-untyped-def]
        """Count."""

    assert describe(f).parameters["properties"]["n"]["type"] == "integer"


def test_a_free_form_dict_is_sent_without_strict() -> None:
    def f(options: dict[str, int]) -> None:
        """Options."""

    tool = describe(f)
    assert tool.strict is False
    assert tool.definition()["function"]["strict"] is False


class DataFrameLike:
    pass


def no_hint(x):  # type: ignore[no-untyped-def]
    return x


def opaque(frame: DataFrameLike) -> None:
    pass


def star(*values: int) -> None:
    pass


@pytest.mark.parametrize(
    ("fn", "says"),
    [
        (no_hint, "tool no_hint: parameter 'x' has no type hint"),
        (opaque, "tool opaque: parameter 'frame': DataFrameLike is not a type"),
        (star, "tool star: parameter 'values' takes any number of values"),
    ],
)
def test_a_function_that_cannot_be_described_names_the_parameter(fn: Any, says: str) -> None:
    with pytest.raises(ToolError) as caught:
        describe(fn)
    assert caught.value.message.startswith(says)
    assert "\n" not in caught.value.message


def test_the_decorator_marks_safe_and_fails_where_the_function_is_defined() -> None:
    @nbstream.tool(safe=True)
    def peek(name: str) -> str:
        """Read a variable."""
        return name

    assert describe(peek).safe is True
    assert describe(google).safe is False
    with pytest.raises(ToolError, match="parameter 'x' has no type hint"):
        nbstream.tool(no_hint)


def test_toolbox_takes_lists_and_refuses_two_tools_of_one_name() -> None:
    assert [t.name for t in toolbox([google, [numpy_style, rest_style], google])] == [
        "google", "numpy_style", "rest_style",
    ]  # fmt: skip
    renamed = nbstream.tool(rest_style, name="google")
    with pytest.raises(ToolError, match="two tools are named 'google'"):
        toolbox([google, renamed])
    with pytest.raises(ToolError, match="is not a function"):
        toolbox(["google"])
