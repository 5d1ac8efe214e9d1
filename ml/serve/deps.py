"""What the endpoints depend on: the process's one model, its queue, its limits and its token.

One ``Backend`` per app (``app.state.backend``); the routers reach it through FastAPI dependencies
rather than closure variables, so each area's endpoints live in a module of their own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ml.contracts import Decoding, ReportModel
from ml.serve.auth import TokenAuth
from ml.serve.errors import NotReady, SwapInProgress, Unauthorized, UnsupportedMediaType
from ml.serve.images import decode_image
from ml.serve.queue import ModelQueue
from ml.serve.schemas import ImageIn
from ml.types import Image, Scanpath

log = logging.getLogger("gaze2report.serve")

ModelFactory = Callable[[], ReportModel]
BundleLoader = Callable[[Path], ReportModel]


@dataclass
class BackendSettings:
    """Limits and identity of one backend process (all configurable from ``serve``)."""

    max_pixels: int = 36_000_000  # 6000 x 6000
    max_body_bytes: int = 128 << 20
    queue_capacity: int = 8
    model_workers: int = 1  # model calls at once (an engine that batches them itself takes several)
    device: str = "cpu"
    version: str = "0.1.0"
    extra_info: dict[str, Any] = field(default_factory=dict)


def is_model(obj: Any) -> bool:
    return hasattr(obj, "generate") and hasattr(obj, "info")


class Backend:
    """The one model of this process (or its loader), whether it is ready, and the model queue."""

    def __init__(
        self,
        model_or_factory: ReportModel | ModelFactory,
        token: str,
        settings: BackendSettings,
        *,
        admin_token: str | None = None,
        loader: BundleLoader | None = None,
    ) -> None:
        self.settings = settings
        self.auth = TokenAuth(token)
        # swapping bundles needs both a loader and its own token (never the readers' token)
        self.admin = TokenAuth(admin_token) if admin_token and loader is not None else None
        self.loader = loader
        self._swap_lock = asyncio.Lock()
        self.queue = ModelQueue(settings.queue_capacity, settings.model_workers)
        self.model: ReportModel | None = None
        self.error: str | None = None
        self.ready = threading.Event()
        self._factory: ModelFactory | None = None
        if is_model(model_or_factory):
            self.model = model_or_factory  # type: ignore[assignment]
            self.ready.set()
        else:
            self._factory = model_or_factory  # type: ignore[assignment]

    def start_loading(self) -> None:
        """Call the factory in a background thread (health says ``ready: false`` meanwhile)."""
        if self._factory is not None:
            threading.Thread(target=self._load, name="model-load", daemon=True).start()

    def _load(self) -> None:
        try:
            self.model = self._factory()  # type: ignore[misc]
            log.info("model ready: %s", (self.model.info() or {}).get("name", "?"))
        except Exception as exc:  # the process keeps answering health with the reason
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.exception("model failed to load")
        finally:
            self.ready.set()

    def loaded(self) -> ReportModel | None:
        return self.model if self.ready.is_set() else None

    def current(self) -> ReportModel:
        """The model, or ``NotReady`` (503 + Retry-After) while it loads or after it failed to."""
        if not self.ready.is_set():
            raise NotReady("the model is still loading", headers={"Retry-After": "2"})
        if self.model is None:
            raise NotReady(f"the model failed to load: {self.error}", headers={"Retry-After": "30"})
        return self.model

    async def swap(self, path: Path) -> tuple[ReportModel | None, ReportModel]:
        """Load the bundle at ``path`` beside the serving model, then serve it: requests that already
        hold the old model (in flight or queued) finish on it; later ones get the new one. A bundle
        that fails to load changes nothing; one that loads also replaces a model that failed to.
        Returns (old or None, new)."""
        if not self.ready.is_set():
            raise NotReady("the model is still loading; swap once it is served", headers={"Retry-After": "2"})
        if self._swap_lock.locked():
            raise SwapInProgress("another bundle is being loaded; retry when it is served")
        async with self._swap_lock:
            new = await run_in_threadpool(self.loader, path)  # type: ignore[arg-type]
            old, self.model, self.error = self.model, new, None
        log.info("bundle swapped: %s -> %s", _name(old), _name(new))
        return old, new

    async def decode(self, spec: ImageIn) -> Image:
        """Decode a request image in the thread pool (a large DICOM takes a while)."""
        s = self.settings
        return await run_in_threadpool(decode_image, spec, max_pixels=s.max_pixels, max_bytes=s.max_body_bytes)

    async def preflight(self, m: ReportModel, image: Image, given: Scanpath | None, decoding: Decoding) -> None:
        """A model's optional cheap ``check()``: input errors become 4xx before any queueing."""
        check = getattr(m, "check", None)
        if check is not None:
            await run_in_threadpool(check, image, given, decoding)

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run a model call on the model thread (429 when the queue is full)."""
        return await self.queue.run(fn)


def _name(m: ReportModel | None) -> str:
    info = (m.info() if m is not None else None) or {}
    return f"{info.get('name', '?')} {info.get('version', '?')}"


def get_backend(request: Request) -> Backend:
    return request.app.state.backend


BackendDep = Annotated[Backend, Depends(get_backend)]

_BEARER = HTTPBearer(auto_error=False, description="the backend's token (GAZE2REPORT_TOKEN)")


async def require_token(
    backend: BackendDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    """401 unless the request carries the backend's bearer token."""
    if not backend.auth.matches(creds.credentials if creds else None):
        raise Unauthorized(
            "missing or invalid bearer token (send 'Authorization: Bearer <token>')",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_admin(
    backend: BackendDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    """401 unless the request carries the admin token (bundle swaps; off when none was configured)."""
    if backend.admin is None or not backend.admin.matches(creds.credentials if creds else None):
        raise Unauthorized(
            "missing or invalid admin token (send 'Authorization: Bearer <GAZE2REPORT_ADMIN_TOKEN>')",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def json_body(request: Request) -> None:
    """415 unless the body is declared as JSON (checked after routing, so a wrong method is a 405)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise UnsupportedMediaType(f"send the body as application/json, not '{ctype or 'none'}'")


def current_model(backend: BackendDep) -> ReportModel:
    return backend.current()


ModelDep = Annotated[ReportModel, Depends(current_model)]
