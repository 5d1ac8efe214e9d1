"""``serve --engine vllm``: a clear one-line refusal where it cannot run; on a CUDA GPU with vLLM,
the same drafts as torch's loop, decoded concurrently (those tests are skipped elsewhere)."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time

import pytest
import torch

from ml.cli import build_parser
from ml.models import vllm_engine
from ml.serve.errors import Busy
from ml.serve.queue import ModelQueue

HAVE_VLLM = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(not HAVE_VLLM, reason="needs a CUDA GPU and the vllm package")


def _serve(argv, monkeypatch):
    monkeypatch.setenv("GAZE2REPORT_TOKEN", "t" * 32)
    parser, _ = build_parser()
    args = parser.parse_args(["serve", *argv])
    return args.func(args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_a_gpu_the_vllm_engine_says_why_in_one_line(monkeypatch, capsys, tmp_path):
    assert _serve(["--engine", "vllm", "--bundle", str(tmp_path), "--port", "0"], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--engine vllm" in err and "CUDA GPU" in err, err


def test_with_a_gpu_but_no_vllm_it_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    assert _serve(["--engine", "vllm", "--bundle", str(tmp_path), "--port", "0"], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vllm extra" in err, err
    with pytest.raises(vllm_engine.VLLMUnavailable, match="vllm package"):
        vllm_engine.VLLMDecoder(tmp_path)


def test_the_vllm_engine_needs_a_bundle(monkeypatch, capsys):
    monkeypatch.setattr(vllm_engine, "unavailable_reason", lambda: None)
    assert _serve(["--engine", "vllm", "--untrained", "--port", "0"], monkeypatch) == 2
    assert "--bundle" in capsys.readouterr().err


def test_a_queue_with_several_workers_runs_their_jobs_at_once():
    async def main():
        q = ModelQueue(capacity=1, workers=3)
        inside, peak, lock = [0], [0], threading.Lock()

        def job():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.2)
            with lock:
                inside[0] -= 1
            return 1

        jobs = [asyncio.ensure_future(q.run(job)) for _ in range(4)]  # 3 running + 1 waiting
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):
            q.admit()
        assert sum(await asyncio.gather(*jobs)) == 4
        q.shutdown()
        return peak[0]

    assert asyncio.run(main()) == 3


@pytest.fixture(scope="module")
def demo_on_gpu():
    from ml.models.bundle import load_bundle

    return load_bundle(None, device="cuda")


_PLAIN = dict(max_new_tokens=60, known_words=False, no_repeat_ngram_size=0, repetition_penalty=1.1, redraft=0)


def _image():
    from ml.cohort.default_case import ensure_default_case
    from ml.imaging import load_image

    return load_image(ensure_default_case() / "image.dcm")


@needs_vllm
@pytest.mark.slow
def test_vllm_drafts_match_the_torch_loop_and_stream(demo_on_gpu):
    from ml.contracts import Decoding
    from ml.models.bundle import load_bundle

    image, dec = _image(), Decoding(**_PLAIN)
    want = demo_on_gpu.generate(image, None, dec, mode="predicted")
    served = vllm_engine.serve_with_vllm(load_bundle(None, device="cuda"), gpu_memory_utilization=0.3)
    pieces = []
    got = served.generate(image, None, dec, on_token=pieces.append, mode="predicted")
    assert served.info()["inference"]["engine"] == "vllm"
    assert "".join(pieces).strip() == got.text
    # bf16 in vLLM vs the torch model: the same report, allowing a late divergence
    n = min(len(want.text), len(got.text)) // 2
    assert got.text[:n] == want.text[:n], (want.text, got.text)
    # concurrent drafts are the same drafts
    results = [None] * 4

    def draft(i):
        results[i] = served.generate(image, None, dec, mode="predicted").text

    threads = [threading.Thread(target=draft, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [got.text] * 4
