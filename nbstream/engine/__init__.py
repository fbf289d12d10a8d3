"""The engine: a request in, typed events out, one ChatResult at the end.

It speaks HTTP through the openai SDK on nbstream's own loop thread and knows nothing of IPython,
display or the offline server.
"""
