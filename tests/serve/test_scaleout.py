"""Real processes and sockets: cancellation over a live connection, and two stateless backends.

Two ``python main.py serve`` processes with the same token and model answer the same request with
the same draft, so any reverse proxy can spread requests over them (docs/API.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import AUTH, TOKEN, FakeModel, raw_image

ROOT = Path(__file__).resolve().parents[2]


def _serve_in_thread(app):
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def test_closing_the_stream_stops_generation_and_frees_the_queue():
    from ml.serve import create_app

    model = FakeModel(block=threading.Event())  # 50 ms per token: 1000 tokens would take 50 s
    server, thread, url = _serve_in_thread(create_app(model, TOKEN))
    try:
        req = {"image": raw_image(), "decoding": {"max_new_tokens": 1000}}
        tokens = 0
        with (
            httpx.Client(timeout=30) as c,
            c.stream("POST", f"{url}/v1/reports/stream", json=req, headers=AUTH) as r,
        ):
            assert r.status_code == 200
            for line in r.iter_lines():
                tokens += line.startswith("event: token")
                if tokens >= 3:
                    break  # leaving the block closes the connection
        assert model.stopped.wait(10), "generation did not notice the client went away"
        for _ in range(100):
            health = httpx.get(f"{url}/v1/health").json()
            if health["queue"]["running"] == 0 and health["queue"]["waiting"] == 0:
                break
            time.sleep(0.05)
        assert health["queue"] == {"running": 0, "waiting": 0, "capacity": 8}
        ok = httpx.post(
            f"{url}/v1/reports", json={**req, "decoding": {"max_new_tokens": 2}}, headers=AUTH, timeout=30
        )
        assert ok.status_code == 200 and ok.json()["report"] == " w0 w1"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_non_streaming_client_that_hangs_up_stops_generation():
    from ml.serve import create_app

    model = FakeModel(block=threading.Event())  # 50 ms per token
    server, thread, url = _serve_in_thread(create_app(model, TOKEN))
    try:
        req = {"image": raw_image(), "decoding": {"max_new_tokens": 1000}}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/reports", json=req, headers=AUTH, timeout=httpx.Timeout(30, read=1.0))
        assert model.stopped.wait(10), "generation went on after the client hung up"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from ml.models.llm import tiny_llm

    out = tmp_path_factory.mktemp("tiny-llm")
    model, tok = tiny_llm(hidden=32, layers=1)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _start(tiny_model_dir: Path, tmp: Path, name: str) -> tuple[subprocess.Popen, Path]:
    port_file = tmp / f"{name}.port"
    env = {**os.environ, "GAZE2REPORT_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(ROOT / "main.py"), "serve", "--port", "0", "--port-file", str(port_file)]
    cmd += ["--untrained", "--llm", str(tiny_model_dir), "--device", "cpu", "--log-level", "warning"]
    log = open(tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), port_file


def _wait_ready(proc: subprocess.Popen, port_file: Path, log: Path, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"backend exited: {log.read_text()}"
        if port_file.exists() and port_file.read_text().strip():
            url = f"http://127.0.0.1:{int(port_file.read_text())}"
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).json()["ready"]:
                    return url
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"backend not ready in {timeout} s: {log.read_text()}")


@pytest.mark.slow  # two interpreters importing torch + transformers on two shared cores
def test_two_backends_behind_one_url_give_identical_drafts(tiny_model_dir, tmp_path):
    procs = [_start(tiny_model_dir, tmp_path, name) for name in ("a", "b")]
    try:
        urls = [_wait_ready(p, f, tmp_path / f"{n}.log") for (p, f), n in zip(procs, "ab", strict=True)]
        assert urls[0] != urls[1]
        health = [httpx.get(f"{u}/v1/health").json() for u in urls]
        assert health[0]["model"] == health[1]["model"]
        assert health[0]["model"]["sha256"]  # the folder's weight hash identifies the model
        req = {"image": raw_image(seed=3), "decoding": {"max_new_tokens": 16}}
        drafts = [httpx.post(f"{u}/v1/reports", json=req, headers=AUTH, timeout=60).json() for u in urls]
        assert drafts[0]["report"] == drafts[1]["report"]
        assert drafts[0]["n_tokens"] == drafts[1]["n_tokens"] > 0
        # each request is independent: alternating between backends changes nothing
        again = httpx.post(f"{urls[1]}/v1/reports", json=req, headers=AUTH, timeout=60).json()
        assert again["report"] == drafts[0]["report"]
        assert httpx.get(f"{urls[0]}/v1/model").status_code == 401
        assert TOKEN not in (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    finally:
        for p, _ in procs:
            p.terminate()
        for p, _ in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
