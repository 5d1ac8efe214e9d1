"""The models folder: which bundle serves now, the candidates beside it, and how it got there.

Why here: promoting and rolling back must be one step each that a backend, the CLI and a GUI page
read the same way, with no torch. Layout::

    models/registry.json      current bundle, the stack of earlier currents, every bundle's gate, events
    models/bundles/<id>/      one bundle folder per id (``<name>-<version>`` of its manifest)

``registry.json`` is replaced atomically, so a reader sees the old or the new state, never half.
A candidate the gate refused is kept (to inspect) but cannot be promoted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGISTRY = "registry.json"
REGISTRY_FORMAT = 1


class RegistryError(RuntimeError):
    """The models folder cannot do what was asked; the message says why."""


@dataclass
class BundleEntry:
    """One bundle in the folder: where it is, where it came from and what its gate said."""

    id: str
    path: Path
    added: str
    origin: str  # "base" (adopted as it was) or "refresh" (trained from the site's studies)
    sha256: str
    gate: dict[str, Any] | None
    current: bool

    @property
    def refused(self) -> bool:
        """The gate scored it and said no."""
        return bool(self.gate) and not self.gate.get("passed", False)


def bundle_sha256(folder: str | Path) -> str:
    """One sha256 over a bundle folder: every file's relative path and bytes, in sorted order."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def bundle_id(manifest: dict[str, Any]) -> str:
    """The folder name of a bundle: ``<name>-<version>`` with anything odd made a hyphen."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", f"{manifest['name']}-{manifest['version']}")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ModelRegistry:
    """A models folder (created on the first change)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @property
    def file(self) -> Path:
        return self.folder / REGISTRY

    def _read(self) -> dict[str, Any]:
        if not self.file.is_file():
            return {"format": REGISTRY_FORMAT, "current": None, "stack": [], "bundles": {}, "events": []}
        try:
            data = json.loads(self.file.read_text())
        except json.JSONDecodeError as exc:
            raise RegistryError(f"{self.file} is not valid JSON ({exc.msg}): restore it from a backup") from exc
        if data.get("format") != REGISTRY_FORMAT:
            raise RegistryError(
                f"{self.file} has format {data.get('format')!r}; this version reads {REGISTRY_FORMAT}: update the application"
            )
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{REGISTRY}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.file)

    def _entry(self, data: dict[str, Any], bid: str) -> BundleEntry:
        info = data["bundles"][bid]
        return BundleEntry(
            bid,
            self.folder / "bundles" / bid,
            info["added"],
            info["origin"],
            info["sha256"],
            info.get("gate"),
            data["current"] == bid,
        )

    def entries(self) -> list[BundleEntry]:
        """Every bundle, oldest first."""
        data = self._read()
        return [self._entry(data, bid) for bid in data["bundles"]]

    def current(self) -> BundleEntry | None:
        data = self._read()
        return self._entry(data, data["current"]) if data["current"] else None

    def candidates(self) -> list[BundleEntry]:
        """Bundles never made current, oldest first."""
        data = self._read()
        return [self._entry(data, b) for b in data["bundles"] if b not in data["stack"] and b != data["current"]]

    def history(self) -> list[dict[str, Any]]:
        """What happened, oldest first: ``{"at", "action", "bundle", "from"}``."""
        return list(self._read()["events"])

    def get(self, bid: str) -> BundleEntry:
        data = self._read()
        if bid not in data["bundles"]:
            known = ", ".join(data["bundles"]) or "none"
            raise RegistryError(f"no bundle '{bid}' in {self.folder} (known: {known})")
        return self._entry(data, bid)

    def add(self, bundle: str | Path, *, origin: str, gate: dict[str, Any] | None = None) -> BundleEntry:
        """Copy a bundle folder in as a candidate (or, for the first one, as the current bundle)."""
        src = Path(bundle)
        manifest_file = src / "manifest.json"
        if not manifest_file.is_file():
            raise RegistryError(f"{src} is not a model bundle (no manifest.json)")
        bid = bundle_id(json.loads(manifest_file.read_text()))
        data = self._read()
        if bid in data["bundles"]:
            raise RegistryError(f"{self.folder} already holds a bundle '{bid}': give the new one another version")
        dest = self.folder / "bundles" / bid
        partial = dest.with_name(f".{bid}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(src, partial)
        partial.replace(dest)
        data["bundles"][bid] = {"added": _now(), "origin": origin, "sha256": bundle_sha256(dest), "gate": gate}
        data["events"].append({"at": _now(), "action": "add", "bundle": bid, "from": None})
        if data["current"] is None:
            self._make_current(data, bid, "promote")
        self._write(data)
        return self._entry(data, bid)

    def promote(self, bid: str | None = None) -> BundleEntry:
        """Make a candidate (default: the newest) the current bundle; the gate must have passed it."""
        data = self._read()
        if bid is None:
            waiting = [b for b in data["bundles"] if b not in data["stack"] and b != data["current"]]
            if not waiting:
                raise RegistryError(f"no candidate to promote in {self.folder}")
            bid = waiting[-1]
        entry = self.get(bid)
        if entry.current:
            raise RegistryError(f"'{bid}' is already the current bundle")
        if entry.refused:
            raise RegistryError(f"the gate refused '{bid}': {entry.gate.get('reason', 'no reason recorded')}")
        self._make_current(data, bid, "promote")
        self._write(data)
        return self._entry(data, bid)

    def rollback(self) -> BundleEntry:
        """Serve the bundle that was current before this one again."""
        data = self._read()
        if len(data["stack"]) < 2:
            raise RegistryError(f"nothing to roll back to in {self.folder}: no earlier current bundle")
        data["stack"].pop()
        previous = data["stack"].pop()
        self._make_current(data, previous, "rollback")
        self._write(data)
        return self._entry(data, previous)

    @staticmethod
    def _make_current(data: dict[str, Any], bid: str, action: str) -> None:
        data["events"].append({"at": _now(), "action": action, "bundle": bid, "from": data["current"]})
        data["current"] = bid
        data["stack"].append(bid)
