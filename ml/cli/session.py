"""``session``: list, export, import and recover recorded gaze sessions.

``python main.py session list [--db DB] [--study UID] [--status S] [--json]``
``python main.py session export ID OUT_DIR [--db DB] [--velocity DEG_S]``
``python main.py session import PATH --study UID --reader NAME [--image-size W H] [--db DB]``
``python main.py session recover [--db DB] [--stale-after S]``

Exports use REFLACX's layout so tools written for REFLACX read them: ``gaze.csv`` (one row per
sample, image pixels, seconds from the reading's start, REFLACX's display columns) and
``fixations.csv`` (I-VT on the samples in degrees). Columns REFLACX does not have come after its
own: ``timestamp_us``, ``device_timestamp_us``, ``x_screen``/``y_screen`` (exact, screen pixels),
``valid``, ``pupil_diameter_mm``, ``image_id``; ``session.json`` keeps the session record and the
viewport log. Import reads our exports back exactly, and REFLACX or cohort readings through their
display columns. ``pupil_area_normalized`` stays empty in exports: trackers give diameters (mm).

The export/import functions are also the GUI's (no Qt, no torch here).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

EXTRA_GAZE_COLUMNS = (
    "timestamp_us",
    "device_timestamp_us",
    "x_screen",
    "y_screen",
    "valid",
    "pupil_diameter_mm",
    "image_id",
)


@dataclass
class ExportResult:
    folder: Path
    gaze_csv: Path
    fixations_csv: Path
    session_json: Path
    n_samples: int
    n_fixations: int


def _exact(values: Any) -> list[str]:
    """Floats as the shortest strings that read back to the same double ('' for NaN)."""
    import numpy as np

    return ["" if v != v else repr(float(v)) for v in np.asarray(values, dtype=np.float64).tolist()]


def export_session(
    db: str | Path, session_id: int, out_dir: str | Path, *, velocity_threshold: float = 30.0
) -> ExportResult:
    """Write a stored session as REFLACX-layout ``gaze.csv`` + ``fixations.csv`` + ``session.json``."""
    import numpy as np

    from ml.gaze.fixations import IVTParams, detect_ivt, to_scanpath_fixations
    from ml.gaze.geometry import ScreenGeometry, screen_to_image
    from ml.gaze.io import REFLACX_DISPLAY_COLUMNS, GazeTrack, write_fixations, write_gaze
    from ml.gaze.recorder import session_viewports, viewport_event
    from ml.store import Store
    from ml.types import Fixation

    with Store(db, read_only=True) as store:
        rec = store.session(session_id)
        block = store.samples(session_id)
        vps = session_viewports(store, session_id)
        events = store.events(session_id)
    geo_known = {"width_px", "height_px", "width_mm", "height_mm", "distance_mm"} <= set(rec.geometry)
    geometry = ScreenGeometry.from_dict(rec.geometry) if geo_known else ScreenGeometry()
    n = len(block)
    t0 = rec.t0_us if rec.t0_us is not None else (int(block.t_us[0]) if n else 0)
    sx = np.where(block.valid, block.x, np.nan)
    sy = np.where(block.valid, block.y, np.nan)
    mapped = screen_to_image((block.t_us, sx, sy), vps, clip=False)
    on_image = screen_to_image((block.t_us, sx, sy), vps, clip=True)
    t_s = (block.t_us - t0) / 1e6

    # REFLACX's display columns, per sample, from the viewport in force
    sppd_x, sppd_y = geometry.pixels_per_degree
    per_vp = []
    for vp in vps:
        if not vp.image_id:
            per_vp.append((math.nan,) * 12)
            continue
        scale_x, scale_y = vp.scale
        shown = vp.shown_from_image()
        s0 = vp.to_screen(shown[0], shown[1])
        s1 = vp.to_screen(shown[2], shown[3])
        per_vp.append(
            (sppd_x / scale_x, sppd_y / scale_y, vp.window_width, vp.window_center, *shown)
            + (float(s0[0]), float(s0[1]), float(s1[0]), float(s1[1]))
        )
    # formatted once per viewport, then picked per row (index -1: before the first viewport → blank)
    formatted = np.array([_exact(row) for row in per_vp] + [[""] * 12], dtype=object).reshape(-1, 12)
    idx = mapped.viewport_index
    display = {name: formatted[idx, j].tolist() for j, name in enumerate(REFLACX_DISPLAY_COLUMNS)}

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    track = GazeTrack(t=t_s, x=mapped.x, y=mapped.y, pupil=np.full(n, np.nan))
    gaze_csv = write_gaze(
        out / "gaze.csv",
        track,
        extra_columns={
            **display,
            "timestamp_us": [str(int(v)) for v in block.t_us],
            "device_timestamp_us": [str(int(v)) for v in block.device_t_us],
            "x_screen": _exact(block.x),
            "y_screen": _exact(block.y),
            "valid": [str(int(v)) for v in block.valid],
            "pupil_diameter_mm": _exact(block.pupil),
            "image_id": [str(v) for v in mapped.image_id],
        },
    )

    xd, yd = geometry.px_to_deg(sx, sy)
    detected = (
        detect_ivt(t_s, xd, yd, IVTParams(velocity_threshold=velocity_threshold), x=on_image.x, y=on_image.y)
        if n
        else []
    )
    detected = [d for d in detected if math.isfinite(d.x) and math.isfinite(d.y)]
    fixations = to_scanpath_fixations(detected)
    rows = [d.first for d in detected]
    fix_extra: dict[str, Any] = {name: [display[name][r] for r in rows] for name in REFLACX_DISPLAY_COLUMNS}
    fix_extra["pupil_diameter_mm"] = _exact(
        [
            float(np.nanmean(block.pupil[d.first : d.last + 1]))
            if np.isfinite(block.pupil[d.first : d.last + 1]).any()
            else math.nan
            for d in detected
        ]
    )
    fix_extra["image_id"] = [str(on_image.image_id[r]) for r in rows]
    fix_extra["method"] = [f"ivt {velocity_threshold:g} deg/s"] * len(rows)
    fixations = [Fixation(f.x, f.y, f.start, f.end) for f in fixations]  # pupil_area_normalized stays empty
    fixations_csv = write_fixations(out / "fixations.csv", fixations, extra_columns=fix_extra)

    meta = asdict(rec)
    meta["viewports"] = [{"t_us": e.t_us, **e.data} for e in (viewport_event(v) for v in vps)]
    meta["events"] = [asdict(e) for e in events if e.kind != "viewport"]
    meta["export"] = {
        "time_origin_us": t0,
        "fixations": f"I-VT, {velocity_threshold:g} deg/s, on samples in degrees (session geometry)",
        "geometry_assumed": not geo_known,
    }
    session_json = out / "session.json"
    session_json.write_text(json.dumps(meta, indent=1, default=str, allow_nan=True))
    return ExportResult(out, gaze_csv, fixations_csv, session_json, n, len(fixations))


def import_session(
    db: str | Path,
    path: str | Path,
    *,
    study: str,
    reader: str,
    image_size: tuple[int, int] | None = None,
    image_id: str | None = None,
) -> int:
    """Store a ``gaze.csv`` (our export: exact; REFLACX/cohort: through its display columns) as a
    completed session, with its ``fixations.csv`` (method 'imported') when there is one."""
    import numpy as np

    from ml.gaze.io import read_fixations, read_gaze
    from ml.gaze.recorder import event_viewport, viewport_event
    from ml.gaze.sources.replay import load_gaze_csv
    from ml.store import EventRecord, SessionStatus, Store
    from ml.types import GazeSample

    p = Path(path)
    folder = p if p.is_dir() else p.parent
    gaze_csv = p / "gaze.csv" if p.is_dir() else p
    meta_path = folder / "session.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    track = read_gaze(gaze_csv)
    cols = track.columns
    ours = all(c in cols for c in ("timestamp_us", "x_screen", "y_screen", "valid"))
    if ours:
        origin = int(
            meta.get("export", {}).get(
                "time_origin_us", int(cols["timestamp_us"][0]) - round(track.t[0] * 1e6)
            )
        )
        dev = cols.get("device_timestamp_us", np.zeros(len(track)))
        pupil = cols.get("pupil_diameter_mm", np.full(len(track), np.nan))
        samples = [
            GazeSample(int(t), float(x), float(y), bool(v), float(pp), int(d))
            for t, x, y, v, pp, d in zip(
                cols["timestamp_us"].tolist(),
                cols["x_screen"].tolist(),
                cols["y_screen"].tolist(),
                cols["valid"].tolist(),
                pupil.tolist(),
                np.nan_to_num(dev).tolist(),
                strict=True,
            )
        ]
        if meta.get("viewports") is not None:
            vps = [
                event_viewport(EventRecord(int(d.pop("t_us")), "viewport", d))
                for d in (dict(v) for v in meta["viewports"])
            ]
        else:
            vps = load_gaze_csv(
                gaze_csv, image_size=image_size, image_id=image_id, origin_us=origin
            ).viewports
    else:
        data = load_gaze_csv(gaze_csv, image_size=image_size, image_id=image_id, origin_us=0)
        samples, vps, origin = data.samples, data.viewports, data.origin_us
    geometry = meta.get("geometry") or {}
    fix_path = folder / "fixations.csv"
    fixations = read_fixations(fix_path) if fix_path.is_file() else []
    with Store(db) as store:
        sid = store.create_session(
            study,
            reader,
            source="import",
            geometry=geometry,
            metadata={
                "imported_from": str(gaze_csv),
                "original": {k: meta.get(k) for k in ("id", "source", "started_at", "study_uid", "reader")}
                if meta
                else {},
            },
            t0_us=origin,
        )
        store.append_samples(sid, samples)
        store.append_events(sid, [viewport_event(v) for v in vps])
        if fixations:
            store.save_fixations(sid, fixations, method="imported")
        if meta.get("calibration"):
            store.set_calibration(sid, meta["calibration"])
        store.finish_session(sid, SessionStatus.COMPLETED)
    return sid


# ---------------------------------------------------------------------- command line


def register(sub: argparse._SubParsersAction) -> None:
    from ml.store.schema import SessionStatus

    p = sub.add_parser("session", help="list, export, import or recover recorded gaze sessions")
    p.add_argument("--db", type=Path, default=None, help="database file (default: the workstation's)")
    ss = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    q = ss.add_parser("list", help="list sessions")
    q.add_argument("--study", default=None, help="only this study uid")
    q.add_argument("--status", default=None, choices=SessionStatus.values())
    q.add_argument("--json", action="store_true", help="one JSON object per line")

    q = ss.add_parser("export", help="write a session as REFLACX gaze.csv + fixations.csv")
    q.add_argument("session_id", type=int)
    q.add_argument("out_dir", type=Path)
    q.add_argument("--velocity", type=float, default=30.0, help="I-VT threshold in deg/s (default 30)")

    q = ss.add_parser("import", help="store a gaze.csv (+ fixations.csv) folder as a session")
    q.add_argument("path", type=Path, help="a folder with gaze.csv, or the gaze.csv itself")
    q.add_argument("--study", required=True, help="study uid the reading belongs to")
    q.add_argument("--reader", required=True, help="reader name")
    q.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), default=None)
    q.add_argument("--image-id", default=None)

    q = ss.add_parser("recover", help="close sessions whose recorder died (marked 'interrupted')")
    q.add_argument("--stale-after", type=float, default=30.0, help="seconds without a commit (default 30)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml.gaze.io import GazeFileError
    from ml.gaze.sources.base import SourceError
    from ml.store import Store, StoreError, default_db_path

    db = args.db or default_db_path()
    try:
        if args.action == "list":
            if not Path(db).is_file():
                print(f"no database at {db}", file=sys.stderr)
                return 1
            with Store(db, read_only=True) as store:
                sessions = store.sessions(study=args.study, status=args.status)
            for s in sessions:
                if args.json:
                    print(
                        json.dumps(
                            {k: v for k, v in asdict(s).items() if k not in ("calibration",)}, default=str
                        )
                    )
                else:
                    print(
                        f"{s.id:5d}  {s.status:11s}  {s.study_uid[:24]:24s}  {s.reader[:12]:12s}  {s.source:7s}"
                        f"  {s.sample_count:8d} samples  {s.dropped_count} dropped  {s.started_at}"
                    )
            return 0
        if args.action == "export":
            res = export_session(db, args.session_id, args.out_dir, velocity_threshold=args.velocity)
            print(
                f"{res.gaze_csv} ({res.n_samples} samples)\n{res.fixations_csv} ({res.n_fixations} fixations)"
            )
            return 0
        if args.action == "import":
            size = tuple(args.image_size) if args.image_size else None
            sid = import_session(
                db, args.path, study=args.study, reader=args.reader, image_size=size, image_id=args.image_id
            )
            print(sid)
            return 0
        if args.action == "recover":
            with Store(db) as store:
                ids = store.recover_interrupted(stale_after=args.stale_after)
            print(
                f"recovered {len(ids)} interrupted session(s)"
                + (f": {', '.join(map(str, ids))}" if ids else "")
            )
            return 0
    except (StoreError, GazeFileError, SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2
