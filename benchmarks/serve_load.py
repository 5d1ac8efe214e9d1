"""A reading room against one backend: N simulated workstations drafting at once on loopback.

One ``python main.py serve`` (the untrained drafter by default, or ``--bundle``; ``--engine`` and
``--concurrency`` are passed on) and, for each N in ``--clients``, N threads that each stream
drafts of the same 1024² DICOM back to back (``/v1/reports/stream``) until each has finished
``--per-client`` drafts or the level's ``--seconds`` have passed. A 429 is counted and the
workstation waits the server's Retry-After (capped at 2 s) before trying again, as the GUI would.
Per N: drafts/min, p50/p95 time to the first generated token and to the whole draft, 429s. JSON.

    python benchmarks/serve_load.py [--clients 1,2,4,8,16] [--per-client 2] [--seconds 120]
        [--tokens 60] [--threads 1] [--bundle DIR] [--engine torch|vllm] [--concurrency N]
        [--queue 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from serve_latency import default_case, start_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_draft(client, url: str, token: str, request: dict) -> dict:
    """One streamed draft: status, time to the first generated token, to the end, Retry-After."""
    start = time.perf_counter()
    first, n_tokens = None, 0
    headers = {"Authorization": f"Bearer {token}"}
    with client.stream("POST", f"{url}/v1/reports/stream", json=request, headers=headers) as r:
        if r.status_code != 200:
            r.read()
            return {"status": r.status_code, "retry_after": float(r.headers.get("Retry-After", "1"))}
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "token":
                n_tokens += 1
                if n_tokens == 2 and first is None:  # event 1 is the untrained drafter's fixed prefix
                    first = time.perf_counter()
            elif line.startswith("data: ") and event in ("done", "error"):
                end = time.perf_counter()
                ok = event == "done"
                return {
                    "status": 200 if ok else 500,
                    "ttft_s": (first or end) - start,
                    "e2e_s": end - start,
                    "tokens": json.loads(line[6:]).get("n_tokens", 0) if ok else 0,
                }
    return {"status": 599}


def level(url: str, token: str, request: dict, clients: int, per_client: int, seconds: float) -> dict:
    import httpx

    deadline = time.monotonic() + seconds
    results: list[dict] = []
    lock = threading.Lock()

    def workstation() -> None:
        done = 0
        with httpx.Client(timeout=max(seconds, 60) * 2) as client:
            while done < per_client and time.monotonic() < deadline:
                out = one_draft(client, url, token, request)
                with lock:
                    results.append(out)
                if out["status"] == 429:
                    time.sleep(min(out["retry_after"], 2.0))
                else:
                    done += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=workstation) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ok = [r for r in results if r["status"] == 200]

    def pct(key: str, q: float) -> float | None:
        values = sorted(r[key] for r in ok)
        if not values:
            return None
        return round(values[min(len(values) - 1, int(q * len(values)))], 3) if q < 1 else values[-1]

    return {
        "clients": clients,
        "drafts": len(ok),
        "wall_s": round(wall, 2),
        "drafts_per_min": round(60 * len(ok) / wall, 2),
        "ttft_p50_s": round(statistics.median(r["ttft_s"] for r in ok), 3) if ok else None,
        "ttft_p95_s": pct("ttft_s", 0.95),
        "draft_p50_s": round(statistics.median(r["e2e_s"] for r in ok), 3) if ok else None,
        "draft_p95_s": pct("e2e_s", 0.95),
        "http_429": sum(r["status"] == 429 for r in results),
        "errors": sum(r["status"] not in (200, 429) for r in results),
        "load_average": os.getloadavg(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,2,4,8,16", help="workstation counts, comma-separated")
    ap.add_argument("--per-client", type=int, default=2, help="drafts each workstation asks for per level")
    ap.add_argument("--seconds", type=float, default=120, help="time cap per level")
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1, help="the backend's torch threads")
    ap.add_argument("--cpu-quant", default="int4", choices=("none", "bf16", "int8", "int4"))
    ap.add_argument("--bundle", type=Path, default=None, help="a bundle (default: the untrained drafter)")
    ap.add_argument("--engine", default="torch", choices=("torch", "vllm"))
    ap.add_argument("--concurrency", type=int, default=None)
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    token = "bench-" + os.urandom(16).hex()
    model_args = ["--bundle", str(args.bundle)] if args.bundle else ["--untrained"]
    model_args += ["--engine", args.engine, "--queue", str(args.queue)]
    if args.concurrency:
        model_args += ["--concurrency", str(args.concurrency)]
    levels = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        request = {"image": default_case(tmp), "decoding": {"max_new_tokens": args.tokens, "redraft": 0}}
        proc, url = start_server(token, args.threads, args.cpu_quant, tmp, tuple(model_args))
        try:
            level(url, token, request, 1, 1, args.seconds)  # warm-up
            for n in (int(x) for x in args.clients.split(",")):
                levels.append(level(url, token, request, n, args.per_client, args.seconds))
        finally:
            proc.terminate()
            proc.wait(30)
    return emit(
        {
            "benchmark": "serve_load",
            "model": str(args.bundle) if args.bundle else "untrained drafter (SmolLM2-135M-Instruct)",
            "engine": args.engine,
            "cpu_quant": args.cpu_quant,
            "threads": args.threads,
            "queue": args.queue,
            "max_new_tokens": args.tokens,
            "per_client": args.per_client,
            "seconds_cap": args.seconds,
            "cpu_count": os.cpu_count(),
            "levels": levels,
        },
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
