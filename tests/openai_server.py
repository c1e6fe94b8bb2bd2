"""A fake OpenAI chat-completions server on loopback (127.0.0.1, ephemeral port), run in a thread by tests.

    with FakeOpenAI(reply=lambda question, body, i: "... #### 18", key="sk-...") as srv:
        srv.plan("Janet", Action(status=429, headers={"Retry-After": "0"}))   # first request for Janet: 429
        OpenAIBackend(model="m", base_url=srv.base_url, ...)

It speaks POST /v1/chat/completions (choices[].message.content, finish_reason, usage), checks the bearer
key when given one (a wrong key gets a 401 that echoes it, as real servers partly do), and records every
request body and the most requests it ever had in flight at once. Per-question plans inject faults:
each request whose last user message contains `match` takes the next planned Action; when the plan is
used up, requests get the normal reply (a plan with `repeat=True` keeps its last action for ever).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[str, dict, int], str]  # (last user message, request body, choice index) -> text


@dataclass
class Action:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    sleep: float = 0.0  # seconds before answering (past the client's timeout = a timeout)
    text: str | None = None  # None: the server's reply function
    finish: str = "stop"
    html: bool = False  # answer 200 with an HTML page (what a wrong URL often gets)
    hang: bool = False  # accept the request and never answer (until the server closes)
    drop: bool = False  # accept the request, then close the connection without a response


class FakeOpenAI:
    def __init__(self, reply: Reply, *, key: str | None = None, delay: float = 0.0, max_choices: int | None = None) -> None:
        self.reply, self.key, self.delay, self.max_choices = reply, key, delay, max_choices
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.max_in_flight = 0
        self._plans: dict[str, tuple[list[Action], bool]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def plan(self, match: str, *actions: Action, repeat: bool = False) -> None:
        with self._lock:
            self._plans[match] = (list(actions), repeat)

    def clear_plans(self) -> None:
        with self._lock:
            self._plans.clear()

    def count(self, match: str) -> int:
        return sum(match in _last_user(r) for r in self.requests)

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # hung requests end, unanswered
        self._server.shutdown()
        self._server.server_close()

    def _next_action(self, question: str) -> Action:
        with self._lock:
            for match, (actions, repeat) in self._plans.items():
                if match in question and actions:
                    return actions[0] if repeat and len(actions) == 1 else actions.pop(0)
        return Action()

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        question = _last_user(body)
        action = self._next_action(question)
        if action.hang:
            self._closing.wait()
            return None
        if action.drop:
            return "drop"  # type: ignore[return-value]
        time.sleep(self.delay + action.sleep)
        if action.html:
            return 200, {"Content-Type": "text/html"}, {}
        if action.status != 200:
            return action.status, action.headers, {"error": {"message": f"injected HTTP {action.status}", "type": "server_error"}}
        k = body.get("n", 1) if self.max_choices is None else min(body.get("n", 1), self.max_choices)
        texts = [action.text if action.text is not None else self.reply(question, body, i) for i in range(k)]
        choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": action.finish} for i, t in enumerate(texts)]
        usage = {"prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]), "completion_tokens": sum(len(t.split()) + 1 for t in texts)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        resp = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": body["model"], "choices": choices, "usage": usage}
        return 200, {}, resp

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                return None

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path != "/v1/chat/completions":
                    return self._send(404, {}, {"error": {"message": f"no route {self.path}"}})
                got = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if srv.key is not None and got != srv.key:
                    return self._send(401, {}, {"error": {"message": f"Incorrect API key provided: {got}", "type": "invalid_request_error"}})
                if body.get("model") == "no-such-model":
                    return self._send(404, {}, {"error": {"message": "The model `no-such-model` does not exist"}})
                with srv._lock:
                    srv.requests.append(body)
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                try:
                    answer = srv._answer(body)
                    if answer == "drop":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                    elif answer is not None:
                        self._send(*answer)
                finally:
                    with srv._lock:
                        srv.in_flight -= 1

            def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
                html = headers.get("Content-Type") == "text/html"
                data = b"<html><body>Welcome</body></html>" if html else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    if not html:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        return Handler


def _last_user(body: dict[str, Any]) -> str:
    users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""
