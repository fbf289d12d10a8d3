"""`%%chat --insert`: the reply's code as the next cell, or one line saying why not."""

from __future__ import annotations

from nbstream.ipython.insert import code_of, headless, insert_below


class Shell:
    """The two things insert_below uses of an IPython shell, recorded."""

    def __init__(self, kernel: object = None) -> None:
        self.kernel, self.next_input = kernel, None

    def set_next_input(self, text: str) -> None:
        self.next_input = text


class Kernel:
    def __init__(self, allow_stdin: bool) -> None:
        self._parent = {"content": {"allow_stdin": allow_stdin}}

    def get_parent(self) -> dict:
        return self._parent


def test_code_blocks_are_joined_and_prose_is_left_out() -> None:
    reply = "Try this:\n```python\nx = 1\n\n```\nthen\n```\nprint(x)\n```\nDone."
    assert code_of(reply) == "x = 1\n\nprint(x)"
    assert code_of("no code here") is None


def test_the_code_goes_below_and_a_headless_run_is_told_nothing_was_inserted() -> None:
    said: list[str] = []
    browser = Shell(Kernel(allow_stdin=True))
    insert_below(browser, "```\nx = 1\n```", said.append)
    assert browser.next_input == "x = 1" and said == []
    papermill = Shell(Kernel(allow_stdin=False))
    insert_below(papermill, "```\nx = 1\n```", said.append)
    assert said == [
        "nothing inserted: this run has no front end to add a cell to (nbclient, papermill)"
    ]
    insert_below(Shell(), "no code", said.append)
    assert said[-1] == "nothing inserted: the reply has no code block"
    assert not headless(Shell())  # terminal IPython: the code waits at the next prompt
