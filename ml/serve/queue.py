"""The model queue: one model, its worker thread(s), a bounded number of waiting requests.

Model calls (scanpaths, graphs, generation) run one at a time on a dedicated thread, so the event
loop keeps answering health checks and streaming tokens; an engine that batches concurrent requests
itself (``serve --engine vllm``) gets several threads (``workers``). When ``capacity`` requests are already
waiting, ``submit`` raises ``Busy`` (HTTP 429) with a Retry-After estimated from recent job times.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ml.serve.errors import Busy

T = TypeVar("T")


class ModelQueue:
    def __init__(self, capacity: int = 8, workers: int = 1) -> None:
        if capacity < 0:
            raise ValueError("queue capacity must be >= 0")
        if workers < 1:
            raise ValueError("queue workers must be >= 1")
        self.capacity, self.workers = capacity, workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._running = 0
        self._avg_s = 5.0  # running mean of job durations, for Retry-After

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def retry_after(self) -> int:
        return max(1, math.ceil(self._avg_s * max(1, self.waiting) / self.workers))

    def admit(self) -> None:
        """Reserve a slot or raise ``Busy``; pair with ``run(..., admitted=True)`` or ``release``."""
        with self._lock:
            if self._admitted >= self.capacity + self.workers:
                raise Busy(
                    f"the model is busy ({self.waiting} requests waiting); retry shortly",
                    headers={"Retry-After": str(self.retry_after())},
                )
            self._admitted += 1

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            self._running += 1
        start = time.perf_counter()
        try:
            return fn()
        finally:
            took = time.perf_counter() - start
            with self._lock:
                self._running -= 1
                self._avg_s = 0.8 * self._avg_s + 0.2 * took

    async def run(self, fn: Callable[[], T], *, admitted: bool = False) -> T:
        """Run ``fn`` on the model thread (FIFO) and await its result.

        The slot is freed when the job ends (or is cancelled before it started), not when the
        awaiting request goes away, so the bound holds even for abandoned requests.
        """
        if not admitted:
            self.admit()
        try:
            with self._lock:
                if self._executor is None:  # created lazily; again after a shutdown (app restarted)
                    self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="model")
                executor = self._executor
            future = executor.submit(self._call, fn)
        except BaseException:
            self.release()
            raise
        future.add_done_callback(lambda _: self.release())
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
