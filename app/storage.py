"""The GUI's access to the project database: one worker thread owns the ``ml.store.Store``.

SQLite connections belong to the thread that opened them, and the GUI thread must never wait on
disk, so every read and write is a small function ``fn(store)`` queued on that thread with
``StoreWorker.call``; its result comes back as a callback on the GUI thread. Calls run in order,
so a "save" queued before a "list versions" is seen by it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from app import workers


class StoreWorker(QtCore.QObject):
    def __init__(self, db_path: str | Path, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.db_path = Path(db_path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._store = None

    def _get(self):
        if self._store is None:
            from ml.store import Store

            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._store = Store(self.db_path)
        return self._store

    def call(
        self,
        fn: Callable[[Any], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        workers.submit(lambda: fn(self._get()), on_done, on_error, context=self, executor=self._executor)

    def run_sync(self, fn: Callable[[Any], Any]) -> Any:
        """Block until ``fn(store)`` ran: for tests and shutdown only, never from a GUI slot."""
        return self._executor.submit(lambda: fn(self._get())).result()

    def close(self) -> None:
        def _close():
            if self._store is not None:
                self._store.close()
                self._store = None

        self._executor.submit(_close)
        self._executor.shutdown(wait=True)
