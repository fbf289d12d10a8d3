"""The panel's copy buttons: built in the browser without parsing HTML, one per panel."""

from __future__ import annotations

from nbstream.show.panel_copy import CodeCopy
from nbstream.show.panel_layout import PanelWidgets


def test_the_button_is_made_with_create_element_and_copies_text_only() -> None:
    script = CodeCopy._esm
    assert 'document.createElement("button")' in script and "textContent" in script
    for parses_html in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval("):
        assert parses_html not in script


def test_each_panel_holds_one_hidden_copier() -> None:
    widgets = PanelWidgets(model="m", model_placeholder="model", on_send=lambda text: None,
                           on_stop=lambda: None, on_new=lambda: None)  # fmt: skip
    copiers = [w for w in widgets.widget.children if isinstance(w, CodeCopy)]
    assert len(copiers) == 1 and copiers[0].layout.display == "none"
