"""A scripted stand-in for the Anthropic Messages API, on loopback, for driving the real client.

Each request that offers tools takes the next scripted turn: ``("tool", name, input)`` answers
with a ``tool_use`` block, ``("tools", [(name, input), ...])`` with several in one turn,
``("text", "...")`` with a final text, ``("status", 529)`` with that HTTP error. Requests without tools
(the client's auxiliary calls) get a short text. Every request body is kept for assertions
(the tool results the client sends back show what the hooks said).
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeAnthropic:
    def __init__(self, script: list[tuple]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def tool_results(self) -> list[dict[str, Any]]:
        """Every tool_result block the client sent back, in order (deduplicated by id)."""
        seen: dict[str, dict[str, Any]] = {}
        for body in self.requests:
            for msg in body.get("messages", []):
                content = msg.get("content")
                if isinstance(content, list):
                    for block in content:
                        if isinstance(block, dict) and block.get("type") == "tool_result":
                            seen.setdefault(block["tool_use_id"], block)
        return list(seen.values())

    def _next(self, body: dict[str, Any]) -> tuple:
        with self._lock:
            self.requests.append(body)
            if not body.get("tools"):
                return ("text", "ok")
            return self.script.pop(0) if self.script else ("text", "Done.")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.startswith("/v1/messages") or self.path.startswith(
                    "/v1/messages/count_tokens"
                ):
                    self._json({"input_tokens": 10})
                    return
                turn = fake._next(body)
                if turn[0] == "status":  # an API error: ("status", 529) overloaded, 500...
                    err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                    data = json.dumps(err).encode()
                    self.send_response(int(turn[1]))
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                calls = [turn[1:]] if turn[0] == "tool" else list(turn[1]) if turn[0] == "tools" else []
                blocks = [
                    {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": args}
                    for name, args in calls
                ] or [{"type": "text", "text": turn[1]}]
                stop = "tool_use" if calls else "end_turn"
                message = {
                    "id": f"msg_{uuid.uuid4().hex[:20]}",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model", "claude"),
                    "content": blocks,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                }
                if body.get("stream"):
                    self._stream(message)
                else:
                    self._json(message)

            def do_GET(self) -> None:
                self._json({})

            def _json(self, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, message: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.end_headers()

                def event(name: str, data: dict[str, Any]) -> None:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

                event(
                    "message_start",
                    {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}},
                )
                for i, block in enumerate(message["content"]):
                    if block["type"] == "text":
                        event(
                            "content_block_start",
                            {
                                "type": "content_block_start",
                                "index": i,
                                "content_block": {"type": "text", "text": ""},
                            },
                        )
                        event(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "text_delta", "text": block["text"]},
                            },
                        )
                    else:
                        event(
                            "content_block_start",
                            {
                                "type": "content_block_start",
                                "index": i,
                                "content_block": {**block, "input": {}},
                            },
                        )
                        event(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {
                                    "type": "input_json_delta",
                                    "partial_json": json.dumps(block["input"]),
                                },
                            },
                        )
                    event("content_block_stop", {"type": "content_block_stop", "index": i})
                event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                        "usage": {"output_tokens": 5},
                    },
                )
                event("message_stop", {"type": "message_stop"})
                self.wfile.flush()

        return Handler
