"""The FastAPI application: ``create_app(model_or_factory, token, settings)``.

One model per process (``ml.serve.deps.Backend``), endpoints in one router per area
(``ml.serve.routes``). Image decoding runs in the thread pool; model calls run one at a time on
the model queue's thread. Every failure is the JSON ``ErrorBody`` (``ml.serve.errors``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from ml.contracts import ReportModel
from ml.serve import errors
from ml.serve.deps import Backend, BackendSettings, BundleLoader, ModelFactory
from ml.serve.guard import BodyLimit
from ml.serve.routes import admin, model, reports, service

API_VERSION = "v1"

__all__ = ["API_VERSION", "BackendSettings", "create_app"]


def create_app(
    model_or_factory: ReportModel | ModelFactory,
    token: str,
    settings: BackendSettings | None = None,
    *,
    admin_token: str | None = None,
    loader: BundleLoader | None = None,
) -> FastAPI:
    """Build the app. A factory is called in a background thread at start-up (health says
    ``ready: false`` meanwhile); a model instance is ready at once. With an ``admin_token`` and a
    bundle ``loader``, ``POST /v1/admin/bundle`` swaps in another bundle without a restart."""
    settings = settings or BackendSettings()
    backend = Backend(model_or_factory, token, settings, admin_token=admin_token, loader=loader)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        backend.start_loading()
        yield
        backend.queue.shutdown()

    app = FastAPI(
        title="Gaze2Report backend",
        version=settings.version,
        description="Chest X-ray report drafting with visual-gaze prompt tuning. See docs/API.md.",
        lifespan=lifespan,
    )
    app.state.backend = backend
    errors.install(app)
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)
    areas = (service, model, reports, admin) if backend.admin is not None else (service, model, reports)
    for area in areas:
        app.include_router(area.router, prefix=f"/{API_VERSION}")
    return app
