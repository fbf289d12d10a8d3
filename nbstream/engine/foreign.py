"""Exceptions nbstream did not raise (the SDK's, a library's, a bug): one line and a hint.

Every way a turn reaches the user passes `user_facing` (the session's `chat` and `achat`) or
`unexpected` (the live view), so no foreign exception leaves an output "waiting" or shows a
traceback wall, and none carries a configured key.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ..errors import BadInputError, ConfigError, NbStreamError, UnexpectedError
from ..redact import configured_keys, scrub

F = TypeVar("F", bound=Callable[..., Any])


def unexpected(err: Exception) -> NbStreamError:
    """An exception nbstream did not raise, as one line and a hint (the original stays its
    `__cause__`, for `%tb`)."""
    if isinstance(err, NbStreamError):
        return err
    text = str(err)
    if isinstance(err, UnicodeEncodeError):
        bad = err.object[err.start : err.end]
        return BadInputError(
            f"not sent: the request holds {bad!r}, which cannot be encoded ({err.reason})",
            "remove it: a lone surrogate usually comes from bytes decoded with surrogateescape",
        )
    if isinstance(err, ValueError) and "JSON compliant" in text:
        return BadInputError(
            "not sent: a parameter is NaN or infinite, which JSON cannot carry",
            "give a finite number, e.g. -p temperature=0.5",
        )
    if isinstance(err, ValueError) and "OPENAI_API_VERSION" in text:
        return ConfigError(
            "Azure OpenAI needs an API version, and none is set",
            "set OPENAI_API_VERSION, e.g. %env OPENAI_API_VERSION=2024-10-21",
        )
    line = (text.strip().splitlines() or ["(no message)"])[0][:200]
    return UnexpectedError(
        f"{type(err).__name__}: {line}", "nothing was kept; %tb has the traceback"
    )


def shown(err: BaseException) -> BaseException:
    """What the user gets for `err`: an nbstream error (interrupts stay as they are), with
    every configured key redacted along its whole chain."""
    if isinstance(err, Exception):
        mapped = unexpected(err)
        if mapped is not err:
            mapped.__cause__ = err
        err = mapped
    return scrub(err, configured_keys(None))


def user_facing(function: F) -> F:
    """Decorate a sync or async function so that whatever it raises is `shown(err)`."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await function(*args, **kwargs)
            except BaseException as err:
                if (mapped := shown(err)) is err:
                    raise
                raise mapped from err

        return cast(F, guarded_async)

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except BaseException as err:
            if (mapped := shown(err)) is err:
                raise
            raise mapped from err

    return cast(F, guarded)
