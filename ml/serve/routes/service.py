"""``GET /v1/health``: whether the process is up and its model ready (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter

from ml.serve.deps import BackendDep
from ml.serve.schemas import Health, QueueState, is_untrained

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
async def health(backend: BackendDep) -> Health:
    m = backend.loaded()
    info = m.info() if m is not None else None
    q = backend.queue
    return Health(
        ready=m is not None,
        device=backend.settings.device,
        untrained=is_untrained(info) if info is not None else None,
        version=backend.settings.version,
        model=info,
        queue=QueueState(running=q.running, waiting=q.waiting, capacity=q.capacity),
        error=backend.error,
    )
