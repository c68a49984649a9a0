"""Gemini, OpenAI and Anthropic endpoints on loopback that answer like the real ones, for tests,
benchmarks and offline notebooks: the real ``langchain-google-genai`` and ``langchain-openai``
clients are pointed at them (``TASK_ORCHESTRATOR_GEMINI_BASE_URL`` / ``_OPENAI_BASE_URL``), and
the real Claude Code client at ``FakeAnthropic`` (``ANTHROPIC_BASE_URL``).

Each endpoint can enforce a rate limit the way the providers do (``rpm`` requests per sliding
``window_s``, ``rpd`` a day): a request over it gets the provider's real 429, Gemini's with a
``QuotaFailure`` and a ``RetryInfo`` delay, OpenAI's with ``Retry-After``. Scripted replies
come first, one per request (a request refused for the limit takes none): a string (the
answer) or a fault::

    {"status": 503}                 # an outage (Gemini: UNAVAILABLE, OpenAI: server_error)
    {"rate_limit": 3.0}             # a 429 asking to retry in 3 s
    {"quota": "daily"}              # the day's request quota used up ({"quota": "billing"}: OpenAI's)
    {"malformed": True}             # a 200 whose body is not JSON
    {"sleep": 2.0}                  # answers after 2 s (a timeout for a shorter client timeout)

``stats()`` counts what a provider would: requests, 429s sent, and requests that arrived over
the limit after the first 429 (a client that honours retry delays sends none).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeAnthropic", "FakeGemini", "FakeOpenAI"]


class _Endpoint:
    """The HTTP server, the limiter and the counters; subclasses speak a provider's JSON."""

    default_answer = "done"

    def __init__(
        self,
        replies: list[Any] | None = None,
        *,
        rpm: int | None = None,
        window_s: float = 60.0,
        rpd: int | None = None,
        answer: Callable[[str], str] | None = None,
    ) -> None:
        self.replies = list(replies or [])
        self.answer = answer  # the answer to a request (its JSON body) once the replies are used
        self.rpm, self.window_s, self.rpd = rpm, window_s, rpd
        self.requests: list[dict[str, Any]] = []
        self.accepted: deque[float] = deque()  # arrival times of requests within the limit
        self.accepted_total = 0
        self.sent_429 = 0
        self.first_429_at: float | None = None
        self.over_after_first_429 = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                status, headers, data, pause = fake._answer(self.path, body)
                if pause:
                    time.sleep(pause)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- the limiter --------------------------------------------------------------------------
    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes, float]:
        now = time.time()
        with self.lock:
            self.requests.append(body)
            if self.replies and isinstance(self.replies[0], dict):
                return self._fault(self.replies.pop(0), body, now)
            while self.accepted and self.accepted[0] <= now - self.window_s:
                self.accepted.popleft()
            if self.rpd is not None and self.accepted_total >= self.rpd:
                return self._limited(body, now, daily=True)
            if self.rpm is not None and len(self.accepted) >= self.rpm:
                return self._limited(body, now, delay=self.accepted[0] + self.window_s - now)
            self.accepted.append(now)
            self.accepted_total += 1
            if self.replies:
                text = str(self.replies.pop(0))
            elif self.answer is not None:
                text = self.answer(json.dumps(body))
            else:
                text = self.default_answer
        return 200, {}, self._ok(body, text), 0.0

    def _limited(self, body: dict[str, Any], now: float, *, daily: bool = False, delay: float = 1.0):
        if self.first_429_at is None:
            self.first_429_at = now
        else:
            self.over_after_first_429 += 1
        self.sent_429 += 1
        return self._rate_limited(body, max(0.0, delay), daily)

    def _fault(self, reply: dict[str, Any], body: dict[str, Any], now: float):
        if "rate_limit" in reply:
            return self._limited(body, now, delay=float(reply["rate_limit"]))
        if "quota" in reply:
            self.sent_429 += 1
            return self._quota(body, str(reply["quota"]))
        if "status" in reply:
            return self._server_error(int(reply["status"]))
        if reply.get("malformed"):
            return 200, {}, b'{"candidates": [{"content": {"parts": [', 0.0
        self.accepted_total += 1
        return 200, {}, self._ok(body, str(reply.get("text", "slow answer"))), float(reply.get("sleep", 0))

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": len(self.requests),
                "answered": self.accepted_total,
                "sent_429": self.sent_429,
                "over_limit_after_first_429": self.over_after_first_429,
            }

    # -- provider dialects ----------------------------------------------------------------------
    def _ok(self, body: dict[str, Any], text: str) -> bytes:
        raise NotImplementedError

    def _rate_limited(self, body: dict[str, Any], delay: float, daily: bool):
        raise NotImplementedError

    def _quota(self, body: dict[str, Any], kind: str):
        raise NotImplementedError

    def _server_error(self, status: int):
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"


def _dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()


class FakeGemini(_Endpoint):
    """``models/{model}:generateContent`` of the Gemini API (``v1beta``), as Google AI Studio
    keys see it. ``url`` is the base URL for ``ChatGoogleGenerativeAI(base_url=...)``."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _ok(self, body: dict[str, Any], text: str) -> bytes:
        return _dump(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": text}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 20, "totalTokenCount": 70},
                "modelVersion": "gemini-2.5-flash",
            }
        )

    def _error(
        self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> bytes:
        err: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details:
            err["details"] = details
        return _dump({"error": err})

    def _rate_limited(self, body: dict[str, Any], delay: float, daily: bool):
        per = "Day" if daily else "Minute"
        limit = self.rpd if daily else self.rpm
        seconds = int(delay) if not daily else 40  # whole seconds, as Google writes it
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": _METRIC,
                        "quotaId": f"GenerateRequestsPer{per}PerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                        "quotaValue": str(limit or 0),
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"},
        ]
        message = (
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
            f"Please retry in {delay:.6f}s."
        )
        return 429, {}, self._error(429, "RESOURCE_EXHAUSTED", message, details), 0.0

    def _quota(self, body: dict[str, Any], kind: str):
        return self._rate_limited(body, 40.0, daily=True)

    def _server_error(self, status: int):
        names = {500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
        message = "The model is overloaded. Please try again later." if status == 503 else "Internal error"
        return status, {}, self._error(status, names.get(status, "UNKNOWN"), message), 0.0


class FakeOpenAI(_Endpoint):
    """Chat completions of the OpenAI API. ``url`` is the base URL for ``ChatOpenAI(base_url=...)``."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _ok(self, body: dict[str, Any], text: str) -> bytes:
        return _dump(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "gpt-5-mini"),
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
            }
        )

    def _rate_limited(self, body: dict[str, Any], delay: float, daily: bool):
        model = body.get("model", "gpt-5-mini")
        per, limit = ("requests per day (RPD)", self.rpd) if daily else ("requests per min (RPM)", self.rpm)
        message = (
            f"Rate limit reached for {model} in organization org-fake on {per}: Limit {limit}, "
            f"Used {limit}, Requested 1. Please try again in {delay:.3f}s."
        )
        err = {
            "error": {"message": message, "type": "requests", "param": None, "code": "rate_limit_exceeded"}
        }
        headers = {"retry-after": f"{max(1, round(delay))}", "retry-after-ms": f"{int(delay * 1000)}"}
        return 429, headers, _dump(err), 0.0

    def _quota(self, body: dict[str, Any], kind: str):
        if kind == "billing":
            message = "You exceeded your current quota, please check your plan and billing details."
            err = {
                "error": {
                    "message": message,
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            }
            return 429, {}, _dump(err), 0.0
        return self._rate_limited(body, 3600.0, daily=True)

    def _server_error(self, status: int):
        err = {"error": {"message": f"fake fault {status}", "type": "server_error", "code": None}}
        return status, {}, _dump(err), 0.0


class FakeAnthropic:
    """A scripted Anthropic Messages API, for driving the real Claude Code client offline.

    Each request that offers tools takes the next scripted turn: ``("tool", name, input)`` answers
    with a ``tool_use`` block, ``("tools", [(name, input), ...])`` with several in one turn,
    ``("text", "...")`` with a final text, ``("status", 529)`` with that HTTP error. Requests
    without tools (the client's auxiliary calls) get a short text. Every request body is kept
    for assertions (the tool results the client sends back show what the hooks said).
    """

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
