"""Backend overhead: the default draft through the HTTP service vs plain ``transformers.generate``.

Same model, same prompt, same greedy decoding, in one run. The service runs as a real
``python main.py serve`` subprocess on loopback and is called over SSE (image upload as DICOM,
decode, queue, stream); the baseline is ``model.generate`` in this process with a streamer that
only timestamps tokens. Rounds alternate between the two so shared-CPU noise hits both alike;
the overhead is the median of the per-round ratios. Prints JSON.

    python benchmarks/serve_latency.py [--rounds 5] [--tokens 60] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_case(tmp: Path) -> dict:
    """A 1024² 16-bit DX DICOM: what the GUI sends for a typical radiograph."""
    import numpy as np

    from ml.imaging import write_dx

    yy, xx = np.mgrid[0:1024, 0:1024]
    px = (2000 + 1500 * np.sin(xx / 90.0) * np.cos(yy / 120.0)).astype(np.uint16)
    path = write_dx(px, tmp / "case.dcm", spacing_mm=(0.35, 0.35))
    return {
        "format": "dicom",
        "data": base64.b64encode(path.read_bytes()).decode("ascii"),
        "name": "case.dcm",
    }


def plain_generate(model, tokenizer, prompt: str, decoding) -> dict:
    """``model.generate`` with a streamer that records when each new token arrives."""
    import torch

    class Clock:
        def __init__(self) -> None:
            self.times: list[float] = []
            self.prompt_seen = False

        def put(self, value) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    clock = Clock()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=decoding.max_new_tokens,
            num_beams=1,
            do_sample=False,
            repetition_penalty=decoding.repetition_penalty,
            no_repeat_ngram_size=decoding.no_repeat_ngram_size,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            streamer=clock,
        )
    end = time.perf_counter()
    new = out[0, enc["input_ids"].shape[1] :]
    return _timing(start, clock.times[0], end, len(new), tokenizer.decode(new, skip_special_tokens=True))


def service_generate(url: str, token: str, request: dict) -> dict:
    """One SSE request; time to the first *generated* token (the answer-prefix event is excluded)."""
    import httpx

    first, n_events, done = None, 0, None
    start = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(timeout=600) as c,
        c.stream("POST", f"{url}/v1/reports/stream", json=request, headers=headers) as r,
    ):
        r.raise_for_status()
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "token":
                n_events += 1
                if n_events == 2 and first is None:  # event 1 is the fixed "FINDINGS:" prefix
                    first = time.perf_counter()
            elif line.startswith("data: ") and event == "done":
                done = json.loads(line[6:])
    end = time.perf_counter()
    return _timing(start, first or end, end, done["n_tokens"], done["report"])


def _timing(start: float, first: float, end: float, n: int, text: str) -> dict:
    return {
        "ttft_s": first - start,
        "e2e_s": end - start,
        "tokens": n,
        "tok_per_s": (n - 1) / (end - first) if n > 1 and end > first else float("nan"),
        "text": text,
    }


def start_server(
    token: str, threads: int, cpu_quant: str, tmp: Path, model_args: tuple[str, ...] = ("--untrained",)
) -> tuple[subprocess.Popen, str]:
    """``main.py serve`` on a free loopback port (``model_args``: which model, how many at once)."""
    import httpx

    port_file = tmp / "port"
    env = {**os.environ, "GAZE2REPORT_TOKEN": token}
    cmd = [sys.executable, str(ROOT / "main.py"), "serve", "--port", "0", "--port-file", str(port_file)]
    cmd += [*model_args, "--device", "cpu", "--threads", str(threads), "--cpu-quant", cpu_quant]
    cmd += ["--log-level", "warning"]
    log = open(tmp / "serve.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited: {(tmp / 'serve.log').read_text()}")
        if port_file.exists() and port_file.read_text().strip():
            url = f"http://127.0.0.1:{int(port_file.read_text())}"
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).json()["ready"]:
                    return proc, url
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("serve did not become ready")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1, help="torch threads, the same on both sides")
    ap.add_argument(
        "--cpu-quant", default="int4", choices=("none", "bf16", "int8", "int4"), help="same on both sides"
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()

    import torch

    from ml.contracts import Decoding
    from ml.models.drafter import Drafter
    from ml.serve.images import decode_image
    from ml.serve.schemas import parse_image

    torch.set_num_threads(args.threads)
    token = "bench-" + os.urandom(16).hex()
    decoding = Decoding(max_new_tokens=args.tokens)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        image = default_case(tmp)
        request = {"image": image, "decoding": {"max_new_tokens": args.tokens}}
        drafter = Drafter.load(None, device="cpu", cpu_scheme=args.cpu_quant)  # the model the server loads
        prompt = drafter.prompt(decode_image(parse_image(image), max_pixels=10**8, max_bytes=10**9))
        proc, url = start_server(token, args.threads, args.cpu_quant, tmp)
        try:
            plain_generate(drafter.model, drafter.tokenizer, prompt, decoding)  # warm-up both
            service_generate(url, token, request)
            rounds = []
            for _ in range(args.rounds):
                p = plain_generate(drafter.model, drafter.tokenizer, prompt, decoding)
                s = service_generate(url, token, request)
                rounds.append({"plain": p, "service": s})
        finally:
            proc.terminate()
            proc.wait(30)

    def med(side: str, key: str) -> float:
        return statistics.median(r[side][key] for r in rounds)

    def ratio(key: str) -> float:
        return statistics.median(r["service"][key] / r["plain"][key] for r in rounds)

    same_text = all(
        r["service"]["text"].strip() == ("FINDINGS:" + r["plain"]["text"]).strip() for r in rounds
    )
    result = {
        "benchmark": "serve_latency",
        "case": "1024x1024 uint16 DX DICOM, untrained drafter (SmolLM2-135M-Instruct), greedy",
        "cpu_quant": args.cpu_quant,
        "max_new_tokens": args.tokens,
        "rounds": args.rounds,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "load_avg_1m": os.getloadavg()[0],
        "plain_generate": {k: med("plain", k) for k in ("ttft_s", "tok_per_s", "e2e_s", "tokens")},
        "service_sse": {k: med("service", k) for k in ("ttft_s", "tok_per_s", "e2e_s", "tokens")},
        "ratio_service_over_plain": {k: ratio(k) for k in ("ttft_s", "e2e_s", "tok_per_s")},
        "e2e_overhead_pct": 100.0 * (ratio("e2e_s") - 1.0),
        "identical_text": same_text,
    }
    result["within_10pct"] = result["e2e_overhead_pct"] <= 10.0
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
