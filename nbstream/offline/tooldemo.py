"""The offline server's tool demo: a request that offers tools gets a call, then an answer.

Any demo model reacts to `tools`: while the last message is not a tool result it calls the first
offered tool (the first `tool_calls` tools, in parallel, when that option asks), with arguments
built from the tool's schema (or `tool_arguments` as given); once the results are in, it answers
with what the tools returned. Fault models misbehave in a tool loop:

    fault-tool-bad-json    its first call's arguments are not JSON
    fault-tool-unknown     it calls a tool nobody offered
    fault-tool-loop        it calls the tool again after every result, forever

The history is checked as OpenAI checks it: a `tool` message must answer a call of the assistant
message before it (`check_tool_messages`, a 400 otherwise).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .replies import dumps, tokenize
from .requests import Refusal

_PIECE = 12  # characters of arguments per streamed delta


def tool_deltas(body: Mapping[str, Any], opts: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The deltas of a tool-calling reply, or None when this reply should be text."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
    if not tools:
        return None
    model = body.get("model")
    answered = _last_role(body) == "tool"
    if answered and model != "fault-tool-loop":
        return None
    count = max(1, int(opts.get("tool_calls", 1)))
    calls = [_call(tools[i % len(tools)], opts, model, answered) for i in range(count)]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None}]
    for index, (name, arguments) in enumerate(calls):
        ident = f"call_{uuid.uuid4().hex[:12]}"
        head = {"index": index, "id": ident, "type": "function",
                "function": {"name": name, "arguments": ""}}  # fmt: skip
        deltas.append({"tool_calls": [head]})
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": arguments[k : k + _PIECE]}}]}
            for k in range(0, len(arguments), _PIECE)
        ]
    return deltas


def tool_answer(body: Mapping[str, Any]) -> str | None:
    """The answer once tool results are in: what each tool returned (None: no results)."""
    if _last_role(body) != "tool":
        return None
    results: list[str] = []
    for message in reversed(body["messages"]):
        if message.get("role") != "tool":
            break
        results.insert(0, str(message.get("content") or ""))
    said = "; ".join(f"“{r[:200]}”" for r in results)
    return f"The tool said {said}. That is my answer (offline demo)."


def check_tool_messages(messages: list[dict[str, Any]]) -> None:
    """A 400, as OpenAI answers, when a tool message does not follow its call."""
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call = message.get("tool_call_id")
            if call not in open_calls:
                raise Refusal(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceeding message with 'tool_calls' (messages[{index}]).",
                    param=f"messages.[{index}].role",
                )
            open_calls.discard(call)
            continue
        if open_calls:
            raise Refusal(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. Missing: {', '.join(sorted(open_calls))}.",
                param="messages",
            )
        if role == "assistant":
            open_calls = {c.get("id") for c in message.get("tool_calls") or () if c.get("id")}


def responses_messages(items: list[Any]) -> list[dict[str, Any]]:
    """Responses input items as chat messages: function calls and their outputs included."""
    messages: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("role"):
            messages.append(item)
        elif item.get("type") == "function_call":
            function = {"name": item.get("name"), "arguments": item.get("arguments")}
            call = {"id": item.get("call_id"), "type": "function", "function": function}
            last = messages[-1] if messages else {}
            if last.get("role") == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": output}
            )
    return messages


def _last_role(body: Mapping[str, Any]) -> str | None:
    messages = body.get("messages") or []
    return messages[-1].get("role") if messages else None


def _call(
    tool: dict[str, Any], opts: Mapping[str, Any], model: Any, answered: bool
) -> tuple[str, str]:
    function = tool.get("function") or tool  # Chat Completions nests it; Responses does not
    name = str(function.get("name") or "tool")
    if model == "fault-tool-unknown" and not answered:
        return "no_such_tool", "{}"
    if model == "fault-tool-bad-json" and not answered:
        return name, '{"oops": '
    if "tool_arguments" in opts:
        return name, str(opts["tool_arguments"])
    return name, dumps(example(function.get("parameters") or {}))


def example(schema: Mapping[str, Any]) -> Any:
    """A value that fits `schema`: the first choice of an enum, one item of an array."""
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            choices = [c for c in schema[key] if c.get("type") != "null"] or schema[key]
            return example(choices[0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: example(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example(schema.get("items") or {})]
    samples = {"integer": 2, "number": 1.5, "boolean": True, "null": None}
    return samples.get(str(kind), "Paris")


def answer_tokens(body: Mapping[str, Any]) -> list[str] | None:
    """The answer's tokens once tool results are in (None: not a tool answer)."""
    text = tool_answer(body)
    return None if text is None else tokenize(text)
