"""nbstream's traitlets configuration: every trait is set the IPython way, from `%config` or
an ipython_config.py, and a wrong type is refused before any request."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from nbstream.config import NbStream


def test_every_trait_is_configurable_and_says_what_it_does() -> None:
    traits = NbStream.class_traits(config=True)
    assert set(traits) == set(NbStream.class_trait_names()) - {"config", "parent", "log"}
    assert all(trait.help for trait in traits.values())


def test_an_ipython_config_file_sets_the_traits(tmp_path: Path) -> None:
    (tmp_path / "ipython_config.py").write_text(
        "c.NbStream.model = 'from-file'\nc.NbStream.max_retries = 5\nc.NbStream.persist = False\n"
    )
    loaded = PyFileConfigLoader("ipython_config.py", path=str(tmp_path)).load_config()
    config = NbStream(config=loaded)
    assert (config.model, config.max_retries, config.persist) == ("from-file", 5, False)


def test_percent_config_on_a_live_object_changes_it() -> None:
    # `%config NbStream.x = v` updates the instance's config, which traitlets applies at once.
    config = NbStream()
    config.update_config(Config({"NbStream": {"idle_timeout": 5.0, "cache": "replay"}}))
    assert (config.idle_timeout, config.cache) == (5.0, "replay")


def test_unset_traits_have_the_documented_defaults() -> None:
    config = NbStream()
    assert config.model is None and config.base_url is None and config.cache is None
    timeouts = (config.connect_timeout, config.first_token_timeout, config.idle_timeout)
    assert timeouts == (10, 120, 60)
    assert (config.max_retries, config.api, config.approve, config.offline_fallback) == (
        2, "auto", "ask", True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"), [("max_retries", 2.5), ("idle_timeout", "soon"), ("persist", "no")]
)
def test_a_value_of_the_wrong_type_is_refused(name: str, value: object) -> None:
    with pytest.raises(TraitError, match=name):
        NbStream(**{name: value})
