"""Every failure of a request, turned into an nbstream error with a hint; and retry waits."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any

from ..errors import (
    AuthError,
    ConnectError,
    ModelNotFoundError,
    NbStreamError,
    RateLimitError,
    RequestError,
)
from ..settings import Settings
from .clients import list_models, openai

RETRYABLE = {408, 409, 429, 500, 502, 503, 504}


def as_sdk_error(err: Exception, request: Any) -> Exception:
    """The SDK's error for an HTTP library error; openai 1.x lets these escape mid-stream."""
    if type(err).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore"):
        return err
    if "Timeout" in type(err).__name__:
        return openai.APITimeoutError(request=request)
    return openai.APIConnectionError(message=str(err), request=request)


def rejects_stream_options(err: openai.APIStatusError) -> bool:
    return err.status_code in (400, 422) and "stream_options" in str(err.body or err.message)


def retry_wait(err: openai.APIError, attempt: int) -> float:
    response = getattr(err, "response", None)
    headers = response.headers if response is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        stated = retry_after(headers.get(name), scale)
        if stated is not None:
            return stated
    return min(0.5 * 2**attempt, 8.0) * (0.75 + random.random() / 2)


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


def server_message(err: openai.APIError, settings: Settings) -> str:
    body = getattr(err, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
    if not message:
        response = getattr(err, "response", None)
        message = (response.text if response is not None else "") or err.message
    return settings.redact(" ".join(str(message).split()))[:300]


def short_cause(err: openai.APIError, settings: Settings) -> str:
    status = getattr(err, "status_code", None)
    if status is not None:
        return f"{status} from {settings.host}"
    return "connect timeout" if isinstance(err, openai.APITimeoutError) else "cannot connect"


async def translate(err: openai.APIError, settings: Settings, attempts: int) -> NbStreamError:
    host, tries = settings.host, f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(err, openai.APITimeoutError):
        return ConnectError(
            f"timed out connecting to {host}{tries}",
            f"is the server up? timeouts: connect {settings.connect_timeout:g} s, "
            f"idle {settings.idle_timeout:g} s (NbStream.connect_timeout)",
        )
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err
        return ConnectError(
            f"cannot connect to {settings.base_url or host}{tries}: "
            f"{settings.redact(str(cause)) or type(cause).__name__}",
            "is the server running? check OPENAI_BASE_URL / NBSTREAM_BASE_URL",
        )
    assert isinstance(err, openai.APIStatusError)
    status, message = err.status_code, server_message(err, settings)
    head = f"{status} from {host}{tries}: {message}"
    if status in (401, 403):
        return AuthError(head, "check OPENAI_API_KEY (or the key you passed)", status=status)
    if status == 404:
        models = await list_models(settings)
        hint = f"this server offers: {', '.join(models[:20])}" if models else "check the model name"
        return ModelNotFoundError(head, hint + "; choose one with -m NAME", models=models)
    if status == 429:
        return RateLimitError(head, "wait and retry, or lower the request rate", status=status)
    if status == 413:
        return RequestError(head, "the prompt is too long: shorten it", status=status)
    if status >= 500:
        return ConnectError(head, "the server is failing; try again later")
    return RequestError(head, "the server rejected a parameter of the request", status=status)
