"""``python main.py serve``: run the backend (one model per process) on loopback by default.

Prints ``GAZE2REPORT_BACKEND url=...`` once listening (and the token once, only when it made
one up). A bundle that fails to load falls back to the untrained drafter, and health says why.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
#: CPU weight format the backend uses unless told otherwise (see ml/models/fastcpu.py).
DEFAULT_CPU_QUANT = "int4"
ENGINES = ("torch", "vllm")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the inference backend (HTTP API, docs/API.md)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    p.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default 8765)")
    p.add_argument("--port-file", type=Path, default=None, help="write the bound port here once listening")
    p.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="trained model bundle folder (default: the demo bundle if built)",
    )
    p.add_argument(
        "--models",
        type=Path,
        default=None,
        help="serve a models folder's current bundle (main.py model promote|rollback), picking up a newly "
        "promoted one without a restart; in place of --bundle",
    )
    p.add_argument("--untrained", action="store_true", help="serve the untrained base-LLM drafter, no bundle")
    p.add_argument(
        "--llm", default=None, help="base LLM for the untrained drafter (default: embedded SmolLM2)"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (needs GAZE2REPORT_TOKEN set)",
    )
    p.add_argument(
        "--cpu-quant",
        choices=("none", "bf16", "int8", "int4"),
        default=DEFAULT_CPU_QUANT,
        help=f"weight format for CPU decoding (default {DEFAULT_CPU_QUANT}; see benchmarks/results/cpu_speedup.json)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: half the cores, so the GUI and OS keep the rest)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="torch",
        help="what decodes: torch (default; fast CPU formats on the CPU) or vllm (a CUDA GPU server: "
        "concurrent drafts batched by vLLM; needs a trained bundle and the vllm extra)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="drafts decoded at once (default 1 for torch, 16 for vllm, which batches them)",
    )
    p.add_argument("--queue", type=int, default=8, help="requests that may wait for the model (default 8)")
    p.add_argument("--max-pixels", type=int, default=36_000_000, help="largest image accepted, in pixels")
    p.add_argument("--max-body-mb", type=int, default=128, help="largest request body, in MiB")
    p.add_argument(
        "--exit-with-parent",
        type=int,
        default=None,
        metavar="PID",
        help="shut down when process PID exits, however it exits (the GUI passes its own pid)",
    )
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_bundle() -> Path | None:
    """The project's demo bundle when it has been built (``assets/demo_bundle``), else None."""
    try:
        from ml.models.bundle import DEMO_BUNDLE
    except ImportError:
        return None
    return DEMO_BUNDLE if (DEMO_BUNDLE / "manifest.json").exists() else None


def make_factory(
    bundle: Path | None,
    llm: str | None,
    device: str,
    cpu_quant: str = "none",
    engine: str = "torch",
    models: Path | None = None,
):
    """A callable that loads the models folder's current bundle, or the bundle, or the drafter (with
    the reason) when there is none."""

    def factory():
        import logging

        from ml.models.drafter import Drafter

        log = logging.getLogger("gaze2report.serve")
        note = ""
        if models is not None:
            from ml.models.promoted import PromotedModel

            def load(path, device):
                return load_served_bundle(path, device, cpu_quant, engine)

            return PromotedModel(models, device, loader=load)  # a folder without a bundle is an error
        if bundle is not None:
            try:
                return load_served_bundle(bundle, device, cpu_quant, engine)
            except Exception as exc:  # any load failure: serve the drafter and say why
                note = f"bundle {bundle} failed to load ({type(exc).__name__}: {exc}); serving the untrained drafter"
                note = note.splitlines()[0]
                log.warning(note)
        return Drafter.load(llm, device=device, note=note, cpu_scheme=cpu_quant)

    return factory


def load_served_bundle(path: Path, device: str, cpu_quant: str = "none", engine: str = "torch"):
    """A bundle as the backend serves it: on the CPU, LoRA merged and the LLM in ``cpu_quant``;
    with the vllm engine, its LLM decoding in vLLM."""
    from ml.models.bundle import load_bundle

    model = load_bundle(path, device)
    if engine == "vllm":
        from ml.models.vllm_engine import serve_with_vllm

        return serve_with_vllm(model)
    if device == "cpu":
        from ml.models.fastcpu import fast_cpu_bundle

        fast_cpu_bundle(model, cpu_quant)
    return model


def bundle_loader(device: str, cpu_quant: str = "none", engine: str = "torch"):
    """What ``POST /v1/admin/bundle`` loads a bundle with (a ``BundleError`` is its 409)."""

    def load(path: Path):
        return load_served_bundle(path, device, cpu_quant, engine)

    return load


def run(args: argparse.Namespace) -> int:
    import logging
    import socket

    from ml.serve.auth import ADMIN_TOKEN_ENV, MIN_TOKEN_LENGTH, new_token, token_from_env

    token = token_from_env()
    admin_token = token_from_env(ADMIN_TOKEN_ENV)
    if admin_token is not None and (len(admin_token) < MIN_TOKEN_LENGTH or admin_token == token):
        print(
            f"error: {ADMIN_TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters and differ from the readers' token",
            file=sys.stderr,
        )
        return 2
    if not is_loopback(args.host):
        if not args.allow_remote:
            print(
                f"error: --host {args.host} is not loopback; add --allow-remote to expose the backend",
                file=sys.stderr,
            )
            return 2
        if token is None:
            print("error: --allow-remote needs an explicit token in GAZE2REPORT_TOKEN", file=sys.stderr)
            return 2
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        print(f"error: GAZE2REPORT_TOKEN must be at least {MIN_TOKEN_LENGTH} characters", file=sys.stderr)
        return 2
    bundle = None if args.untrained else (args.bundle or default_bundle())
    if args.engine == "vllm":
        from ml.models.vllm_engine import unavailable_reason

        reason = (
            unavailable_reason()
            or (None if bundle else "the vllm engine serves a trained bundle; give --bundle")
            or ("the vllm engine runs on the GPU; leave out --device cpu" if args.device == "cpu" else None)
        )
        if reason:
            print(f"error: --engine vllm: {reason}", file=sys.stderr)
            return 2
    generated = token is None
    token = token or new_token()
    watch = None
    if args.exit_with_parent is not None:  # armed before the slow imports: a parent may die meanwhile
        from ml.serve.parent import ParentWatch

        watch = ParentWatch(args.exit_with_parent)

    import os

    import torch
    import uvicorn

    from ml.models.llm import pick_device
    from ml.serve import BackendSettings, create_app

    # OpenMP threads that spin on an oversubscribed CPU slow decoding down several-fold
    # (benchmarks/results/cpu_speedup.json), so by default leave half the cores to the GUI.
    torch.set_num_threads(max(1, args.threads or (os.cpu_count() or 2) // 2))
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    device = str(pick_device(args.device))
    settings = BackendSettings(
        max_pixels=args.max_pixels,
        max_body_bytes=args.max_body_mb << 20,
        queue_capacity=args.queue,
        model_workers=args.concurrency or (16 if args.engine == "vllm" else 1),
        device=device,
    )
    app = create_app(
        make_factory(bundle, args.llm, device, args.cpu_quant, args.engine, args.models),
        token,
        settings,
        admin_token=admin_token,
        loader=bundle_loader(device, args.cpu_quant, args.engine),
    )

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host.strip("[]"), args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host.strip('[]')}]" if family == socket.AF_INET6 else args.host
    print(f"GAZE2REPORT_BACKEND url=http://{host}:{port}", flush=True)
    if generated:
        print(f"GAZE2REPORT_TOKEN={token}", flush=True)
    if args.port_file is not None:
        args.port_file.write_text(f"{port}\n")
    config = uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    if watch is not None:
        watch.attach(lambda: setattr(server, "should_exit", True))
    server.run(sockets=[sock])
    return 0
