"""JupyterLab's math pass, ported to Python so that tests can read Markdown the way it does.

JupyterLab 4 and Notebook 7 do not hand a Markdown output to `marked` as it is: `removeMath`
(@jupyterlab/rendermime, latex.ts; checked against the bundle of JupyterLab 4.6) first
swaps every math span it finds for `@@N@@`, recognising code only as one-line spans and
column-0 fences, and `replaceMath` puts the spans back into the HTML with `&`, `<`, `>`
escaped (not quotes). A renderer whose code is not code to this pass, or whose link targets
hold a delimiter, is open to a payload the Markdown parsers alone would never show.
"""

from __future__ import annotations

import re

_MATHSPLIT = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\[()[\]])", re.I
)
_FENCE = re.compile(r"^(?P<fence>`{3,}|(~T){3,})[^`\n]*\n([\s\S]*?)^(?P=fence)`*$", re.M)
_SPAN = re.compile(r"(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)", re.M)


def remove_math(text: str) -> tuple[str, list[str]]:
    """The text with math swapped for `@@N@@`, and the math (escaped, as put back)."""
    if "`" in text or "~~~" in text:
        text = text.replace("~", "~T")
        text = _FENCE.sub(lambda m: m.group(0).replace("$", "~D"), text)
        text = _SPAN.sub(lambda m: m.group(0).replace("$", "~D"), text)

        def detilde(part: str) -> str:
            return re.sub(r"~([TD])", lambda m: "~" if m.group(1) == "T" else "$", part)
    else:

        def detilde(part: str) -> str:
            return part

    math: list[str] = []
    blocks = _MATHSPLIT.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    start: int | None = None
    end: str | None = None
    last: int | None = None
    braces = 0
    i = 1
    while i < len(blocks):
        block = blocks[i]
        if block.startswith("@"):
            blocks[i] = f"@@{len(math)}@@"
            math.append(block)
        elif start is not None:
            if block == end:
                if braces:
                    last = i
                else:
                    _process(start, i, detilde, math, blocks)
                    start = end = last = None
            elif re.search(r"\n.*\n", block):
                if last is not None:
                    i = last
                    _process(start, i, detilde, math, blocks)
                start = end = last = None
                braces = 0
            elif block == "{":
                braces += 1
            elif block == "}" and braces:
                braces -= 1
        elif block in ("$", "$$"):
            start, end, braces = i, block, 0
        elif block in ("\\\\(", "\\\\["):
            start, end, braces = i, "\\\\)" if block.endswith("(") else "\\\\]", 0
        elif block[1:6] == "begin":
            start, end, braces = i, "\\end" + block[6:], 0
        i += 2
    if start is not None and last is not None:
        _process(start, last, detilde, math, blocks)
    return detilde("".join(blocks)), math


def _process(start: int, stop: int, detilde, math: list[str], blocks: list[str]) -> None:
    span = "".join(blocks[start : stop + 1])
    span = span.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for index in range(start + 1, stop + 1):
        blocks[index] = ""
    blocks[start] = f"@@{len(math)}@@"
    math.append(detilde(span))


def replace_math(html: str, math: list[str]) -> str:
    """The rendered HTML with each `@@N@@` replaced by its math, as JupyterLab does."""
    return re.sub(r"@@(\d+)@@", lambda m: math[int(m.group(1))], html)
