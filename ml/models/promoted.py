"""Serve whatever bundle the models folder says is current, switching without a restart.

Why: promoting or rolling back (``main.py model promote|rollback``) only rewrites the folder's
``registry.json``; a running backend must pick that up by itself, and a draft already being
written must finish on the model it started with. ``PromotedModel`` is a ``ReportModel`` that
looks at the registry at most every ``check_every`` seconds, loads a newly current bundle beside
the serving one and then swaps the reference: calls that already hold the old model finish on it.
A bundle that fails to load is logged and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml.site.registry import ModelRegistry, RegistryError

log = logging.getLogger("gaze2report.serve")


class PromotedModel:
    """A ``ReportModel`` over the models folder's current bundle."""

    def __init__(
        self,
        models: str | Path,
        device: str = "cpu",
        *,
        check_every: float = 2.0,
        loader: Callable[..., Any] | None = None,
    ):
        from ml.models.bundle import load_bundle

        self.registry = ModelRegistry(models)
        self.device = device
        self.check_every = check_every
        self._load = loader or load_bundle
        self._swap = threading.Lock()  # guards the reference and the check time
        self._loading = threading.Lock()  # one load at a time
        current = self.registry.current()
        if current is None:
            raise RegistryError(f"{self.registry.folder} has no current bundle: promote one first")
        self.bundle_id = current.id
        self._model = self._load(current.path, device=device)
        self._checked = time.monotonic()
        self.last_error = ""

    def reload_if_changed(self) -> bool:
        """Load the registry's current bundle if it is not the one serving; True when it swapped."""
        with self._loading:
            try:
                current = self.registry.current()
            except RegistryError as exc:
                self.last_error = str(exc)
                log.error("models folder unreadable, keeping %s: %s", self.bundle_id, exc)
                return False
            if current is None or current.id == self.bundle_id:
                return False
            try:
                model = self._load(current.path, device=self.device)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the serving model
                self.last_error = f"{current.id}: {exc}"
                log.error("could not load promoted bundle %s, keeping %s: %s", current.id, self.bundle_id, exc)
                return False
            with self._swap:
                previous, self._model, self.bundle_id = self.bundle_id, model, current.id
            self.last_error = ""
            log.info("serving bundle %s (was %s)", current.id, previous)
            return True

    def model(self) -> Any:
        """The serving model, after a look at the registry when ``check_every`` has passed."""
        with self._swap:
            due = time.monotonic() - self._checked >= self.check_every
            if due:
                self._checked = time.monotonic()
        if due:
            self.reload_if_changed()
        with self._swap:
            return self._model

    def info(self) -> dict[str, Any]:
        return {**self.model().info(), "registry_id": self.bundle_id}

    def predict_scanpaths(self, *args: Any, **kwargs: Any) -> Any:
        return self.model().predict_scanpaths(*args, **kwargs)

    def gaze_graph(self, *args: Any, **kwargs: Any) -> Any:
        return self.model().gaze_graph(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        return self.model().generate(*args, **kwargs)

    def check_domain(self, *args: Any, **kwargs: Any) -> Any:
        return self.model().check_domain(*args, **kwargs)
