"""Responses door, stream: chat chunks -> the Responses API's typed events, each numbered.

    response.created · response.in_progress ·
    per message:  output_item.added, content_part.added, output_text.delta..., output_text.done,
                  content_part.done, output_item.done
    per function call: output_item.added, function_call_arguments.delta..., .done, output_item.done
    response.completed (or response.incomplete)        on failure: error, response.failed

Items are sequential, as OpenAI's are: a new item closes the open one. `final` holds the whole
Response once the stream has finished (what the store keeps for `previous_response_id`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.doors.base import sse
from gateway.doors.chunks import ChunkReader
from gateway.doors.responses_request import ResponsesRequest
from gateway.doors.responses_response import (
    call_item,
    item_id,
    message_item,
    response_object,
    response_usage,
    status_of,
    text_part,
)
from gateway.errors import GatewayError
from providers.base import Usage


class ResponsesEncoder(ChunkReader):
    """One answer's event stream (the `StreamEncoder` of `base`)."""

    def __init__(self, req: ResponsesRequest, model: str) -> None:
        super().__init__()
        self.req = req
        self.model = model
        self.created_at = int(time.time())
        self.final: bytes | None = None
        self._seq = 0
        self._output: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None  # the item being streamed
        self._text = ""  # the open message's text so far
        self._calls: dict[int, int] = {}  # chat tool-call index -> output index

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse(kind, orjson.dumps(data))

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self.req, self.model, self.created_at, status=status, **extra)

    def start(self) -> list[bytes]:
        created = self._response("in_progress")
        return [self._event("response.created", response=created),
                self._event("response.in_progress", response=created)]

    def finish(self, usage: Usage | None) -> list[bytes]:
        status, incomplete = status_of(self.finish_reason)
        out = self._close(status)
        counts = response_usage(self.usage(usage))
        final = self._response(status, output=self._output, usage=counts, incomplete=incomplete)
        self.final = orjson.dumps(final)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=final))
        return out

    def error(self, exc: GatewayError) -> bytes:
        code = "rate_limit_exceeded" if exc.status == 429 else "server_error"
        failed = self._response("failed", output=self._output,
                                error={"code": code, "message": exc.message})
        return (self._event("error", code=exc.code, message=exc.message, param=exc.param)
                + self._event("response.failed", response=failed))

    # -- items ------------------------------------------------------------------------------

    def _add(self, item: dict[str, Any]) -> list[bytes]:
        out = self._close("completed")
        self._open = item
        self._output.append(item)
        index = len(self._output) - 1
        out.append(self._event("response.output_item.added", output_index=index,
                               item={**item, "content": []} if "content" in item else dict(item)))
        return out

    def _close(self, status: str) -> list[bytes]:
        item = self._open
        if item is None:
            return []
        self._open = None
        index = len(self._output) - 1
        out = []
        if item["type"] == "message":
            item["content"] = [text_part(self._text)]
            common = {"item_id": item["id"], "output_index": index, "content_index": 0}
            out.append(self._event("response.output_text.done", **common, text=self._text,
                                   logprobs=[]))
            out.append(self._event("response.content_part.done", **common,
                                   part=item["content"][0]))
            self._text = ""
        else:
            out.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                   output_index=index, name=item["name"],
                                   arguments=item["arguments"]))
        item["status"] = status if item["type"] == "message" else "completed"
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        return out

    def text(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or self._open["type"] != "message":
            out = self._add(message_item(item_id("msg"), None, "in_progress"))
            out.append(self._event("response.content_part.added", item_id=self._open_id,
                                   output_index=len(self._output) - 1, content_index=0,
                                   part=text_part("")))
        self._text += text
        out.append(self._event("response.output_text.delta", item_id=self._open_id,
                               output_index=len(self._output) - 1, content_index=0, delta=text,
                               logprobs=[]))
        return out

    @property
    def _open_id(self) -> str:
        return str(self._open["id"]) if self._open else ""

    def tool(self, index: int, fragment: Mapping[str, Any]) -> list[bytes]:
        function = fragment.get("function") or {}
        out: list[bytes] = []
        if index not in self._calls:
            item = call_item(item_id("fc"), fragment.get("id"), function.get("name"), "",
                             "in_progress")
            out = self._add(item)
            self._calls[index] = len(self._output) - 1
        elif self._calls[index] != len(self._output) - 1 or self._open is None:
            self.dropped += 1  # an interleaved fragment: its item is closed
            return []
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            assert self._open is not None
            self._open["arguments"] += arguments
            out.append(self._event("response.function_call_arguments.delta",
                                   item_id=self._open_id, output_index=len(self._output) - 1,
                                   delta=arguments))
        return out
