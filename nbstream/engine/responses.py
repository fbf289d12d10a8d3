"""OpenAI's Responses API: the request nbstream sends, and its stream events to nbstream's events.

Stateless by default: `store=false` (a notebook's data stays out of the provider's storage
unless the user asks), the history sent as input items, and encrypted reasoning items asked
for (`include`) so that they go back with the next turn. The stream has no `[DONE]`: it ends
with `response.completed`, `response.incomplete` or `response.failed`.
"""

from __future__ import annotations

from typing import Any

from .result import Finish, ReasoningDelta, RefusalDelta, TextDelta, ToolCallDelta, UsageReport
from .wire import Meta, OutputItem, WireEvent, server_error, usage_from

#: Why a `response.incomplete` stopped, in Chat Completions' finish_reason words.
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def request_kwargs(
    model: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any]:
    """The Responses request for a Chat Completions style request: input items, options."""
    params = dict(params)
    reasoning = {
        key: value
        for key, value in (
            ("effort", params.pop("reasoning_effort", None)),
            ("summary", params.pop("reasoning_summary", None)),
        )
        if value is not None
    }
    verbosity = params.pop("verbosity", None)
    text: dict[str, Any] = {} if verbosity is None else {"verbosity": verbosity}
    if "response_format" in params:  # Chat Completions' name; Responses keeps it in text.format
        text["format"] = _text_format(params.pop("response_format"))
    limit = params.pop("max_completion_tokens", params.pop("max_tokens", None))
    if "tools" in params:
        params["tools"] = [_function_tool(tool) for tool in params["tools"]]
    system = [m["content"] for m in messages if m.get("role") in ("system", "developer")]
    kwargs: dict[str, Any] = {
        "model": model,
        "input": input_items(messages),
        "store": params.pop("store", False),
        "include": ["reasoning.encrypted_content"],
        **params,
    }
    if system:
        kwargs["instructions"] = "\n\n".join(str(s) for s in system)
    if reasoning:
        kwargs["reasoning"] = reasoning
    if text:
        kwargs["text"] = text
    if limit is not None:
        kwargs["max_output_tokens"] = limit
    return kwargs


def _text_format(shape: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions `response_format` as a Responses `text.format`."""
    if shape.get("type") != "json_schema":
        return dict(shape)
    return {"type": "json_schema", **shape.get("json_schema", {})}


def input_items(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as Responses input items; an assistant's reasoning items go back before it."""
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            continue  # sent as `instructions`
        if role == "assistant":
            items += [dict(i) for i in message.get("reasoning_items") or ()]
        if role == "tool":
            output = message.get("content") or ""
            items.append({"type": "function_call_output", "call_id": message.get("tool_call_id"),
                          "output": output})  # fmt: skip
            continue
        if role != "assistant" or message.get("content") or not message.get("tool_calls"):
            items.append({"role": role, "content": _content(message.get("content"))})
        items += [_function_call(call) for call in message.get("tool_calls") or ()]
    return items


def _content(content: Any) -> Any:
    """Chat Completions content parts (text, image_url) as Responses input parts."""
    if not isinstance(content, list):
        return content or ""
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            part = {"type": "input_text", "text": part["text"]}
        elif kind == "image_url":
            part = {"type": "input_image", "image_url": part["image_url"]["url"]}
        parts.append(part)
    return parts


def _function_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions tool as the Responses API has it: the function's fields at the top."""
    function = tool.get("function")
    return {"type": "function", **function} if isinstance(function, dict) else tool


def _function_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {"type": "function_call", "call_id": call.get("id"),
            "name": function.get("name"), "arguments": function.get("arguments") or ""}  # fmt: skip


class ResponsesWire:
    """One Responses stream: `feed(event)` per SSE event, as a dict."""

    def __init__(self) -> None:
        self._tools: dict[int, int] = {}  # output_index -> tool call index
        self._summary: tuple[int, int] | None = None  # (output_index, summary_index) last seen

    def feed(self, event: dict[str, Any]) -> list[WireEvent]:
        """The events in one Responses stream event."""
        kind = str(event.get("type", ""))
        if kind in ("response.created", "response.in_progress"):
            return [_meta(event.get("response") or {})]
        if kind == "response.output_text.delta":
            return [TextDelta(event["delta"])] if event.get("delta") else []
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._reasoning(event)
        if kind == "response.refusal.delta":
            return [RefusalDelta(event["delta"])] if event.get("delta") else []
        if kind == "response.output_item.added":
            return self._item_added(event)
        if kind == "response.function_call_arguments.delta":
            index = self._tools.get(event.get("output_index", -1), 0)
            return [ToolCallDelta(index, "", event.get("delta") or "")]
        if kind == "response.output_item.done":
            item = event.get("item") or {}
            return [OutputItem(item)] if item.get("type") == "reasoning" else []
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            return self._ended(kind, event.get("response") or {})
        if kind == "error":
            return [server_error(event.get("error") or event)]
        return []

    def end(self) -> list[WireEvent]:
        """Nothing is held back in this dialect."""
        return []

    def _reasoning(self, event: dict[str, Any]) -> list[WireEvent]:
        delta = event.get("delta") or ""
        where = (event.get("output_index", 0), event.get("summary_index", 0))
        gap = "\n\n" if self._summary is not None and where != self._summary else ""
        self._summary = where
        return [ReasoningDelta(gap + delta)] if delta else []

    def _item_added(self, event: dict[str, Any]) -> list[WireEvent]:
        item = event.get("item") or {}
        if item.get("type") != "function_call":
            return []
        index = self._tools.setdefault(event.get("output_index", 0), len(self._tools))
        arguments = item.get("arguments") or ""
        return [ToolCallDelta(index, item.get("name") or "", arguments, item.get("call_id"))]

    def _ended(self, kind: str, response: dict[str, Any]) -> list[WireEvent]:
        events: list[WireEvent] = [_meta(response)]
        usage = usage_from(response.get("usage"))
        if usage is not None:
            events.append(UsageReport(usage))
        if kind == "response.failed":
            return [*events, server_error(response.get("error") or "the response failed")]
        if kind == "response.incomplete":
            reason = (response.get("incomplete_details") or {}).get("reason") or "incomplete"
            return [*events, Finish(_INCOMPLETE.get(reason, reason))]
        return [*events, Finish("tool_calls" if self._tools else "stop")]


def _meta(response: dict[str, Any]) -> Meta:
    fields = {"id": response.get("id"), "model": response.get("model")}
    fields["created"] = response.get("created_at")
    return Meta({k: v for k, v in fields.items() if v})


def completed_event(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A non-streamed Responses object as the stream events that carry the same reply."""
    events: list[dict[str, Any]] = []
    for index, item in enumerate(response.get("output") or ()):
        added = {**item, "arguments": ""} if item.get("type") == "function_call" else item
        events.append({"type": "response.output_item.added", "output_index": index, "item": added})
        for part in item.get("content") or ():
            kind = {"output_text": "output_text", "refusal": "refusal"}.get(part.get("type"))
            if kind:
                text = part.get("text", part.get("refusal", ""))
                events.append({"type": f"response.{kind}.delta", "delta": text})
        for part in item.get("summary") or ():
            delta = {"output_index": index, "delta": part.get("text", "")}
            events.append({"type": "response.reasoning_summary_text.delta", **delta})
        if item.get("type") == "function_call":
            delta = {"output_index": index, "delta": item.get("arguments", "")}
            events.append({"type": "response.function_call_arguments.delta", **delta})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    status = response.get("status")
    kind = {"incomplete": "response.incomplete", "failed": "response.failed"}.get(status or "")
    return [*events, {"type": kind or "response.completed", "response": response}]
