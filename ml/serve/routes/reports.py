"""Report drafts: ``POST /v1/reports`` (one answer) and ``POST /v1/reports/stream`` (server-sent events).

A client that hangs up stops the generation it asked for: the plain endpoint watches for the
disconnect, the stream stops when its iterator is closed. The stream sends ``scanpath``, then
``domain`` (whether the image looks like the training images, when the model has a domain gate)
before the first ``token``, then
``done`` (the plain endpoint's answer) or ``error``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event
from starlette.background import BackgroundTask

from ml.contracts import DomainCheck, Draft, ReportModel, StatusError
from ml.serve.deps import Backend, BackendDep, ModelDep, json_body, require_token
from ml.serve.errors import body_of, internal
from ml.serve.images import from_scanpath, to_scanpath
from ml.serve.schemas import (
    MODEL_ERRORS,
    DecodingIn,
    DomainOut,
    FindingOut,
    ReportOut,
    ReportRequest,
    ScanpathEvent,
    TokenEvent,
    is_untrained,
)
from ml.types import Image

router = APIRouter(
    tags=["model"], dependencies=[Depends(require_token), Depends(json_body)], responses=MODEL_ERRORS
)

#: One SSE event as OpenAPI 3.2 describes streams (``itemSchema``); ``data`` is JSON text.
_SSE_ITEM = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["scanpath", "domain", "token", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}


def domain_out(check: DomainCheck | None) -> DomainOut | None:
    return DomainOut(**asdict(check)) if check is not None else None


def report_out(draft: Draft, image: Image, elapsed: float, m: ReportModel) -> ReportOut:
    sp = draft.scanpath
    info = dict(draft.model or m.info())
    return ReportOut(
        report=draft.text,
        findings=[FindingOut(**asdict(f)) for f in draft.findings],
        redrafted=draft.redrafted,
        scanpath=from_scanpath(sp),
        scanpath_source=sp.source.value if sp is not None else None,
        attention=[float(a) for a in draft.attention],
        n_tokens=int(draft.n_tokens),
        model=info,
        untrained=is_untrained(info),
        image_size=image.size,
        elapsed_s=round(elapsed, 4),
        domain=domain_out(draft.domain),
    )


async def _prepare(req: ReportRequest, m: ReportModel, backend: Backend):
    image = await backend.decode(req.image)
    given = to_scanpath(req.gaze, image)
    decoding = (req.decoding or DecodingIn()).to_decoding()
    await backend.preflight(m, image, given, decoding)
    return image, given, decoding


@router.post("/reports", response_model=ReportOut)
async def reports(req: ReportRequest, request: Request, m: ModelDep, backend: BackendDep) -> ReportOut:
    image, given, decoding = await _prepare(req, m, backend)
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
        draft = await backend.call(lambda: m.generate(image, given, decoding, should_stop=stop.is_set))
    finally:
        stop.set()
        watcher.cancel()
    return report_out(draft, image, time.perf_counter() - start, m)


@router.post(
    "/reports/stream",
    responses={
        200: {
            "description": "server-sent events: scanpath, domain, token*, then done or error",
            "content": {"text/event-stream": {"itemSchema": _SSE_ITEM}},
        },
    },
    response_class=StreamingResponse,
)
async def reports_stream(req: ReportRequest, m: ModelDep, backend: BackendDep):
    image, given, decoding = await _prepare(req, m, backend)
    queue = backend.queue
    queue.admit()  # 429 now, as a plain response, rather than inside the stream
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
    stop = threading.Event()

    def emit(kind: str, payload: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (kind, payload.model_dump_json()))

    def job() -> Draft | None:
        if stop.is_set():  # the client left while the request waited in the queue
            return None
        sp = given
        if sp is None:
            try:
                sp = m.predict_scanpaths(image, n=1, seed=decoding.seed)[0]
            except NotImplementedError:
                sp = None  # the drafter: no scanpath
        source = sp.source.value if sp is not None else None
        emit("scanpath", ScanpathEvent(scanpath=from_scanpath(sp), scanpath_source=source))
        check_domain = getattr(m, "check_domain", None)
        domain = domain_out(check_domain(image)) if check_domain is not None else None
        if domain is not None:  # no gate (or none callable before drafting): `done` alone says so
            emit("domain", domain)
        return m.generate(
            image,
            sp,
            decoding,
            on_token=lambda text: emit("token", TokenEvent(text=text)),
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
                kind, data = await events.get()
                if kind != "_end":
                    yield format_sse_event(event=kind, data_str=data)
                    continue
                exc = task.exception()
                if exc is not None:
                    body = body_of(exc) if isinstance(exc, StatusError) else internal(exc, "POST /v1/reports/stream")
                    yield format_sse_event(event="error", data_str=body.model_dump_json())
                    return
                out = report_out(task.result(), image, time.perf_counter() - start, m)
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

