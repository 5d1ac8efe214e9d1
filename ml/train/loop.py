"""The stage loop: batches, optimiser, periodic validation, checkpoints and exact resume.

One loop runs every stage. It uses Hugging Face Accelerate for the device, process group and
gradient sync, so ``python main.py train`` and ``accelerate launch main.py train`` run the same
code on one CPU, one GPU or several. Batches are index lists drawn from a permutation seeded by
(seed, epoch), sharded by process index, so a resumed run sees exactly the batches it would have.
Checkpoints hold only trainable parameters (never the frozen base LLM), optimiser, scheduler
and step, written atomically.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml.models.config import StageConfig

log = logging.getLogger("gaze2report.train")


@dataclass
class Stage:
    """What a stage trains and how one step and one validation batch compute their losses."""

    name: str
    module: nn.Module  # a task module whose forward returns the loss dict; accelerate prepares it
    params: list[nn.Parameter]
    n_train: int  # number of training items
    n_val: int
    # (prepared module, item indices, step) → losses with "loss"; calls module(...) so DDP syncs.
    train_step: Callable[[nn.Module, torch.Tensor, int], dict[str, torch.Tensor]]
    val_step: Callable[[nn.Module, torch.Tensor], dict[str, float]]  # (module, item indices) → metrics
    on_end: Callable[[], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class MetricLog:
    """Append-only JSON lines (one record per logged step/validation), read back for the curves."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def batches_for_epoch(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1):
    """The epoch's batches of item indices for this process (deterministic in seed and epoch)."""
    gen = torch.Generator().manual_seed(seed * 1000 + epoch)
    perm = torch.randperm(n, generator=gen)
    chunks = [perm[i : i + batch_size] for i in range(0, n, batch_size)]
    return chunks[rank::world] if world > 1 else chunks


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def trainable_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """What a checkpoint must restore: the trained parameters and the small modules' buffers
    (BatchNorm statistics, the encoder's input centring), which no optimiser step touches."""
    state = {n: p.detach().cpu().clone() for n, p in net.named_parameters() if p.requires_grad}
    persistent = net.state_dict()
    for n, _ in net.named_buffers():
        if n in persistent and not n.startswith("llm."):
            state[n] = persistent[n].detach().cpu().clone()
    return state


def run_stage(
    stage: Stage,
    cfg: StageConfig,
    net: nn.Module,
    accelerator: Any,
    run_dir: Path,
    metrics: MetricLog,
    seed: int,
    val_every: int,
    val_batches: int,
    ckpt_every: int,
    log_every: int,
    resume: bool,
) -> dict[str, float]:
    """Train one stage to its step budget (or restore it when already complete)."""
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    ckpt_path = run_dir / "checkpoints" / f"{stage.name}.pt"
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    world, rank = accelerator.num_processes, accelerator.process_index
    steps_per_epoch = max(1, math.ceil(math.ceil(stage.n_train / cfg.batch_size) / world))
    total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    if cfg.max_steps:
        total = min(total, cfg.max_steps)

    opt = torch.optim.AdamW(stage.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, max(1, total // 20), total)
    module, opt, sched = accelerator.prepare(stage.module, opt, sched)

    step = 0
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        net.load_state_dict(state["params"], strict=False)
        if state.get("complete"):
            log.info("stage %s: complete in checkpoint, skipped", stage.name)
            return state.get("final", {})
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = int(state["step"])
        torch.set_rng_state(state["rng"])
        log.info("stage %s: resumed at step %d/%d", stage.name, step, total)

    def save(complete: bool, final: dict[str, float] | None = None) -> None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            _save_atomic(
                {
                    "stage": stage.name,
                    "step": step,
                    "total": total,
                    "complete": complete,
                    "final": final or {},
                    "params": trainable_state(net),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                },
                ckpt_path,
            )

    def validate() -> dict[str, float]:
        module.eval()
        vals: dict[str, list[float]] = {}
        with torch.no_grad():
            for b in batches_for_epoch(stage.n_val, cfg.batch_size, seed, 0)[:val_batches]:
                for k, v in stage.val_step(module, b).items():
                    vals.setdefault(k, []).append(float(v))
        module.train()
        out = {k: sum(v) / len(v) for k, v in vals.items()}
        if accelerator.is_main_process and out:
            metrics.write({"stage": stage.name, "step": step, "split": "val", **out, "time": time.time()})
            log.info("stage %s step %d val %s", stage.name, step, _fmt(out))
        return out

    module.train()
    bar = tqdm(
        total=total, initial=step, desc=f"train {stage.name}", disable=not accelerator.is_local_main_process
    )
    last_val: dict[str, float] = {}
    running: dict[str, float] = {}
    t0 = time.time()
    while step < total:
        epoch, offset = divmod(step, steps_per_epoch)
        for b in batches_for_epoch(stage.n_train, cfg.batch_size, seed, epoch, rank, world)[offset:]:
            if step >= total:
                break
            losses = stage.train_step(module, b, step)
            accelerator.backward(losses["loss"])
            if cfg.grad_clip:
                accelerator.clip_grad_norm_(stage.params, cfg.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            for k, v in losses.items():
                running[k] = running.get(k, 0.0) + float(v.detach() if torch.is_tensor(v) else v)
            bar.update(1)
            bar.set_postfix(loss=f"{float(losses['loss'].detach()):.3f}")
            if step % log_every == 0 or step == total:
                n = log_every if step % log_every == 0 else step % log_every
                rec = {k: v / n for k, v in running.items()}
                running = {}
                if accelerator.is_main_process:
                    rec.update(lr=sched.get_last_lr()[0], sec_per_step=(time.time() - t0) / n)
                    metrics.write(
                        {"stage": stage.name, "step": step, "split": "train", **rec, "time": time.time()}
                    )
                    log.info("stage %s step %d/%d train %s", stage.name, step, total, _fmt(rec))
                t0 = time.time()
            if stage.n_val and (step % val_every == 0 or step == total or step % steps_per_epoch == 0):
                last_val = validate()
            if step % ckpt_every == 0 or step % steps_per_epoch == 0:
                save(False)
    bar.close()
    if stage.on_end:
        stage.on_end()
    save(True, last_val)
    return last_val


def _fmt(d: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in d.items())
