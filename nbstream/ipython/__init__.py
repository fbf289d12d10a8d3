"""IPython wiring: `%%chat` parsing, `%chat` subcommands, configuration, load and unload.

Thin by design: it parses and delegates to the session and the show layer; `extension.load`
is the one place that builds a kernel's session.
"""
