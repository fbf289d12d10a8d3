"""IPython wiring: `%%chat` and `%chat`, configuration, load and unload."""
