"""nbstream's exceptions: one line that names the cause, one hint that names the fix.

    NbStreamError
    ├── ConfigError            no key, bad setting            (before any request)
    ├── KeyInRequestError      an API key inside what would be sent (nothing is sent)
    ├── BadInputError          a prompt or parameter that cannot be encoded (nothing is sent)
    ├── UnexpectedError        an exception nbstream did not raise itself (SDK, a bug)
    ├── RequestError           the server refused the request (before any token)
    │   ├── AuthError            401 / 403
    │   ├── ModelNotFoundError   404 (or a 400 saying so); lists what the server offers
    │   ├── RateLimitError       429 after the allowed retries
    │   └── BadResponseError     200 that is not a chat completion (HTML login page ...)
    ├── ConnectError           refused, DNS, connect timeout, 5xx after retries
    ├── ReplyTimeoutError      no first token / no data within the configured time
    ├── StreamError            the stream broke after tokens arrived; `.result` keeps them
    │   └── IncompleteError      it ended without a finish (connection lost, stopped reasoning)
    ├── ThreadBusyError        a turn is already running on that conversation thread
    ├── StateFileError         a conversation file that cannot be read
    ├── CacheError             a response cache that cannot be used (corrupt, foreign, newer)
    │   └── CacheMissError       strict cache mode: no recorded reply for the request
    ├── ToolError              a function that cannot be offered as a tool (names the parameter)
    └── SchemaError            a typed answer that does not validate (one line, with the path)

`UsageError` from IPython is raised by the magics for mistakes in the cell itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine.result import ChatResult


class NbStreamError(Exception):
    """Base class: `str(err)` is the message, `err.hint` tells the user what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(NbStreamError):
    """A setting is missing or has a bad value."""


class KeyInRequestError(NbStreamError):
    """A configured API key is in the request body (a prompt, history, a parameter); the
    request is refused before anything is sent, so the key never reaches a server's logs."""


class BadInputError(NbStreamError):
    """The prompt or a parameter cannot be sent: a lone surrogate, a NaN in JSON."""


class UnexpectedError(NbStreamError):
    """An exception nbstream did not raise itself; the original is its `__cause__`."""


class RequestError(NbStreamError):
    """The server answered the request with an error before any token."""

    def __init__(self, message: str, hint: str = "", *, status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class AuthError(RequestError):
    """The server rejected the API key (401/403)."""


class ModelNotFoundError(RequestError):
    """The server does not know the model."""

    def __init__(
        self, message: str, hint: str = "", *, models: list[str] | None = None, status: int = 404
    ) -> None:
        super().__init__(message, hint, status=status)
        self.models = models or []


class RateLimitError(RequestError):
    """Still rate limited after the allowed retries; `too_long` when the server asked for a
    wait past `NbStream.max_retry_wait` (asking again soon is pointless)."""

    def __init__(
        self, message: str, hint: str = "", *, status: int | None = None, too_long: bool = False
    ) -> None:
        super().__init__(message, hint, status=status)
        self.too_long = too_long


class BadResponseError(RequestError):
    """The server answered 200 with something that is not a chat completion."""


class ConnectError(NbStreamError):
    """The server could not be reached, or kept failing with 5xx."""


class ReplyTimeoutError(NbStreamError):
    """No first token, or no data between chunks, within the configured time."""


class StreamError(NbStreamError):
    """The stream broke after tokens arrived; the partial reply is in `result`."""

    def __init__(self, message: str, hint: str = "", *, result: ChatResult) -> None:
        super().__init__(message, hint)
        self.result = result


class IncompleteError(StreamError):
    """The reply ended without a finish reason and incomplete replies were not allowed."""


def incomplete_error(result: ChatResult, hint: str) -> IncompleteError:
    """The error that fails a cell (or a call) whose reply is incomplete; it is already shown."""
    cause = result.error or "the stream ended without a finish reason"
    tokens = result.usage.completion_tokens
    return IncompleteError(f"incomplete reply: {cause} after {tokens} tokens", hint, result=result)


class ThreadBusyError(NbStreamError):
    """Two turns at once on one conversation thread would interleave its history: the second
    in this kernel is refused at once, never queued."""


class StateFileError(NbStreamError):
    """A conversation state file is corrupt, foreign, or from a newer nbstream."""


class CacheError(NbStreamError):
    """The response cache file is corrupt, foreign or newer, or a request cannot be keyed; the
    file is never changed or replaced, so nothing recorded is lost."""


class CacheMissError(CacheError):
    """In strict cache mode, a request that has no recorded reply (nothing was sent)."""


class ToolError(NbStreamError):
    """A function cannot be offered to the model as a tool, or a tool option is unusable."""


class SchemaError(NbStreamError):
    """A reply asked for with `schema=` is not JSON or does not validate. `.result` keeps the
    reply, so its text, usage and cost are not lost with the error."""

    def __init__(self, message: str, hint: str = "", *, result: ChatResult | None = None) -> None:
        super().__init__(message, hint)
        self.result = result
