"""A small stand-in for the backend (docs/API.md shapes) on a thread: health, model, SSE stream, graph.

It streams a fixed report token by token with a delay, so GUI tests see real streaming over
real HTTP, and it can be told to fail or to stop answering (to test the dead-backend banner).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPORT = (
    "FINDINGS: The heart size is mildly enlarged. There is a small right pleural effusion. "
    "No pneumothorax is seen. IMPRESSION: Cardiomegaly with a small right pleural effusion."
)
TOKEN = "test-token"


class FakeBackend:
    def __init__(
        self, token: str = TOKEN, delay: float = 0.01, ready: bool = True, report: str = REPORT
    ) -> None:
        self.token = token
        self.delay = delay
        self.ready = ready
        self.report = report
        self.redraft: str | None = None  # set: stream ``report``, then finish with this redraft
        self.domain: dict | None = None  # set: the domain check, as an early event and in the answer
        self.requests: list[dict] = []
        self.fail_generation = False
        self.dead = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _json(self, code: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _auth(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    self._json(
                        401, {"detail": "missing or wrong token", "code": "unauthorized", "error_id": None}
                    )
                    return False
                return True

            def _body(self) -> dict:
                n = int(self.headers.get("Content-Length", "0"))
                return json.loads(self.rfile.read(n) or b"{}")

            def do_GET(self):  # noqa: N802
                if outer.dead:
                    self.close_connection = True
                    return
                if self.path == "/v1/health":
                    model = outer.model_info() if outer.ready else None
                    self._json(
                        200,
                        {
                            "status": "ok",
                            "ready": outer.ready,
                            "device": "cpu",
                            "untrained": False,
                            "api": "v1",
                            "model": model,
                            "error": None,
                        },
                    )
                elif self.path == "/v1/model":
                    if self._auth():
                        self._json(
                            200,
                            {
                                **outer.model_info(),
                                "capabilities": {"scanpaths": True, "graph": True, "stream": True},
                                "decoding": {"max_new_tokens": 160, "num_beams": 1, "redraft": 7},
                            },
                        )
                else:
                    self._json(404, {"detail": "not found", "code": "not_found"})

            def do_POST(self):  # noqa: N802
                if outer.dead:
                    self.close_connection = True
                    return
                if not self._auth():
                    return
                body = self._body()
                image = body.get("image", {})
                outer.requests.append(
                    {
                        "path": self.path,
                        "format": image.get("format"),
                        "gaze": body.get("gaze"),
                        "bytes": len(base64.b64decode(image.get("data", ""))),
                    }
                )
                size = outer.image_size
                sp = body.get("gaze") or outer.predicted(size)
                src = "recorded" if body.get("gaze") else "predicted"
                if self.path == "/v1/reports/stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()

                    def ev(name: str, data: dict) -> None:
                        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                        self.wfile.flush()

                    try:
                        ev("scanpath", {"scanpath": sp, "scanpath_source": src})
                        if outer.domain is not None:
                            ev("domain", outer.domain)
                        self.wfile.write(b": keep-alive\n\n")
                        words = outer.report.split(" ")
                        for i, w in enumerate(words):
                            if outer.fail_generation and i == 5:
                                ev(
                                    "error",
                                    {"detail": "model exploded", "code": "internal", "error_id": "abc"},
                                )
                                return
                            ev("token", {"text": w + (" " if i < len(words) - 1 else "")})
                            time.sleep(outer.delay)
                        ev("done", outer.done_body(sp, src, len(words)))
                    except (BrokenPipeError, ConnectionResetError):
                        outer.cancelled += 1
                    self.close_connection = True
                elif self.path == "/v1/reports":
                    self._json(200, outer.done_body(sp, src, len(outer.report.split())))
                elif self.path == "/v1/scanpaths":
                    n = int(body.get("n", 1))
                    self._json(
                        200,
                        {"scanpaths": [outer.predicted(size, k) for k in range(n)], "image_size": list(size)},
                    )
                elif self.path == "/v1/graph":
                    k = len(sp)
                    att = [float(i + 1) for i in range(k)]
                    tot = sum(att)
                    self._json(
                        200,
                        {
                            "scanpath": sp,
                            "scanpath_source": src,
                            "node_attention": [a / tot for a in att],
                            "edges": [[i, i + 1] for i in range(k - 1)],
                            "edge_attention": [1.0] * (k - 1),
                            "edge_types": ["temporal"] * (k - 1),
                            "image_size": list(size),
                        },
                    )
                else:
                    self._json(404, {"detail": "not found", "code": "not_found"})

        self.image_size = (256, 256)
        self.cancelled = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def model_info(self) -> dict:
        return {"name": "fake-bundle", "version": "0.0", "untrained": False, "sha256": "0" * 8}

    def predicted(self, size, k: int = 0) -> list[dict]:
        w, h = size
        return [
            {"x": w * (0.3 + 0.1 * i) % w, "y": h * (0.4 + 0.05 * (i + k)) % h, "duration": 0.2 + 0.05 * i}
            for i in range(5)
        ]

    def done_body(self, sp, src, n) -> dict:
        return {
            "report": self.redraft or self.report,
            "redrafted": self.redraft is not None,
            "findings": [
                {"label": "Cardiomegaly", "probability": 0.91, "place": "", "in_draft": True},
                {"label": "Lung Lesion", "probability": 0.55, "place": "left upper", "in_draft": False},
            ],
            "scanpath": sp,
            "scanpath_source": src,
            "attention": [1 / len(sp)] * len(sp),
            "n_tokens": n,
            "model": self.model_info(),
            "untrained": False,
            "image_size": list(self.image_size),
            "elapsed_s": 0.1,
            **({"domain": self.domain} if self.domain is not None else {}),
        }

    def __enter__(self) -> FakeBackend:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    """Run as a subprocess backend for launcher tests: ``python -m tests.app.fake_backend --port P``."""
    import argparse
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    fb = FakeBackend(token=os.environ.get("GAZE2REPORT_TOKEN", TOKEN))
    fb.server.server_close()
    fb.server = ThreadingHTTPServer(("127.0.0.1", args.port), fb.server.RequestHandlerClass)
    print(f"GAZE2REPORT_BACKEND url=http://127.0.0.1:{args.port}", flush=True)
    fb.server.serve_forever()


if __name__ == "__main__":
    main()
