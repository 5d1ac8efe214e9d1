"""Decode speed, step by step: transformers' generate() vs our loop, and llama.cpp on the same weights.

The model is the served one (embedded SmolLM2, int4 weight-only; ``--scheme``), the prompt the
drafter's chat prompt given as embeddings (as a bundle's is). Variants run interleaved round after
round, so load from other processes hits all alike; ratios are medians of per-round ratios.

- ``generate`` / ``loop``: greedy, ``--tokens`` new tokens (no end token), tokens/s after the first
  and time to the first token; the loop must give the same tokens (``same_tokens``).
- ``generate_sampled`` / ``loop_sampled``: the redraft's batch (``--samples`` rows sampled from one
  prompt): generate() prefills every row, the loop prefills once and shares the KV cache.
- ``--compile``: a static KV cache and ``torch.compile`` of the one-token step (greedy, no
  processors; ``compile_s`` is the one-off compile time) against the same eager step.
- ``--llama-cpp PYTHON``: llama.cpp (llama-cpp-python in another interpreter) decoding the same
  prompt greedily from the embedded GGUF, timed in the same rounds. Build it outside the project's
  venv, e.g.::

      python -m venv /tmp/llama-venv && CMAKE_ARGS="-DGGML_NATIVE=ON" \\
          /tmp/llama-venv/bin/pip install --no-binary llama-cpp-python llama-cpp-python

Prints JSON with the load average.

    python benchmarks/decode_loop.py [--rounds 3] [--tokens 60] [--samples 7] [--threads 1]
        [--compile] [--llama-cpp /tmp/llama-venv/bin/python] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _emit import emit  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_LLAMA = r"""
import json, sys, time
from llama_cpp import Llama
gguf, prompt, tokens, threads, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
llm = Llama(model_path=gguf, n_ctx=1024, n_threads=threads, verbose=False)
ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
for _ in range(rounds):
    sys.stdin.readline()
    llm.reset()
    start = time.perf_counter(); times = []
    for t in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.1, reset=True):
        times.append(time.perf_counter())
        if len(times) == tokens:
            break
    print(json.dumps({"ttft_s": times[0] - start, "tok_per_s": (len(times) - 1) / (times[-1] - times[0])}), flush=True)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--samples", type=int, default=7)
    ap.add_argument("--sample-tokens", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scheme", default="int4", choices=("none", "bf16", "int8", "int4"))
    ap.add_argument("--compile", action="store_true", help="also time a torch.compile'd static-cache step")
    ap.add_argument("--llama-cpp", default=None, metavar="PYTHON", help="an interpreter with llama_cpp")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import numpy as np
    import torch

    from ml.contracts import Decoding
    from ml.models.decode import decode, processors
    from ml.models.drafter import Drafter
    from ml.types import Image

    torch.set_num_threads(args.threads)
    drafter = Drafter.load(None, device="cpu", cpu_scheme=args.scheme)
    model, tok = drafter.model, drafter.tokenizer
    prompt_text = drafter.prompt(Image(np.zeros((8, 8), np.uint16), view_position="PA"))
    ids = tok(prompt_text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        embeds = model.get_input_embeddings()(ids)[0]
    dec = Decoding()
    mask = torch.ones(1, embeds.shape[0], dtype=torch.long)

    class Clock:
        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    def timed(run):
        start = time.perf_counter()
        times, out = run()
        end = time.perf_counter()
        return out, {"ttft_s": times[0] - start, "tok_per_s": (len(times) - 1) / (end - times[0]), "wall_s": end - start}

    def hf_greedy():
        clock = Clock()
        with torch.inference_mode():
            out = model.generate(
                inputs_embeds=embeds[None], attention_mask=mask, max_new_tokens=args.tokens,
                min_new_tokens=args.tokens, do_sample=False, repetition_penalty=dec.repetition_penalty,
                no_repeat_ngram_size=dec.no_repeat_ngram_size, pad_token_id=tok.pad_token_id, streamer=clock,
            )  # fmt: skip
        return clock.times[1:], out[0].tolist()

    def loop_greedy():
        times: list[float] = []
        out = decode(
            model, embeds, args.tokens, [], tok.pad_token_id, processors(dec), on_step=lambda t: times.append(time.perf_counter())
        )
        return times, out[0].tolist()

    def hf_sampled():
        torch.manual_seed(0)
        with torch.inference_mode():
            out = model.generate(
                inputs_embeds=embeds[None], attention_mask=mask, max_new_tokens=args.sample_tokens,
                min_new_tokens=args.sample_tokens, do_sample=True, temperature=0.7, top_k=None, top_p=None,
                num_return_sequences=args.samples, repetition_penalty=dec.repetition_penalty,
                no_repeat_ngram_size=dec.no_repeat_ngram_size, pad_token_id=tok.pad_token_id,
            )  # fmt: skip
        return out

    def loop_sampled():
        torch.manual_seed(0)
        return decode(
            model, embeds, args.sample_tokens, [], tok.pad_token_id, processors(dec, (), 0.7), n=args.samples, sample=True
        )

    step = compiled = None
    result: dict = {"compile": None}
    if args.compile:
        from transformers import StaticCache

        from ml.models.decode import _cache_argument

        kv_name, T = _cache_argument(model), embeds.shape[0]

        def static_run(fwd):
            cache = StaticCache(config=model.config, max_cache_len=T + args.tokens + 1)
            with torch.inference_mode():
                out = model(inputs_embeds=embeds[None], cache_position=torch.arange(T), logits_to_keep=1, **{kv_name: cache})
                nxt = out.logits[:, -1].argmax(-1)
                times, toks = [], []
                for i in range(args.tokens):
                    logits = fwd(input_ids=nxt[:, None], cache_position=torch.tensor([T + i]), **{kv_name: cache}).logits
                    nxt = logits[:, -1].argmax(-1)
                    times.append(time.perf_counter())
                    toks.append(int(nxt))
            return times, toks

        compiled = torch.compile(model.forward, dynamic=False)
        start = time.perf_counter()
        static_run(compiled)
        result["compile"] = {"compile_s": round(time.perf_counter() - start, 1)}
        step = static_run

    llama = None
    if args.llama_cpp:
        gguf = next((Path(model.name_or_path).parent).glob("*.gguf"), None)
        llama = subprocess.Popen(
            [args.llama_cpp, "-c", _LLAMA, str(gguf), prompt_text, str(args.tokens), str(args.threads), str(args.rounds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    rounds = []
    for _ in range(args.rounds):
        row: dict = {}
        a, row["generate"] = timed(hf_greedy)
        b, row["loop"] = timed(loop_greedy)
        row["same_tokens"] = a == b
        start = time.perf_counter()
        hf_sampled()
        row["generate_sampled_s"] = time.perf_counter() - start
        start = time.perf_counter()
        loop_sampled()
        row["loop_sampled_s"] = time.perf_counter() - start
        if step is not None:
            e_start = time.perf_counter()
            e_times, e_toks = step(lambda **kw: model(**kw))
            c_start = time.perf_counter()
            c_times, c_toks = step(compiled)
            row["static_eager_tok_per_s"] = (len(e_times) - 1) / (e_times[-1] - e_times[0])
            row["static_compiled_tok_per_s"] = (len(c_times) - 1) / (c_times[-1] - c_times[0])
            row["compiled_same_tokens"] = e_toks == c_toks
            del e_start, c_start
        if llama is not None:
            llama.stdin.write("go\n")
            llama.stdin.flush()
            row["llama_cpp"] = json.loads(llama.stdout.readline())
        rounds.append(row)

    def med(f):
        return round(statistics.median(f(r) for r in rounds), 3)

    summary = {
        "generate_tok_per_s": med(lambda r: r["generate"]["tok_per_s"]),
        "loop_tok_per_s": med(lambda r: r["loop"]["tok_per_s"]),
        "loop_vs_generate_tok_per_s": med(lambda r: r["loop"]["tok_per_s"] / r["generate"]["tok_per_s"]),
        "generate_ttft_s": med(lambda r: r["generate"]["ttft_s"]),
        "loop_ttft_s": med(lambda r: r["loop"]["ttft_s"]),
        "same_tokens": all(r["same_tokens"] for r in rounds),
        "sampled_generate_s": med(lambda r: r["generate_sampled_s"]),
        "sampled_loop_s": med(lambda r: r["loop_sampled_s"]),
        "sampled_speedup": med(lambda r: r["generate_sampled_s"] / r["loop_sampled_s"]),
    }
    if step is not None:
        summary["compiled_vs_eager_static_step"] = med(
            lambda r: r["static_compiled_tok_per_s"] / r["static_eager_tok_per_s"]
        )
        summary["compiled_same_tokens"] = all(r["compiled_same_tokens"] for r in rounds)
    if llama is not None:
        llama.wait(timeout=60)
        summary["llama_cpp_tok_per_s"] = med(lambda r: r["llama_cpp"]["tok_per_s"])
        summary["loop_vs_llama_cpp_tok_per_s"] = med(lambda r: r["loop"]["tok_per_s"] / r["llama_cpp"]["tok_per_s"])
        summary["llama_cpp_ttft_s"] = med(lambda r: r["llama_cpp"]["ttft_s"])
    return emit(
        {
            "benchmark": "decode_loop",
            "scheme": args.scheme,
            "threads": args.threads,
            "tokens": args.tokens,
            "samples": args.samples,
            "sample_tokens": args.sample_tokens,
            "prompt_tokens": int(embeds.shape[0]),
            "summary": summary,
            **result,
            "rounds": rounds,
            "load_average": os.getloadavg(),
            "cpu_count": os.cpu_count(),
        },
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
