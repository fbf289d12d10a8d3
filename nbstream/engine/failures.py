"""Every failure of a request, turned into an nbstream error with a hint; and retry waits."""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import (
    AuthError,
    ConnectError,
    ModelNotFoundError,
    NbStreamError,
    RateLimitError,
    ReplyTimeoutError,
    RequestError,
)
from ..redact import configured_keys, scrub
from ..settings import OPENAI_URL, Settings
from .clients import list_models, openai
from .result import Event, Retrying

RETRYABLE = {408, 409, 429, 500, 502, 503, 504}
# Said by OpenAI for models it serves only on /v1/responses (o1-pro, codex-mini, gpt-5-pro).
_RESPONSES_ONLY = re.compile(r"(?i)only supported in v1/responses|use the responses api")
# Unknown models answered with 400 (LiteLLM, OpenRouter) or with another wording than OpenAI's.
_UNKNOWN_MODEL = re.compile(
    r"(?i)invalid model name|is not a valid model|model[^.]{0,80}(?:does not exist|not found)"
    r"|no such model|unknown model|model_not_found"
)
# What resolvers say when a name cannot be looked up (glibc, musl, macOS, Windows).
_NO_DNS = re.compile(
    r"(?i)name or service not known|name resolution|nodename nor servname|getaddrinfo|"
    r"no address associated|11001"
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def as_sdk_error(err: Exception, request: Any) -> Exception:
    """The SDK's error for an HTTP library error; openai 1.x lets these escape mid-stream."""
    if type(err).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore"):
        return err
    if "Timeout" in type(err).__name__:
        return openai.APITimeoutError(request=request)
    return openai.APIConnectionError(message=str(err), request=request)


def rejects_stream_options(err: openai.APIStatusError) -> bool:
    """The server refused the `stream_options` parameter (it then sends no usage)."""
    return err.status_code in (400, 422) and "stream_options" in str(err.body or err.message)


def responses_only(err: openai.APIStatusError) -> bool:
    """The server serves this model on /v1/responses only: not an unknown model."""
    return err.status_code in (400, 404) and bool(_RESPONSES_ONLY.search(_body_text(err)))


def unknown_model(err: openai.APIStatusError) -> bool:
    """A 404, or a 400 whose body says the model is unknown (LiteLLM, OpenRouter)."""
    if responses_only(err):
        return False
    return err.status_code == 404 or (
        err.status_code == 400 and bool(_UNKNOWN_MODEL.search(_body_text(err)))
    )


def _body_text(err: openai.APIStatusError) -> str:
    return f"{err.body or ''} {err.message}"


def retry_wait(err: openai.APIError, attempt: int) -> float:
    """Seconds to wait before retrying: what the server's headers ask, else a back-off."""
    response = getattr(err, "response", None)
    stated = stated_wait(response.headers if response is not None else {})
    return backoff(attempt) if stated is None else stated


def backoff(attempt: int) -> float:
    """Exponential back-off with jitter: about 0.5, 1, 2 ... up to 8 s."""
    return min(0.5 * 2.0**attempt, 8.0) * (0.75 + random.random() / 2)


def stated_wait(headers: Mapping[str, str]) -> float | None:
    """The wait a server asks for: `retry-after-ms`, `retry-after`, LiteLLM's
    `llm_provider-retry-after`, or the reset of the `x-ratelimit-*` bucket that is empty."""
    for name, scale in (
        ("retry-after-ms", 0.001),
        ("retry-after", 1.0),
        ("llm_provider-retry-after", 1.0),
    ):
        stated = retry_after(headers.get(name), scale)
        if stated is not None:
            return stated
    resets = [
        duration(headers.get(f"x-ratelimit-reset-{bucket}"))
        for bucket in ("requests", "tokens")
        if headers.get(f"x-ratelimit-remaining-{bucket}", "").strip() == "0"
    ]
    known = [seconds for seconds in resets if seconds is not None]
    return max(known) if known else None


def duration(value: str | None) -> float | None:
    """Seconds in OpenAI's reset durations ('6m0s', '20ms', '1.5s', '2h3m') or a plain number."""
    if value is None:
        return None
    text = value.strip()
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNITS[u] for n, u in parts)
    return retry_after(text, 1.0)


def retry_after(value: str | None, scale: float) -> float | None:
    """Seconds from a Retry-After(-ms) header: a number or an HTTP date; None if malformed."""
    if value is None:
        return None
    try:
        return max(float(value) * scale, 0.0)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None or scale != 1.0:
        return None
    return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)


def server_message(err: openai.APIStatusError, settings: Settings) -> str:
    """The server's own message for `err`, one line, keys redacted, at most 300 chars."""
    body = err.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else inner
    message = message or err.response.text or err.message
    return settings.redact(" ".join(str(message).split()))[:300]


def short_cause(err: openai.APIError, settings: Settings) -> str:
    """'<status> from <host>', or why no answer came (a timeout, a refused connection)."""
    status = getattr(err, "status_code", None)
    if status is not None:
        return f"{status} from {settings.host}"
    return "connect timeout" if isinstance(err, openai.APITimeoutError) else "cannot connect"


async def translate(err: openai.APIError, settings: Settings, attempts: int) -> NbStreamError:
    """The nbstream error a user sees for an SDK error after `attempts` attempts."""
    host, tries = settings.host, f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(err, openai.APITimeoutError):
        return ConnectError(
            f"timed out connecting to {host}{tries}",
            f"is the server up? timeouts: connect {settings.connect_timeout:g} s, "
            f"idle {settings.idle_timeout:g} s (NbStream.connect_timeout)",
        )
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err
        said = settings.redact(str(cause)) or type(cause).__name__
        return ConnectError(
            f"cannot connect to {settings.base_url or host}{tries}: {said}",
            _connect_hint(settings, said),
        )
    assert isinstance(err, openai.APIStatusError)
    status, message = err.status_code, server_message(err, settings)
    head = f"{status} from {host}{tries}: {message}"
    if status in (401, 403):
        return AuthError(head, "check OPENAI_API_KEY (or the key you passed)", status=status)
    if responses_only(err):
        hint = "the model is served on /v1/responses only: use --api responses or auto"
        return RequestError(head, hint, status=status)
    if status == 404 and _lacks_v1(settings) and not _UNKNOWN_MODEL.search(_body_text(err)):
        hint = f"the base URL has no path: try OPENAI_BASE_URL={settings.base_url}/v1"
        return RequestError(head, hint, status=status)
    if unknown_model(err):
        models = await list_models(settings)
        hint = f"this server offers: {', '.join(models[:30])}" if models else "check the model name"
        return ModelNotFoundError(
            head, hint + "; choose one with -m NAME", models=models, status=status
        )
    if status == 429:
        return RateLimitError(head, "wait and retry, or lower the request rate", status=status)
    if status == 413:
        return RequestError(head, "the prompt is too long: shorten it", status=status)
    if status >= 500:
        return ConnectError(head, "the server is failing; try again later")
    return RequestError(head, "the server rejected a parameter of the request", status=status)


def _connect_hint(settings: Settings, said: str) -> str:
    """Why a connection failed, as far as the error and the host tell."""
    host = urlsplit(settings.azure_endpoint or settings.base_url or OPENAI_URL).hostname or ""
    if host in _LOCAL_HOSTS:
        return "is the server running? check OPENAI_BASE_URL / NBSTREAM_BASE_URL"
    if _NO_DNS.search(said):
        return f"cannot resolve {host}: is there a network and DNS here? (a proxy: HTTPS_PROXY)"
    return f"is there a network route to {host}? check the connection (and HTTPS_PROXY)"


def _lacks_v1(settings: Settings) -> bool:
    """A base URL that is a bare host (http://localhost:8000): OpenAI-compatible servers serve
    under /v1 and answer 404 for every other path."""
    if not settings.base_url or settings.offline:
        return False
    return urlsplit(settings.base_url).path.strip("/") == ""


async def wait_to_retry(
    err: openai.APIError, attempt: int, settings: Settings, emit: Callable[[Event], None]
) -> None:
    """Wait before retrying a request that failed before any token, or raise its error."""
    # httpx and httpx2 both name it so; a read timeout is a silent server, not worth a retry.
    if type(err.__cause__).__name__ == "ReadTimeout":
        raise ReplyTimeoutError(
            f"no data from {settings.host} for {settings.idle_timeout:g} s",
            "the server is slow to answer; raise NbStream.idle_timeout",
        )
    status = getattr(err, "status_code", None)
    retryable = status is None or status in RETRYABLE
    if not retryable or attempt >= settings.max_retries:
        # The SDK's error becomes the context of ours: it holds the body a server may have
        # echoed the key in, and the request with its Authorization header.
        scrub(err, configured_keys(settings.api_key))
        raise await translate(err, settings, attempts=attempt + 1)
    wait = retry_wait(err, attempt)
    if wait > settings.max_retry_wait:
        raise RateLimitError(
            f"{status} from {settings.host}: the server asks to wait {wait:g} s, "
            f"longer than nbstream waits ({settings.max_retry_wait:g} s)",
            "try again later, or raise NbStream.max_retry_wait",
            status=status,
            too_long=True,
        )
    reason = "rate limited" if status == 429 else short_cause(err, settings)
    emit(Retrying(reason, wait, attempt + 1))
    await asyncio.sleep(wait)


async def wait_after_rate_limit(
    message: str, attempt: int, settings: Settings, emit: Callable[[Event], None]
) -> None:
    """An in-band rate-limit error before any token: waited out like a 429, or raised."""
    if attempt >= settings.max_retries:
        raise RateLimitError(
            f"rate limited by {settings.host} after {attempt + 1} attempts: "
            f"{settings.redact(message)}",
            "wait and retry, or lower the request rate",
            status=429,
        )
    wait = backoff(attempt)
    emit(Retrying("rate limited", wait, attempt + 1))
    await asyncio.sleep(wait)
