"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1 for grader tests.

`script(call_index, request_body)` returns what the server does for that call:
  "0.7"                   reply with this text (status 200)
  Status(500)             an error status with an OpenAI-style error body
  Delay(1.0, "0.7")       wait, then reply (a client with a shorter timeout gives up)
  CUT_OFF                 status 200 whose JSON body stops half-way (a proxy that drops the tail)
Every request body is logged in `calls`, in arrival order.
"""
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Status:
    code: int


@dataclass(frozen=True)
class Delay:
    seconds: float
    text: str


CUT_OFF = object()


def _completion(text: str, model: str) -> dict:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class ScriptedChatServer:
    def __init__(self, script):
        self.script = script
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                with server._lock:
                    index = len(server.calls)
                    server.calls.append(body)
                action = server.script(index, body)
                if isinstance(action, Status):
                    return self._send(action.code, {"error": {"message": "scripted failure",
                                                              "type": "server_error"}})
                if action is CUT_OFF:
                    whole = json.dumps(_completion("0.5", body.get("model", ""))).encode()
                    return self._send_bytes(200, whole[:len(whole) // 2])
                if isinstance(action, Delay):
                    time.sleep(action.seconds)
                    action = action.text
                self._send(200, _completion(action, body.get("model", "")))

            def _send(self, code: int, payload: dict):
                self._send_bytes(code, json.dumps(payload).encode())

            def _send_bytes(self, code: int, data: bytes):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval keeps shutdown() from waiting half a second per test.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()


def user_message(body: dict) -> str:
    """The one user message a grading request carries."""
    [message] = body["messages"]
    assert message["role"] == "user"
    return message["content"]


def item_row(body: dict, prompt: str) -> str:
    """What follows `prompt` and its newline: the item row (plus a retry instruction on retries)."""
    content = user_message(body)
    assert content.startswith(prompt + "\n")
    return content[len(prompt) + 1:]
