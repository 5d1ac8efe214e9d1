"""The FastAPI application: ``create_app(model_or_factory, token, settings)``.

One model per process. Image decoding runs in the thread pool; model calls run one at a time
on the model queue's thread. Every failure is a JSON ``ErrorBody``: typed input errors are 4xx
with a one-line message, anything unexpected is a 500 whose ``error_id`` is in the log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.sse import format_sse_event
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from ml.contracts import Draft, ReportModel
from ml.serve import errors
from ml.serve.auth import TokenAuth
from ml.serve.images import decode_image, from_scanpath, to_scanpath
from ml.serve.queue import ModelQueue
from ml.serve.schemas import (
    Capabilities,
    DecodingIn,
    ErrorBody,
    FindingOut,
    GraphOut,
    GraphRequest,
    Health,
    ImageIn,
    ModelOut,
    QueueState,
    ReportOut,
    ReportRequest,
    ScanpathsOut,
    ScanpathsRequest,
)
from ml.types import Image, Scanpath

log = logging.getLogger("gaze2report.serve")

API_VERSION = "v1"
ModelFactory = Callable[[], ReportModel]


@dataclass
class Settings:
    """Limits and identity of one backend process (all configurable from ``serve``)."""

    max_pixels: int = 36_000_000  # 6000 x 6000
    max_body_bytes: int = 128 << 20
    queue_capacity: int = 8
    device: str = "cpu"
    version: str = "0.1.0"
    extra_info: dict[str, Any] = field(default_factory=dict)


class _State:
    """The one model of this process and whether it is ready."""

    def __init__(self) -> None:
        self.model: ReportModel | None = None
        self.error: str | None = None
        self.ready = threading.Event()


_COMMON = {
    s: {"model": ErrorBody, "description": d}
    for s, d in [
        (401, "missing or invalid bearer token"),
        (413, "body or image too large"),
        (415, "body is not JSON"),
        (422, "invalid request, image or gaze"),
        (429, "model queue full (Retry-After)"),
        (503, "model still loading (Retry-After)"),
        (500, "unexpected error (error_id in the server log)"),
    ]
}
_MODEL_ERRORS = {**_COMMON, 409: {"model": ErrorBody, "description": "not supported by the loaded model"}}


#: One SSE event as OpenAPI 3.2 describes streams (``itemSchema``); ``data`` is JSON text.
_SSE_ITEM = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["scanpath", "token", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}


def _error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, error_id: str | None = None
):
    body = ErrorBody(detail=detail, code=code, error_id=error_id).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


class _BodyGuard:
    """Pure ASGI check of POST bodies before anything reads them: JSON only, size from the header.

    (Not ``BaseHTTPMiddleware``: that wraps ``receive`` and hides client disconnects from the
    endpoints, which need them to cancel generation.)
    """

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = Headers(scope=scope)
            length = headers.get("content-length", "")
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            response = None
            if length.isdigit() and int(length) > self.max_body_bytes:
                limit = self.max_body_bytes / (1 << 20)
                response = _error(413, "too_large", f"request body is over the {limit:g} MiB limit")
            elif ctype != "application/json":
                response = _error(
                    415,
                    "unsupported_media_type",
                    f"send the body as application/json, not '{ctype or 'none'}'",
                )
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _internal(exc: BaseException, where: str) -> tuple[str, ErrorBody]:
    error_id = uuid.uuid4().hex[:12]
    log.error("error_id=%s unexpected error in %s: %s", error_id, where, type(exc).__name__, exc_info=exc)
    return error_id, ErrorBody(
        detail=f"internal error (error_id {error_id}); the server log has the details",
        code="internal",
        error_id=error_id,
    )


def _model_error(exc: BaseException) -> errors.ApiError | None:
    """Map a model's typed error to a 4xx: ``api_status``/``api_code`` attributes, NotImplementedError
    (409), or a ValueError subclass defined in this project (422); anything else stays a 500."""
    if isinstance(exc, errors.ApiError):
        return exc
    status = getattr(exc, "api_status", None)
    if isinstance(status, int) and 400 <= status < 500:
        err = errors.ApiError(str(exc) or type(exc).__name__)
        err.status, err.code = status, str(getattr(exc, "api_code", "invalid_request"))
        return err
    if isinstance(exc, NotImplementedError):
        return errors.Unsupported(str(exc) or "the loaded model does not support this")
    if isinstance(exc, ValueError) and type(exc).__module__.startswith("ml."):
        # a typed ValueError that our own model code raises on purpose (e.g. GazeModeError)
        err = errors.ApiError(str(exc) or type(exc).__name__)
        err.status, err.code = 422, "invalid_input"
        return err
    return None


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def create_app(
    model_or_factory: ReportModel | ModelFactory, token: str, settings: Settings | None = None
) -> FastAPI:
    """Build the app. A factory is called in a background thread at start-up (health says
    ``ready: false`` meanwhile); a model instance is ready at once."""
    settings = settings or Settings()
    auth = TokenAuth(token)
    state = _State()
    queue = ModelQueue(settings.queue_capacity)

    def load() -> None:
        try:
            state.model = model_or_factory()  # type: ignore[operator]
            log.info("model ready: %s", (state.model.info() or {}).get("name", "?"))
        except Exception as exc:  # the process keeps answering health with the reason
            state.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.exception("model failed to load")
        finally:
            state.ready.set()

    is_model = hasattr(model_or_factory, "generate") and hasattr(model_or_factory, "info")
    if is_model:
        state.model = model_or_factory  # type: ignore[assignment]
        state.ready.set()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not is_model:
            threading.Thread(target=load, name="model-load", daemon=True).start()
        yield
        queue.shutdown()

    app = FastAPI(
        title="Gaze2Report backend",
        version=settings.version,
        description="Chest X-ray report drafting with visual-gaze prompt tuning. See docs/API.md.",
        lifespan=lifespan,
        max_body_size=2 * settings.max_body_bytes,  # backstop for chunked bodies; see _BodyGuard
    )
    app.state.model_state = state
    app.state.queue = queue
    app.state.settings = settings

    # -- error handling ------------------------------------------------------------------
    @app.exception_handler(errors.ApiError)
    async def _api_error(request: Request, exc: errors.ApiError):
        return _error(exc.status, exc.code, exc.detail, exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return _error(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8)
            return _error(422, "invalid_request", "the request body is not valid JSON")
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 401: "unauthorized"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        _, body = _internal(exc, f"{request.method} {request.url.path}")
        return JSONResponse(body.model_dump(), status_code=500)

    app.add_middleware(_BodyGuard, max_body_bytes=settings.max_body_bytes)

    # -- helpers -------------------------------------------------------------------------
    def model() -> ReportModel:
        if not state.ready.is_set():
            raise errors.NotReady("the model is still loading", headers={"Retry-After": "2"})
        if state.model is None:
            raise errors.NotReady(f"the model failed to load: {state.error}", headers={"Retry-After": "30"})
        return state.model

    async def decode(spec: ImageIn) -> Image:
        return await run_in_threadpool(
            decode_image, spec, max_pixels=settings.max_pixels, max_bytes=settings.max_body_bytes
        )

    async def preflight(m: ReportModel, image: Image, given: Scanpath | None, decoding: Any) -> None:
        """Optional ``check()`` of a model: input errors become 4xx before any queueing."""
        check = getattr(m, "check", None)
        if check is None:
            return
        try:
            await run_in_threadpool(check, image, given, decoding)
        except Exception as exc:
            mapped = _model_error(exc)
            if mapped is not None:
                raise mapped from None
            raise

    async def call_model(fn: Callable[[], Any], admitted: bool = False) -> Any:
        try:
            return await queue.run(fn, admitted=admitted)
        except Exception as exc:
            mapped = _model_error(exc)
            if mapped is not None:
                raise mapped from None
            raise

    def untrained(info: dict[str, Any]) -> bool:
        return bool(info.get("untrained", False))

    def report_out(draft: Draft, given: Scanpath | None, image: Image, elapsed: float) -> ReportOut:
        sp = draft.scanpath if draft.scanpath is not None else None
        info = dict(draft.model or model().info())
        return ReportOut(
            report=draft.text,
            findings=[FindingOut(**asdict(f)) for f in draft.findings],
            redrafted=draft.redrafted,
            scanpath=from_scanpath(sp),
            scanpath_source=sp.source.value if sp is not None else None,
            attention=[float(a) for a in draft.attention],
            n_tokens=int(draft.n_tokens),
            model=info,
            untrained=untrained(info),
            image_size=image.size,
            elapsed_s=round(elapsed, 4),
        )

    secured = [Depends(auth.dependency())]

    # -- endpoints -----------------------------------------------------------------------
    @app.get(f"/{API_VERSION}/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        m = state.model if state.ready.is_set() else None
        info = m.info() if m is not None else None
        return Health(
            ready=m is not None,
            device=settings.device,
            untrained=untrained(info) if info is not None else None,
            version=settings.version,
            model=info,
            queue=QueueState(running=queue.running, waiting=queue.waiting, capacity=queue.capacity),
            error=state.error,
        )

    @app.get(
        f"/{API_VERSION}/model",
        response_model=ModelOut,
        responses=_COMMON,
        dependencies=secured,
        tags=["model"],
    )
    async def model_info() -> ModelOut:
        m = model()
        info = {**m.info(), **settings.extra_info}
        caps = getattr(m, "capabilities", None)
        if caps is None:
            drafter = info.get("kind") == "drafter"
            caps = {"scanpaths": not drafter, "graph": not drafter}
        return ModelOut(
            info=info,
            untrained=untrained(info),
            capabilities=Capabilities(**caps),
            context_length=getattr(m, "context_length", None),
            decoding=DecodingIn(),
        )

    @app.post(
        f"/{API_VERSION}/scanpaths",
        response_model=ScanpathsOut,
        responses=_MODEL_ERRORS,
        dependencies=secured,
        tags=["model"],
    )
    async def scanpaths(req: ScanpathsRequest) -> ScanpathsOut:
        m = model()
        image = await decode(req.image)
        paths = await call_model(lambda: m.predict_scanpaths(image, n=req.n, seed=req.seed))
        return ScanpathsOut(scanpaths=[from_scanpath(p) for p in paths], image_size=image.size)

    @app.post(
        f"/{API_VERSION}/graph",
        response_model=GraphOut,
        responses=_MODEL_ERRORS,
        dependencies=secured,
        tags=["model"],
    )
    async def graph(req: GraphRequest) -> GraphOut:
        m = model()
        image = await decode(req.image)
        given = to_scanpath(req.gaze, image)

        def run():
            sp = given if given is not None else m.predict_scanpaths(image, n=1, seed=req.seed)[0]
            return m.gaze_graph(image, sp)

        g = await call_model(run)
        return GraphOut(
            scanpath=from_scanpath(g.scanpath),
            scanpath_source=g.scanpath.source.value,
            node_attention=[float(a) for a in g.node_attention],
            edges=[(int(a), int(b)) for a, b in g.edges],
            edge_attention=[float(a) for a in g.edge_attention],
            edge_types=list(g.edge_types),
            image_size=image.size,
        )

    @app.post(
        f"/{API_VERSION}/reports",
        response_model=ReportOut,
        responses=_MODEL_ERRORS,
        dependencies=secured,
        tags=["model"],
    )
    async def reports(req: ReportRequest, request: Request) -> ReportOut:
        m = model()
        image = await decode(req.image)
        given = to_scanpath(req.gaze, image)
        decoding = (req.decoding or DecodingIn()).to_decoding()
        await preflight(m, image, given, decoding)
        start = time.perf_counter()
        stop = threading.Event()

        async def watch() -> None:  # a client that hangs up stops the generation it asked for
            while not stop.is_set():
                if await request.is_disconnected():
                    stop.set()
                    return
                await asyncio.sleep(0.25)

        watcher = asyncio.ensure_future(watch())
        try:
            draft = await call_model(lambda: m.generate(image, given, decoding, should_stop=stop.is_set))
        finally:
            stop.set()
            watcher.cancel()
        return report_out(draft, given, image, time.perf_counter() - start)

    @app.post(
        f"/{API_VERSION}/reports/stream",
        responses={
            **_MODEL_ERRORS,
            200: {
                "description": "server-sent events: scanpath, token*, then done or error",
                "content": {"text/event-stream": {"itemSchema": _SSE_ITEM}},
            },
        },
        response_class=StreamingResponse,
        dependencies=secured,
        tags=["model"],
    )
    async def reports_stream(req: ReportRequest):
        m = model()
        image = await decode(req.image)
        given = to_scanpath(req.gaze, image)
        decoding = (req.decoding or DecodingIn()).to_decoding()
        await preflight(m, image, given, decoding)
        queue.admit()  # 429 now, as a plain response, rather than inside the stream
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def emit(kind: str, payload: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (kind, payload))

        def job() -> Draft | None:
            if stop.is_set():  # the client left while the request waited in the queue
                return None
            sp = given
            if sp is None:
                try:
                    sp = m.predict_scanpaths(image, n=1, seed=decoding.seed)[0]
                except NotImplementedError:
                    sp = None  # the drafter: no scanpath
            emit(
                "scanpath",
                {
                    "scanpath": [p.model_dump() for p in from_scanpath(sp)],
                    "scanpath_source": sp.source.value if sp is not None else None,
                },
            )
            return m.generate(
                image,
                sp,
                decoding,
                on_token=lambda text: emit("token", {"text": text}),
                should_stop=stop.is_set,
            )

        def finished(task: asyncio.Future) -> None:
            if not task.cancelled():
                task.exception()  # retrieved here; reported in the stream if anyone still listens
            events.put_nowait(("_end", None))

        start = time.perf_counter()
        task = asyncio.ensure_future(queue.run(job, admitted=True))
        task.add_done_callback(finished)

        async def sse() -> AsyncIterator[bytes]:
            try:
                while True:
                    kind, payload = await events.get()
                    if kind != "_end":
                        yield format_sse_event(event=kind, data_str=json.dumps(payload))
                        continue
                    exc = task.exception()
                    if exc is not None:
                        mapped = _model_error(exc)
                        if mapped is not None:
                            body = ErrorBody(detail=mapped.detail, code=mapped.code)
                        else:
                            _, body = _internal(exc, "POST /v1/reports/stream")
                        yield format_sse_event(event="error", data_str=body.model_dump_json())
                        return
                    out = report_out(task.result(), given, image, time.perf_counter() - start)
                    yield format_sse_event(event="done", data_str=out.model_dump_json())
                    return
            finally:
                stop.set()  # client gone or stream over: the model stops at its next token

        return StreamingResponse(
            sse(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(stop.set),  # also runs when the stream never started
        )

    return app
