"""Before a run starts, without a server: each item's request key, and the tokens and cost to
expect (FAULTS: a budget without a known price fails before any request)."""

from __future__ import annotations

import pytest

from nbstream.engine.result import estimate_tokens
from nbstream.errors import ConfigError
from nbstream.scale.estimate import (
    ASSUMED_COMPLETION,
    check_budget,
    estimate,
    messages_for,
    request_keys,
)
from nbstream.scale.jobs import jobs_for
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.turn import TurnOptions

from .conftest import SECRET_KEY

JOBS = jobs_for(["alpha", "beta", "gamma"], "Tag {item}")


@pytest.fixture
def session(monkeypatch, tmp_path) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.delenv("NBSTREAM_CACHE", raising=False)
    config = NbStream(base_url="http://127.0.0.1:9/v1", model="priced",
                      prices={"priced": [1.0, 2.0]})  # fmt: skip
    return Session(config, cache=tmp_path / ".nbstream" / "cache.sqlite")


def expect(session: Session, options: TurnOptions, factor: float = 1.0):
    return estimate(session, options, session.settings(options), JOBS, factor)


def test_max_tokens_bounds_the_completion_and_prices_both_sides(session) -> None:
    got = expect(session, TurnOptions(params={"max_tokens": 10}), factor=0.5)
    prompt = sum(estimate_tokens(f"Tag {w}") + 3 for w in ("alpha", "beta", "gamma"))
    assert (got.items, got.prompt_tokens, got.completion_tokens) == (3, prompt, 30)
    assert got.cost == pytest.approx((prompt * 1.0 + 30 * 2.0) / 1e6 * 0.5)
    assert got.tokens_each == (prompt + 30) // 3 and got.cost_each == pytest.approx(got.cost / 3)
    assert got.line() == f"estimate: ~{prompt} prompt + ≤30 completion tokens, ~${got.cost:.4f}"


def test_without_max_tokens_the_line_states_the_assumption(session) -> None:
    got = expect(session, TurnOptions(system="Be brief."))
    assert got.assumed and got.completion_tokens == 3 * ASSUMED_COMPLETION
    assert got.line().endswith(
        f"~{3 * ASSUMED_COMPLETION} completion tokens, ~${got.cost:.4f} "
        f"(assuming {ASSUMED_COMPLETION} a reply: pass max_tokens to bound it)"
    )
    assert got.prompt_tokens > expect(session, TurnOptions()).prompt_tokens  # the system prompt


def test_a_budget_without_a_price_fails_naming_the_model_and_the_fix(session) -> None:
    got = expect(session, TurnOptions(model="unpriced"))
    assert got.cost is None and got.cost_each is None and "price unknown" in got.line()
    with pytest.raises(ConfigError, match="knows none for 'unpriced'") as caught:
        check_budget(got, 1.0, "unpriced")
    assert "NbStream.prices" in caught.value.hint
    check_budget(got, None, "unpriced")
    options = TurnOptions(model="unpriced")
    all_recorded = estimate(session, options, session.settings(options), [])
    check_budget(all_recorded, 1.0, "unpriced")  # nothing left to ask costs nothing
    check_budget(expect(session, TurnOptions()), 1.0, "priced")


def test_request_keys_differ_by_prompt_parameters_and_system_prompt(session) -> None:
    def keys(options: TurnOptions) -> list[str]:
        return request_keys(session, options, session.settings(options), JOBS)

    plain = keys(TurnOptions())
    assert len(set(plain)) == 3 and keys(TurnOptions()) == plain
    assert not set(plain) & set(keys(TurnOptions(params={"temperature": 0})))
    assert not set(plain) & set(keys(TurnOptions(system="Be brief.")))
    assert messages_for(session, TurnOptions(system="S"), "p") == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "p"},
    ]
