"""A tiny plain-Python event: the Qt-free state objects announce changes through it.

Views (Qt widgets) and tests subscribe with ``connect``; nothing here needs an event loop, so the
reading rules are tested without Qt. Callbacks run in connection order, synchronously.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """Callbacks called in order by ``emit``."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)
