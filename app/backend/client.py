"""HTTP client for the backend API (docs/API.md), and its Qt glue that keeps calls off the GUI thread.

``BackendClient`` is plain Python (httpx, blocking): usable from tests and scripts. ``ReportStream``
runs ``/v1/reports/stream`` on a worker thread and re-emits the server-sent events as Qt signals,
so tokens reach the editor as they are decoded while the window stays responsive.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6 import QtCore

from ml.contracts import DomainCheck, Draft, EncoderFinding
from ml.types import Fixation, Image, Scanpath, ScanpathSource

if TYPE_CHECKING:  # httpx (and the CLI it pulls in) is imported on first use, off the start-up path
    import httpx


class BackendError(RuntimeError):
    """A backend call failed; ``str()`` is a one-line message a banner can show."""

    def __init__(
        self, message: str, status: int = 0, code: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


# ----------------------------------------------------------------------------- payloads
def image_payload(image: Image) -> dict[str, Any]:
    """The API's ``image`` object: the original DICOM/PNG bytes when we have them, else raw pixels."""
    src = Path(image.source) if image.source else None
    if src is not None and src.is_file():
        suffix = src.suffix.lower()
        fmt = (
            "dicom"
            if suffix in (".dcm", ".dicom", "")
            else "png"
            if suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff")
            else ""
        )
        if fmt:
            payload: dict[str, Any] = {
                "format": fmt,
                "data": base64.b64encode(src.read_bytes()).decode(),
                "name": src.name,
            }
            if image.spacing and fmt == "png":
                payload["spacing"] = list(image.spacing)
            return payload
    px = image.pixels
    dtype = px.dtype
    if dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        px = px.astype(np.float32)
    px = np.ascontiguousarray(px).astype(px.dtype.newbyteorder("<"), copy=False)
    payload = {
        "format": "raw",
        "data": base64.b64encode(px.tobytes()).decode(),
        "shape": list(px.shape),
        "dtype": str(px.dtype.name),
        "name": Path(image.source).name if image.source else "image",
    }
    if image.spacing:
        payload["spacing"] = list(image.spacing)
    return payload


def gaze_payload(scanpath: Scanpath | None) -> list[dict[str, float]] | None:
    if scanpath is None or not scanpath.fixations:
        return None
    return [
        {"x": float(f.x), "y": float(f.y), "duration": float(max(f.duration, 0.0))}
        for f in scanpath.fixations
    ]


def parse_scanpath(items: list[dict], image_size: tuple[int, int], source: str | None) -> Scanpath:
    fixes, t = [], 0.0
    for it in items or []:
        d = float(it.get("duration", 0.0))
        fixes.append(Fixation(float(it["x"]), float(it["y"]), t, t + d))
        t += d
    try:
        src = ScanpathSource(source) if source else ScanpathSource.PREDICTED
    except ValueError:
        src = ScanpathSource.PREDICTED
    return Scanpath(fixes, tuple(image_size), src)  # type: ignore[arg-type]


def domain_check(body: dict[str, Any] | None) -> DomainCheck | None:
    """The wire's ``domain`` object (``{"in_domain", "score", "threshold", "method"}``), or None."""
    if not body:
        return None
    return DomainCheck(
        bool(body["in_domain"]), float(body["score"]), float(body["threshold"]), str(body.get("method", ""))
    )


def draft_from_response(body: dict[str, Any]) -> Draft:
    """A finished draft (the ``/v1/reports`` answer or the stream's ``done`` event) as the contract's type.

    The model info keeps the answer's ``untrained`` flag, so the badge and exports can say it.
    """
    size = tuple(body.get("image_size") or (0, 0))
    sp = body.get("scanpath") or []
    model = dict(body.get("model") or {})
    if body.get("untrained"):
        model["untrained"] = True
    return Draft(
        text=str(body.get("report", "")),
        scanpath=parse_scanpath(sp, size, body.get("scanpath_source")) if sp else None,  # type: ignore[arg-type]
        attention=[float(a) for a in body.get("attention") or []],
        model=model,
        n_tokens=int(body.get("n_tokens", 0) or 0),
        findings=[
            EncoderFinding(
                str(f.get("label", "")),
                float(f.get("probability", 0.0)),
                str(f.get("place", "")),
                bool(f.get("in_draft", False)),
            )
            for f in body.get("findings") or []
        ],
        redrafted=bool(body.get("redrafted", False)),
        domain=domain_check(body.get("domain")),
    )


# ----------------------------------------------------------------------------- client
class BackendClient:
    """Blocking calls to one backend. Never call these on the GUI thread (use ``app.workers.submit``)."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _raise_for(self, r: httpx.Response) -> None:
        if r.status_code < 400:
            return
        try:
            body = r.json()
            detail, code = str(body.get("detail", "")), str(body.get("code", ""))
            if body.get("error_id"):
                detail += f" (error id {body['error_id']})"
        except (ValueError, AttributeError):
            detail, code = r.text[:200], ""
        ra = r.headers.get("Retry-After")
        raise BackendError(
            f"backend {r.status_code}: {detail or r.reason_phrase}",
            r.status_code,
            code,
            float(ra) if ra and ra.replace(".", "", 1).isdigit() else None,
        )

    def _get(self, path: str, timeout: float | None = None) -> dict[str, Any]:
        import httpx

        try:
            r = httpx.get(self.base_url + path, headers=self._headers(), timeout=timeout or self.timeout)
        except httpx.HTTPError as exc:
            raise BackendError(f"backend unreachable at {self.base_url}: {type(exc).__name__}") from exc
        self._raise_for(r)
        return r.json()

    def _post(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        import httpx

        try:
            r = httpx.post(self.base_url + path, json=body, headers=self._headers(), timeout=timeout or 600.0)
        except httpx.HTTPError as exc:
            raise BackendError(f"backend unreachable at {self.base_url}: {type(exc).__name__}") from exc
        self._raise_for(r)
        return r.json()

    def health(self, timeout: float = 2.0) -> dict[str, Any]:
        return self._get("/v1/health", timeout)

    def model(self) -> dict[str, Any]:
        return self._get("/v1/model")

    def scanpaths(self, image: Image, n: int = 1, seed: int = 0) -> list[Scanpath]:
        body = self._post("/v1/scanpaths", {"image": image_payload(image), "n": n, "seed": seed})
        size = tuple(body.get("image_size") or image.size)
        return [parse_scanpath(sp, size, "predicted") for sp in body.get("scanpaths", [])]  # type: ignore[arg-type]

    def graph(self, image: Image, scanpath: Scanpath | None = None, seed: int = 0) -> dict[str, Any]:
        """The gaze graph + node attention; ``scanpath`` parsed into a Scanpath under key 'scanpath'."""
        body = self._post(
            "/v1/graph", {"image": image_payload(image), "gaze": gaze_payload(scanpath), "seed": seed}
        )
        size = tuple(body.get("image_size") or image.size)
        body["scanpath"] = parse_scanpath(body.get("scanpath", []), size, body.get("scanpath_source"))  # type: ignore[arg-type]
        return body

    def report(
        self, image: Image, scanpath: Scanpath | None = None, decoding: dict[str, Any] | None = None
    ) -> Draft:
        req: dict[str, Any] = {"image": image_payload(image), "gaze": gaze_payload(scanpath)}
        if decoding:
            req["decoding"] = decoding
        return draft_from_response(self._post("/v1/reports", req))

    def stream_report(
        self,
        image: Image,
        scanpath: Scanpath | None = None,
        decoding: dict[str, Any] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (event, data) pairs from ``/v1/reports/stream``; stops when ``should_stop()`` is true."""
        req: dict[str, Any] = {"image": image_payload(image), "gaze": gaze_payload(scanpath)}
        if decoding:
            req["decoding"] = decoding
        import httpx

        timeout = httpx.Timeout(self.timeout, read=600.0)
        try:
            with httpx.stream(
                "POST",
                self.base_url + "/v1/reports/stream",
                json=req,
                headers=self._headers(),
                timeout=timeout,
            ) as r:
                if r.status_code >= 400:
                    r.read()
                    self._raise_for(r)
                if on_response is not None:
                    on_response(r)
                yield from iter_sse(r.iter_lines(), should_stop)
        except httpx.HTTPError as exc:
            if should_stop():
                return
            raise BackendError(f"backend stream failed: {type(exc).__name__}: {exc}") from exc


def iter_sse(
    lines: Iterator[str], should_stop: Callable[[], bool] = lambda: False
) -> Iterator[tuple[str, dict]]:
    """Parse server-sent events (event:/data: lines, blank line ends one, ':' lines are comments)."""
    event, data = "message", []
    for line in lines:
        if should_stop():
            return
        if line == "":
            if data:
                raw = "\n".join(data)
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = {"text": raw}
                yield event, payload if isinstance(payload, dict) else {"value": payload}
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, json.loads("\n".join(data))


# ----------------------------------------------------------------------------- Qt glue
class ReportStream(QtCore.QObject):
    """One streamed generation on a worker thread; tokens and the result arrive as signals.

    ``cancel()`` closes the connection, which is how the API cancels (the model stops at the
    next token and frees its queue slot).
    """

    scanpath = QtCore.Signal(Scanpath)  # the gaze the draft is conditioned on (before the tokens)
    domain = QtCore.Signal(DomainCheck)  # whether the image is like the model's training images
    token = QtCore.Signal(str)
    finished = QtCore.Signal(Draft, float)  # the draft, seconds from request to answer
    failed = QtCore.Signal(str)

    def __init__(
        self,
        client: BackendClient,
        image: Image,
        scanpath: Scanpath | None = None,
        decoding: dict[str, Any] | None = None,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client, self.image, self.gaze, self.decoding = client, image, scanpath, decoding
        self._stop = threading.Event()
        self._response: httpx.Response | None = None
        self._thread: threading.Thread | None = None
        self.done = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="report-stream", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()
        r = self._response
        if r is not None:
            # closing from another thread may race with the reader; the flag stops it anyway
            with contextlib.suppress(Exception):
                r.close()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:  # worker thread: only emits
        def keep(r: httpx.Response) -> None:
            self._response = r

        started = time.monotonic()
        try:
            finished = False
            for event, data in self.client.stream_report(
                self.image, self.gaze, self.decoding, self._stop.is_set, on_response=keep
            ):
                if event == "scanpath":
                    sp = data.get("scanpath") or []
                    if sp:
                        self.scanpath.emit(parse_scanpath(sp, self.image.size, data.get("scanpath_source")))
                elif event == "domain":
                    self.domain.emit(domain_check(data))
                elif event == "token":
                    self.token.emit(str(data.get("text", "")))
                elif event == "done":
                    finished = True
                    self.finished.emit(draft_from_response(data), time.monotonic() - started)
                elif event == "error":
                    finished = True
                    self.failed.emit(f"generation failed: {data.get('detail', 'unknown error')}")
            if not finished and not self._stop.is_set():
                self.failed.emit("the backend closed the stream before the draft was complete")
        except BackendError as exc:
            if not self._stop.is_set():
                self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - never kill the thread silently
            if not self._stop.is_set():
                self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.done = True
