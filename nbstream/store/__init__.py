"""What nbstream keeps on disk: conversation threads, the response cache, replays.

It displays nothing and knows no surface: the show layer renders what it returns.
Blocking I/O: call it from the main thread or an executor, never on nbstream's loop thread.
"""
