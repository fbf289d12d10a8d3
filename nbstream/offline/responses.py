"""The offline server's `/v1/responses`: requests as conversations, replies as Responses events.

The event sequence follows OpenAI's streaming reference: `response.created`,
`response.in_progress`, then per output item `response.output_item.added`, its deltas
(`response.reasoning_summary_text.delta`, `response.output_text.delta`,
`response.refusal.delta`, `response.function_call_arguments.delta`) and
`response.output_item.done`, and last `response.completed` or `response.incomplete` with the
usage. No `[DONE]`. Reasoning is summarised only when `reasoning.summary` is asked for, and its
encrypted content is sent only when `include` asks for `reasoning.encrypted_content`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .replies import Op, Reply, Write, dumps
from .tooldemo import responses_messages

_REASONING_KEYS = ("reasoning_content", "reasoning")


def as_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Responses request as the Chat Completions request it amounts to, for the demo text."""
    given = body.get("input")
    items = [{"role": "user", "content": given}] if isinstance(given, str) else given or []
    messages = (
        [{"role": "system", "content": body["instructions"]}] if body.get("instructions") else []
    )
    messages += responses_messages(items)
    limit = body.get("max_output_tokens")
    chat = {
        k: body[k]
        for k in ("model", "temperature", "top_p", "stream", "nbstream", "text", "tools")
        if k in body
    }
    return {**chat, "messages": messages, **({"max_tokens": limit} if limit else {})}


@dataclass
class ResponsesReply:
    """A `Reply` told as Responses events; `summary` and `encrypted` as the request asked."""

    reply: Reply
    summary: bool = False
    encrypted: bool = False
    _seq: int = field(default=0, init=False)

    def event(self, kind: str, **fields: Any) -> bytes:
        """One Responses API SSE event, numbered in sequence."""
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return f"event: {kind}\ndata: {dumps(data)}\n\n".encode()

    def response(self, status: str, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The Responses API `response` object with this status and output."""
        reply = self.reply
        usage = reply.usage()
        details = usage.get("completion_tokens_details", {})
        body: dict[str, Any] = {
            "id": reply.id.replace("chatcmpl-", "resp_"),
            "object": "response",
            "created_at": reply.created,
            "status": status,
            "model": reply.model,
            "output": output or [],
            "usage": None,
        }
        if status != "in_progress":
            body["usage"] = {
                "input_tokens": usage["prompt_tokens"],
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage["completion_tokens"],
                "output_tokens_details": {"reasoning_tokens": details.get("reasoning_tokens", 0)},
                "total_tokens": usage["total_tokens"],
            }
        if status == "incomplete":
            body["incomplete_details"] = {"reason": "max_output_tokens"}
        return body

    def body(self) -> list[Op]:
        """Everything but the final event: one paced write per token."""
        ops: list[Op] = [
            Write(self.event("response.created", response=self.response("in_progress")))
        ]
        ops.append(Write(self.event("response.in_progress", response=self.response("in_progress"))))
        for index, (kind, pieces) in enumerate(self._items()):
            ops += self._item(index, kind, pieces)
        return ops

    def end(self, *, done: bool = True) -> Write:
        """`response.completed` (or `incomplete`), with the output and the usage."""
        status = "incomplete" if self.reply.finish[0] == "length" else "completed"
        output = [
            self._done_item(i, kind, pieces) for i, (kind, pieces) in enumerate(self._items())
        ]
        return Write(self.event(f"response.{status}", response=self.response(status, output)))

    def error(self) -> Write:
        """The stream's `error` event."""
        message = "The model crashed mid-stream (offline fault)."
        return Write(self.event("error", code="server_error", message=message, param=None))

    def whole(self) -> dict[str, Any]:
        """The non-streaming Response object."""
        status = "incomplete" if self.reply.finish[0] == "length" else "completed"
        output = [
            self._done_item(i, kind, pieces) for i, (kind, pieces) in enumerate(self._items())
        ]
        return self.response(status, output)

    def _items(self) -> list[tuple[str, list[Any]]]:
        """The first choice's deltas grouped into output items: reasoning, message, calls."""
        reasoning: list[str] = []
        text: list[str] = []
        refusal: list[str] = []
        calls: dict[int, list[dict[str, Any]]] = {}
        for delta in self.reply.choices[0][1:]:
            piece = next((delta[k] for k in _REASONING_KEYS if delta.get(k)), None)
            if piece is not None:
                reasoning.append(piece)
            if delta.get("content"):
                text.append(delta["content"])
            if delta.get("refusal"):
                refusal.append(delta["refusal"])
            for call in delta.get("tool_calls", ()):
                calls.setdefault(call["index"], []).append(call)
        items: list[tuple[str, list[Any]]] = []
        if reasoning or self.reply.hidden:
            items.append(("reasoning", reasoning))
        if text or refusal:
            items.append(("message", [("output_text", text), ("refusal", refusal)]))
        items += [("function_call", calls[i]) for i in sorted(calls)]
        return items

    def _item(self, index: int, kind: str, pieces: list[Any]) -> list[Op]:
        added = self._done_item(index, kind, pieces, started=True)
        ops: list[Op] = [
            Write(self.event("response.output_item.added", output_index=index, item=added))
        ]
        where = {"item_id": added["id"], "output_index": index}
        if kind == "reasoning" and self.summary:
            ops += [
                self._paced(
                    "response.reasoning_summary_text.delta", **where, summary_index=0, delta=p
                )
                for p in pieces
            ]
        if kind == "message":
            for part, texts in pieces:
                name = "output_text" if part == "output_text" else "refusal"
                ops += [
                    self._paced(f"response.{name}.delta", **where, content_index=0, delta=t)
                    for t in texts
                ]
        if kind == "function_call":
            ops += [
                self._paced(
                    "response.function_call_arguments.delta",
                    **where,
                    delta=c.get("function", {}).get("arguments", ""),
                )
                for c in pieces[1:]
            ]
        done = self._done_item(index, kind, pieces)
        return [*ops, Write(self.event("response.output_item.done", output_index=index, item=done))]

    def _paced(self, kind: str, **fields: Any) -> Write:
        return Write(self.event(kind, **fields), paced=True)

    def _done_item(
        self, index: int, kind: str, pieces: list[Any], *, started: bool = False
    ) -> dict[str, Any]:
        prefix = {"reasoning": "rs", "message": "msg", "function_call": "fc"}[kind]
        ident = f"{prefix}_{self.reply.id[-12:]}{index}"
        if kind == "reasoning":
            item: dict[str, Any] = {"type": "reasoning", "id": ident, "summary": []}
            if self.summary and not started:
                item["summary"] = [{"type": "summary_text", "text": "".join(pieces)}]
            if self.encrypted and not started:
                secret = "".join(pieces).encode() or b"hidden"
                item["encrypted_content"] = base64.b64encode(secret).decode()
            return item
        if kind == "message":
            content = (
                []
                if started
                else [
                    {
                        "type": part,
                        **(
                            {"text": "".join(t), "annotations": []}
                            if part == "output_text"
                            else {"refusal": "".join(t)}
                        ),
                    }
                    for part, t in pieces
                    if t
                ]
            )
            status = "in_progress" if started else "completed"
            return {
                "type": "message",
                "id": ident,
                "status": status,
                "role": "assistant",
                "content": content,
            }
        head = pieces[0]
        arguments = (
            "" if started else "".join(c.get("function", {}).get("arguments", "") for c in pieces)
        )
        return {
            "type": "function_call",
            "id": ident,
            "call_id": head.get("id"),
            "name": head.get("function", {}).get("name", ""),
            "arguments": arguments,
        }
