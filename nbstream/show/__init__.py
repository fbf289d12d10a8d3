"""Everything the user sees: safe Markdown, live outputs, grids and the chat panel.

The only package that calls `IPython.display` or builds widgets.
"""
