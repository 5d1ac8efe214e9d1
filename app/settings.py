"""Workstation settings: one small JSON file in the user config directory.

Kept as a plain dataclass so it is testable without Qt; the dialog edits a copy and saves it.
``GAZE2REPORT_CONFIG_DIR`` moves the file (tests, portable installs).
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path


def config_dir() -> Path:
    env = os.environ.get("GAZE2REPORT_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("gaze2report", appauthor=False))


def default_data_dir() -> Path:
    env = os.environ.get("GAZE2REPORT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("gaze2report", appauthor=False))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "reader"


@dataclass
class WorkstationSettings:
    backend_url: str = ""  # empty: start a local backend as a subprocess
    backend_token: str = ""  # for a remote backend; a local one gets a fresh token per launch
    backend_bundle: str = ""  # model bundle folder passed to a local backend (empty: its default)
    user_name: str = dataclasses.field(default_factory=_user)
    reader_id: str = ""  # the reader's identifier (e.g. staff number), shown with the name
    reader_confirmed: bool = False  # the reader has named themselves (asked before the first signature)
    data_dir: str = ""  # empty: the platform user data directory
    # Screen geometry for gaze: what turns screen pixels into degrees of visual angle.
    screen_width_px: int = 1920
    screen_height_px: int = 1080
    screen_width_mm: float = 527.0
    screen_height_mm: float = 296.0
    viewing_distance_mm: float = 650.0
    live_gaze_cursor: bool = False  # off by default: seeing one's own gaze biases the reading
    gaze_source: str = "mouse"  # mouse | tobii | replay
    layers: dict[str, bool] = dataclasses.field(default_factory=dict)  # overlay visibility the reader chose

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @property
    def db_path(self) -> Path:
        return self.data_path / "gaze2report.sqlite"

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "settings.json"

    @classmethod
    def load(cls) -> WorkstationSettings:
        """Read the settings file; unknown keys are ignored, a broken file gives the defaults."""
        p = cls.path()
        try:
            raw = json.loads(p.read_text())
        except (OSError, ValueError):
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in raw.items() if k in names} if isinstance(raw, dict) else {}
        try:
            return cls(**kwargs)
        except TypeError:
            return cls()

    def save(self) -> None:
        p = self.path()
        p.parent.mkdir(parents=True, exist_ok=True)
        data = dataclasses.asdict(self)
        if not self.backend_url:
            data.pop("backend_token", None)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(p)
