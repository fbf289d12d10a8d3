"""The notebook as context: DataFrames, figures, images, files and errors in a prompt.

Pure where it can be (tables, images, files, prompts take values and return text and parts);
`kernel` touches the IPython shell it is handed, and imports no IPython itself.
"""

from __future__ import annotations

from .prompt import Prompt, build

__all__ = ["Prompt", "build"]
