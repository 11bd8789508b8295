"""Canonical chunks → the Responses API's typed stream events, and the guard for OpenAI's own Responses streams.

The order the SDK's stream helpers accumulate: response.created, response.in_progress, then per output item
response.output_item.added · its parts and deltas · response.output_item.done, one item at a time, and
response.completed (or response.incomplete) with the whole response and its usage; every event numbered by
`sequence_number`. An error once events have gone out is an `error` event followed by `response.failed`.

Parallel tool calls may arrive interleaved (call 0, call 1, call 0 …): the first streams live, later ones are
held until it closes and then sent whole, so every item still opens and closes before the next one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from dialects.responses_encode import (
    call_item,
    envelope,
    message_item,
    new_id,
    reasoning_item,
    responses_usage,
    status_of,
    text_part,
)
from kernel.errors import GatewayError
from kernel.guards.secrets import scrub_marked, unchanged
from kernel.sse import frame

# An upstream's own error event (`event: error`, `response.failed`) may echo the key it was sent.
ERROR_MARK = b"error"


class _Tool:
    __slots__ = ("args", "call_id", "index", "name")

    def __init__(self, call_id: str | None, name: str) -> None:
        self.call_id, self.name = call_id, name
        self.args: list[str] = []
        self.index: int | None = None  # its output_index once opened; None while it waits its turn


class _Events:
    """The stream's state: the numbered events so far, the item open now, the items done."""

    def __init__(self, request: dict | None, model: str | None) -> None:
        self.request, self.model = request, model
        self.rid = new_id()
        self.seq = 0
        self.output: list[dict] = []  # finished items, by output_index
        self.kind: str | None = None  # the open item: "text", "reasoning" or "tool"
        self.text: list[str] = []  # the open text or reasoning item's deltas
        self.tools: dict[int, _Tool] = {}  # canonical tool-call index → its call
        self.current: _Tool | None = None  # the tool call streaming live
        self.waiting: list[_Tool] = []  # tool calls held until the live one closes
        self.usage: dict | None = None
        self.finish: str | None = None

    def event(self, kind: str, payload: dict) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **payload}
        self.seq += 1
        return frame(payload, kind)

    def response(self, status: str, error: dict | None = None) -> dict:
        usage = responses_usage(self.usage) if status != "in_progress" else None
        return envelope(self.request, self.rid, self.model, status, list(self.output), usage, finish=self.finish,
                        error=error)

    def start(self) -> list[bytes]:
        snapshot = self.response("in_progress")
        return [self.event("response.created", {"response": snapshot}),
                self.event("response.in_progress", {"response": snapshot})]

    # -- text and reasoning ----------------------------------------------------------------------------------

    def _item_id(self, kind: str) -> str:
        n = len(self.output)
        return f"msg_{self.rid}_{n}" if kind == "text" else f"rs_{self.rid}_{n}"

    def delta(self, kind: str, text: str) -> list[bytes]:
        out = [] if self.kind == kind else self.open(kind)
        self.text.append(text)
        where = {"item_id": self._item_id(kind), "output_index": len(self.output)}
        if kind == "text":
            out.append(self.event("response.output_text.delta", {**where, "content_index": 0, "delta": text,
                                                                 "logprobs": []}))
        else:
            out.append(self.event("response.reasoning_summary_text.delta", {**where, "summary_index": 0, "delta": text}))
        return out

    def open(self, kind: str) -> list[bytes]:
        out = self.close()
        self.kind, self.text = kind, []
        where = {"output_index": len(self.output)}
        item_id = self._item_id(kind)
        if kind == "text":
            item = {**message_item("", [], "in_progress"), "id": item_id}
            out.append(self.event("response.output_item.added", {**where, "item": item}))
            out.append(self.event("response.content_part.added", {**where, "item_id": item_id, "content_index": 0,
                                                                  "part": text_part("")}))
        else:
            item = {**reasoning_item("", None), "id": item_id}
            out.append(self.event("response.output_item.added", {**where, "item": item}))
            out.append(self.event("response.reasoning_summary_part.added", {
                **where, "item_id": item_id, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}))
        return out

    def close(self) -> list[bytes]:
        """Close the open item, and send any tool calls that waited for it."""
        kind = self.kind
        if kind is None:
            return []
        self.kind = None
        if kind == "tool":
            out = self._close_tool(self.current)
            self.current = None
            for tool in self.waiting:
                out += self._whole_tool(tool)
            self.waiting = []
            return out
        text = "".join(self.text)
        where = {"output_index": len(self.output), "item_id": self._item_id(kind)}
        if kind == "text":
            part = text_part(text)
            item = {**message_item("", [part], status_of(self.finish)), "id": where["item_id"]}
            out = [self.event("response.output_text.done", {**where, "content_index": 0, "text": text, "logprobs": []}),
                   self.event("response.content_part.done", {**where, "content_index": 0, "part": part})]
        else:
            item = {**reasoning_item("", text), "id": where["item_id"]}
            out = [self.event("response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}),
                   self.event("response.reasoning_summary_part.done", {
                       **where, "summary_index": 0, "part": {"type": "summary_text", "text": text}})]
        out.append(self.event("response.output_item.done", {"output_index": where["output_index"], "item": item}))
        self.output.append(item)
        return out

    # -- tool calls ------------------------------------------------------------------------------------------

    def tool(self, tc: dict) -> list[bytes]:
        idx = tc.get("index", 0)
        fn = tc.get("function") or {}
        tool = self.tools.get(idx)
        out: list[bytes] = []
        if tool is None:
            tool = self.tools[idx] = _Tool(tc.get("id"), fn.get("name") or "")
            if self.kind == "tool":
                self.waiting.append(tool)
            else:
                out += self._open_tool(tool)
        elif fn.get("name") and not tool.name:
            tool.name = fn["name"]
        args = fn.get("arguments")
        if args:
            tool.args.append(args)
            if tool is self.current:
                out.append(self.event("response.function_call_arguments.delta", {
                    "item_id": self._call(tool)["id"], "output_index": tool.index, "delta": args}))
            elif tool.index is not None and tool.index < len(self.output):
                # A delta for a call already closed (text came between): its final item still gets it.
                self.output[tool.index] = self._call(tool, "completed")
        return out

    def _call(self, tool: _Tool, status: str = "in_progress") -> dict:
        return call_item(self.rid, tool.index, tool.call_id, tool.name, "".join(tool.args) or "", status)

    def _open_tool(self, tool: _Tool) -> list[bytes]:
        out = self.close()
        tool.index = len(self.output)
        self.kind, self.current = "tool", tool
        item = {**self._call(tool), "arguments": ""}
        out.append(self.event("response.output_item.added", {"output_index": tool.index, "item": item}))
        return out

    def _close_tool(self, tool: _Tool) -> list[bytes]:
        item = self._call(tool, "completed")
        item["arguments"] = item["arguments"] or "{}"
        self.output.append(item)
        return [self.event("response.function_call_arguments.done", {
                    "item_id": item["id"], "output_index": tool.index, "arguments": item["arguments"],
                    "name": tool.name}),
                self.event("response.output_item.done", {"output_index": tool.index, "item": item})]

    def _whole_tool(self, tool: _Tool) -> list[bytes]:
        tool.index = len(self.output)
        item = {**self._call(tool), "arguments": ""}
        out = [self.event("response.output_item.added", {"output_index": tool.index, "item": item})]
        if tool.args:
            out.append(self.event("response.function_call_arguments.delta", {
                "item_id": item["id"], "output_index": tool.index, "delta": "".join(tool.args)}))
        return out + self._close_tool(tool)

    # -- the end ---------------------------------------------------------------------------------------------

    def end(self) -> list[bytes]:
        out = self.close()
        status = status_of(self.finish)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self.event(kind, {"response": self.response(status)}))
        return out

    def failed(self, err: GatewayError) -> list[bytes]:
        code = "rate_limit_exceeded" if err.status == 429 else ("server_error" if err.status >= 500 else err.code)
        return [self.event("error", {"code": err.code or err.type, "message": err.message, "param": err.param}),
                self.event("response.failed", {"response": self.response(
                    "failed", {"code": code or "server_error", "message": err.message})})]


async def encode_stream(chunks: AsyncIterator[dict], request: dict | None, model: str | None,
                        scrub: Callable[[bytes], bytes] = unchanged) -> AsyncIterator[bytes]:
    """Canonical chunks → Responses events; `request` is the client's body (echoed in the response objects)."""
    events = _Events(request, model)
    started = False
    try:
        async for chunk in chunks:
            out: list[bytes] = []
            if not started:
                started = True
                events.model = chunk.get("model") or model
                out += events.start()
            if chunk.get("usage"):
                events.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue  # a response is one answer
                delta = choice.get("delta") or {}
                thinking = delta.get("reasoning_content") or delta.get("reasoning")
                if thinking and isinstance(thinking, str):
                    out += events.delta("reasoning", thinking)
                text = delta.get("content") or delta.get("refusal")
                if text:
                    out += events.delta("text", text)
                for tc in delta.get("tool_calls") or ():
                    out += events.tool(tc)
                if choice.get("finish_reason"):
                    events.finish = choice["finish_reason"]
            if out:
                yield b"".join(out)
    except GatewayError as err:
        if not started:
            raise  # nothing sent yet: the client gets an ordinary error response with its status
        yield scrub(b"".join(events.failed(err)))
        return
    if not started:
        yield b"".join(events.start())
    yield b"".join(events.end())


async def guard_native(chunks: AsyncIterator[bytes], scrub: Callable[[bytes], bytes] = unchanged) -> AsyncIterator[bytes]:
    """OpenAI's own Responses stream, passed through untouched but for its error events, which are scrubbed of
    secrets; a failure mid-stream becomes an `error` event numbered after the last one sent."""
    sent = 0  # events passed on: OpenAI numbers its events 0, 1, 2 … one `data:` line each
    try:
        async for chunk in scrub_marked(chunks, ERROR_MARK, scrub):
            sent += chunk.count(b"\ndata:") + chunk.startswith(b"data:")
            yield chunk
    except GatewayError as err:
        if not sent:
            raise
        payload = {"type": "error", "sequence_number": sent, "code": err.code or err.type, "message": err.message,
                   "param": err.param}
        yield b"\n\n" + scrub(frame(payload, "error"))
