"""Data-scale runs: many one-off requests paced to what the server sustains, resumable.

`pacer` decides how many requests run at once and when the next may start; `jobs` turns a list,
Series or DataFrame and a template into prompts; `scheduler` runs them through the session on
nbstream's loop and records each finished item; `batch` drives a provider's Batch API. Nothing
here displays: the show layer draws the scheduler's `Progress`.
"""
