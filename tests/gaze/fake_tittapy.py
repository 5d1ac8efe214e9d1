"""A faithful fake of TittaPy's ``TittaPy_v2`` module (tittapy 2.1.0), for the recording tests.

Same module functions, enums (names and values), ``EyeTracker`` attributes, properties (read-only
or settable) and call signatures (parameter names and defaults) as the real extension module;
``tests/gaze/test_sources_titta.py`` checks that against the installed wheel by introspection, so
the fake cannot drift from it. Behaviour follows Titta's rules:

* ``find_all_eye_trackers()`` returns a list of dicts (``address``, ``model``, ``device_name``,
  ``serial_number``, ``frequency``, ``tracking_mode``, ``supported_frequencies``...);
  ``EyeTracker(address)`` raises ``RuntimeError`` for an unknown address, as Titta does.
* ``start(stream)`` / ``stop(stream, clear_buffer=None)`` / ``is_recording(stream)``; samples land
  in per-stream buffers; ``consume_N(stream, N_samples=None, side=None)`` removes and returns them
  as a dict of columns (numpy arrays; enums in lists) with Titta's keys, ``peek_N`` leaves them.
* Setting ``frequency`` or ``tracking_mode`` to an unsupported value raises ``RuntimeError``.
* Calibration is asynchronous as in Titta: ``enter_calibration_mode``, ``calibration_collect_data``,
  ``calibration_discard_data``, ``calibration_compute_and_apply`` queue work; each finished item
  is returned once by ``calibration_retrieve_result()`` (``None`` until then).

Test controls that TittaPy does not have are prefixed ``fake_`` (add a tracker, emit samples from a
background thread like the SDK's, drop and restore the connection, set the simulated eyes' error).
Streams the workstation does not use (eye images, external signal, time sync, positioning) have
empty buffers: they start and stop but never produce samples.
"""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from typing import Any

import numpy as np

__version__ = "2.1.0-fake"


class calibration_action(enum.Enum):  # noqa: N801 - the real module's names
    nothing = 0
    enter = 1
    collect_data = 2
    discard_data = 3
    compute = 4
    get_calibration_data = 5
    apply_calibration_data = 6
    exit = 7


class calibration_eye_validity(enum.Enum):  # noqa: N801
    invalid_and_not_used = -1
    valid_but_not_used = 0
    valid_and_used = 1
    unknown = 2


class calibration_state(enum.Enum):  # noqa: N801
    not_yet_entered = 0
    awaiting_cal_point = 1
    collecting_data = 2
    discarding_data = 3
    computing = 4
    getting_calibration_data = 5
    applying_calibration_data = 6
    left = 7


class calibration_status(enum.Enum):  # noqa: N801
    failure = 0
    success = 1
    success_left_eye = 2
    success_right_eye = 3


class capability(enum.Enum):  # noqa: N801
    can_set_display_area = 1
    has_external_signal = 2
    has_eye_images = 4
    has_gaze_data = 8
    can_do_screen_based_calibration = 32
    can_do_monocular_calibration = 256
    has_eye_openness_data = 512


class external_signal_change_type(enum.Enum):  # noqa: N801
    value_changed = 0
    initial_value = 1
    connection_restored = 2


class eye_image_type(enum.Enum):  # noqa: N801
    full_image = 0
    cropped_image = 1
    multi_roi_image = 2
    unknown = 3


class license_validation_result(enum.Enum):  # noqa: N801
    ok = 0
    tampered = 1
    invalid_application_signature = 2
    nonsigned_application = 3
    expired = 4
    premature = 5
    invalid_process_name = 6
    invalid_serial_number = 7
    invalid_model = 8
    unknown = 9


class log_level(enum.Enum):  # noqa: N801
    error = 0
    warning = 1
    information = 2
    debug = 3
    trace = 4


class log_source(enum.Enum):  # noqa: N801
    stream_engine = 0
    SDK = 1
    firmware_upgrade = 2


class notification_type(enum.Enum):  # noqa: N801
    connection_lost = 0
    connection_restored = 1
    calibration_mode_entered = 2
    calibration_mode_left = 3
    calibration_changed = 4
    display_area_changed = 5
    gaze_output_frequency_changed = 6
    eye_tracking_mode_changed = 7
    device_faults = 8
    device_warnings = 9
    stream_buffer_overflow = 10
    notification_unknown = 11


class selected_eye(enum.Enum):  # noqa: N801
    left = 0
    right = 1
    both = 2


class stream_error(enum.Enum):  # noqa: N801
    connection_lost = 0
    insufficient_license = 1
    not_supported = 2
    too_many_subscribers = 3
    internal_error = 4
    user_error = 5


class stream_error_source(enum.Enum):  # noqa: N801
    user = 0
    stream_pump = 1
    subscription_gaze_data = 2
    subscription_external_signal = 3
    subscription_time_synchronization_data = 4
    subscription_eye_image = 5
    subscription_notification = 6
    subscription_user_position_guide = 7


# ----------------------------------------------------------------------------- module functions
_TRACKERS: dict[str, dict[str, Any]] = {}
_LOG: list[dict[str, Any]] = []
_LOGGING = False


def get_SDK_version() -> str:  # noqa: N802 - the real module's name
    return "2.1.0.1"


def get_system_timestamp() -> int:
    """The SDK's system clock: monotonic µs (what the real one returns on Linux)."""
    return time.monotonic_ns() // 1000


def find_all_eye_trackers() -> list:
    return [dict(t["info"]) for t in _TRACKERS.values()]


def get_eye_tracker_from_address(arg0: str) -> dict:
    if arg0 not in _TRACKERS:
        raise RuntimeError(f'Titta::cpp Error: Titta::cpp: Cannot get eye tracker "{arg0}"')
    return dict(_TRACKERS[arg0]["info"])


def start_logging(initial_buffer_size: int | None = None) -> bool:
    global _LOGGING
    _LOGGING = True
    return True


def get_log(clear_log: bool = None) -> list:
    out = list(_LOG)
    if clear_log is None or clear_log:
        _LOG.clear()
    return out


def stop_logging() -> bool:
    global _LOGGING
    _LOGGING = False
    return True


# ----------------------------------------------------------------------------- columns
def _gaze_keys() -> list[str]:
    keys = ["device_time_stamp", "system_time_stamp"]
    for side in ("left", "right"):
        keys += [f"{side}_gaze_point_on_display_area_{c}" for c in "xy"]
        keys += [f"{side}_gaze_point_in_user_coordinates_{c}" for c in "xyz"]
        keys += [f"{side}_gaze_point_valid", f"{side}_gaze_point_available"]
        keys += [f"{side}_pupil_diameter", f"{side}_pupil_valid", f"{side}_pupil_available"]
        keys += [f"{side}_gaze_origin_in_user_coordinates_{c}" for c in "xyz"]
        keys += [f"{side}_gaze_origin_in_track_box_coordinates_{c}" for c in "xyz"]
        keys += [f"{side}_gaze_origin_valid", f"{side}_gaze_origin_available"]
        keys += [f"{side}_eye_openness_diameter", f"{side}_eye_openness_valid", f"{side}_eye_openness_available"]
    return keys


_GAZE_KEYS = _gaze_keys()
_NOTIFICATION_KEYS = ["system_time_stamp", "notification_type", "output_frequency", "display_area", "errors_or_warnings"]
_LIST_KEYS = {"notification_type", "output_frequency", "display_area", "errors_or_warnings"}
_STREAMS = ("gaze", "eye_openness", "eye_image", "external_signal", "time_sync", "positioning", "notification")


def _columns(stream: str, rows: list[dict[str, Any]]) -> dict:
    keys = _GAZE_KEYS if stream in ("gaze", "eye_openness") else _NOTIFICATION_KEYS if stream == "notification" else []
    out: dict[str, Any] = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if k in _LIST_KEYS:
            out[k] = vals
        elif k.endswith(("_valid", "_available")):
            out[k] = np.array(vals, dtype=bool)
        elif k.endswith("time_stamp"):
            out[k] = np.array(vals, dtype=np.int64)
        else:
            out[k] = np.array([math.nan if v is None else v for v in vals], dtype=np.float32)
    return out


def _stream_name(stream: Any) -> str:
    name = str(getattr(stream, "name", stream))
    if name not in _STREAMS:
        raise RuntimeError(f"Titta::cpp: Requested stream \"{name}\" is not recognized")
    return name


class EyeTracker:
    """One connected tracker (the fake's state lives in the module's registry by address)."""

    class stream(enum.Enum):  # noqa: N801
        gaze = 1
        eye_openness = 2
        eye_image = 3
        external_signal = 4
        time_sync = 5
        positioning = 6
        notification = 7

    class buffer_side(enum.Enum):  # noqa: N801
        start = 1
        end = 2

    def __init__(self, address: str) -> None:
        if address not in _TRACKERS:
            raise RuntimeError(
                f'Titta::cpp Error: Titta::cpp: Cannot get eye tracker "{address}"\n'
                "Error code: 204: TOBII_RESEARCH_STATUS_SE_CONNECTION_FAILED (Connection to the device failed)"
            )
        self._t = _TRACKERS[address]
        self._t["handles"].append(self)
        self._lock = threading.Lock()
        self._buffers: dict[str, list[dict[str, Any]]] = {s: [] for s in _STREAMS}
        self._recording: set[str] = set()
        self._cal_state = calibration_state.not_yet_entered
        self._cal_results: list[dict[str, Any]] = []
        self._cal_points: dict[tuple[float, float], int] = {}

    def __repr__(self) -> str:
        i = self._t["info"]
        return f"<{i['model']} ({i['serial_number']}, {i['device_name']}) @{i['frequency']:.0f} Hz at '{i['address']}'>"

    # ------------------------------------------------------------------ properties
    info = property(lambda self: dict(self._t["info"]))
    address = property(lambda self: self._t["info"]["address"])
    model = property(lambda self: self._t["info"]["model"])
    serial_number = property(lambda self: self._t["info"]["serial_number"])
    firmware_version = property(lambda self: self._t["info"]["firmware_version"])
    runtime_version = property(lambda self: self._t["info"]["runtime_version"])
    capabilities = property(lambda self: list(self._t["info"]["capabilities"]))
    supported_frequencies = property(lambda self: list(self._t["info"]["supported_frequencies"]))
    supported_modes = property(lambda self: list(self._t["info"]["supported_modes"]))

    @property
    def device_name(self) -> str:
        return self._t["info"]["device_name"]

    @device_name.setter
    def device_name(self, value: str) -> None:
        self._t["info"]["device_name"] = str(value)

    @property
    def display_area(self) -> dict:
        return dict(self._t["display_area"])

    @display_area.setter
    def display_area(self, value: dict) -> None:
        self._t["display_area"] = dict(value)

    @property
    def frequency(self) -> float:
        return self._t["info"]["frequency"]

    @frequency.setter
    def frequency(self, value: float) -> None:
        if float(value) not in self._t["info"]["supported_frequencies"]:
            raise RuntimeError(f"Titta::cpp: Cannot set frequency to {value}: not supported")
        self._t["info"]["frequency"] = float(value)

    @property
    def tracking_mode(self) -> str:
        return self._t["info"]["tracking_mode"]

    @tracking_mode.setter
    def tracking_mode(self, value: str) -> None:
        if value not in self._t["info"]["supported_modes"]:
            raise RuntimeError(f"Titta::cpp: Cannot set tracking mode to {value}: not supported")
        self._t["info"]["tracking_mode"] = value

    # ------------------------------------------------------------------ licences
    def apply_licenses(self, licenses: list) -> list:
        return [license_validation_result.ok for _ in licenses]

    def clear_licenses(self) -> None:
        return None

    # ------------------------------------------------------------------ streams
    def has_stream(self, stream: Any) -> bool:
        name = _stream_name(stream)
        return name in ("gaze", "notification", "time_sync", "positioning", "eye_openness")

    def set_include_eye_openness_in_gaze(self, include: bool) -> bool:
        return True

    def start(self, stream: Any, initial_buffer_size: int | None = None, as_gif: bool | None = None) -> bool:
        name = _stream_name(stream)
        if not self._t["connected"] and name == "gaze":
            return False
        self._recording.add(name)
        return True

    def is_recording(self, stream: Any) -> bool:
        return _stream_name(stream) in self._recording

    def stop(self, stream: Any, clear_buffer: bool | None = None) -> bool:
        name = _stream_name(stream)
        was = name in self._recording
        self._recording.discard(name)
        if clear_buffer:
            self.clear(name)
        return was

    def clear(self, stream: Any) -> None:
        with self._lock:
            self._buffers[_stream_name(stream)].clear()

    def clear_time_range(self, stream: Any, time_start: int | None = None, time_end: int | None = None) -> None:
        self.consume_time_range(stream, time_start, time_end)

    def _take(self, stream: Any, n: int | None, side: Any, remove: bool, default_side: str, default_n: int | None) -> dict:
        name = _stream_name(stream)
        side_name = str(getattr(side, "name", side)) if side is not None else default_side
        with self._lock:
            buf = self._buffers[name]
            k = len(buf) if (n if n is not None else default_n) is None else min(len(buf), n if n is not None else default_n)
            if side_name == "start":
                rows = buf[:k]
                if remove:
                    del buf[:k]
            else:
                rows = buf[len(buf) - k :]
                if remove:
                    del buf[len(buf) - k :]
        return _columns(name, rows)

    def consume_N(self, stream: Any, N_samples: int | None = None, side: Any = None) -> dict:  # noqa: N802, N803
        return self._take(stream, N_samples, side, True, "start", None)

    def peek_N(self, stream: Any, N_samples: int | None = None, side: Any = None) -> dict:  # noqa: N802, N803
        return self._take(stream, N_samples, side, False, "end", 1)

    def _range(self, stream: Any, time_start: int | None, time_end: int | None, remove: bool) -> dict:
        name = _stream_name(stream)
        lo = -math.inf if time_start is None else time_start
        hi = math.inf if time_end is None else time_end
        with self._lock:
            buf = self._buffers[name]
            rows = [r for r in buf if lo <= r["system_time_stamp"] <= hi]
            if remove:
                self._buffers[name] = [r for r in buf if not lo <= r["system_time_stamp"] <= hi]
        return _columns(name, rows)

    def consume_time_range(self, stream: Any, time_start: int | None = None, time_end: int | None = None) -> dict:
        return self._range(stream, time_start, time_end, True)

    def peek_time_range(self, stream: Any, time_start: int | None = None, time_end: int | None = None) -> dict:
        return self._range(stream, time_start, time_end, False)

    # ------------------------------------------------------------------ calibration (asynchronous)
    def enter_calibration_mode(self, do_monocular: bool) -> bool:
        if self._cal_state not in (calibration_state.not_yet_entered, calibration_state.left):
            return False
        self._cal_state = calibration_state.awaiting_cal_point
        self._cal_points.clear()
        self._finish({"action": calibration_action.enter})
        self._note(notification_type.calibration_mode_entered)
        return True

    def is_in_calibration_mode(self, issue_error_if_not_: bool | None = None) -> bool:
        inside = self._cal_state not in (calibration_state.not_yet_entered, calibration_state.left)
        if not inside and issue_error_if_not_:
            raise RuntimeError("Titta::cpp: You have not entered calibration mode")
        return inside

    def leave_calibration_mode(self, force: bool | None = None) -> bool:
        if not self.is_in_calibration_mode() and not force:
            return False
        self._cal_state = calibration_state.left
        self._finish({"action": calibration_action.exit})
        self._note(notification_type.calibration_mode_left)
        return True

    def calibration_collect_data(self, coordinates: list, eye: str | None = None) -> None:
        self.is_in_calibration_mode(True)
        x, y = (float(c) for c in coordinates)
        item = {"action": calibration_action.collect_data, "coordinates": [x, y]}
        if self._t["fail_points"] and (x, y) in self._t["fail_points"]:
            self._finish(item, status=1, status_string="TOBII_RESEARCH_STATUS_INTERNAL_ERROR")
            return
        self._cal_points[(x, y)] = self._cal_points.get((x, y), 0) + 1
        self._finish(item)

    def calibration_discard_data(self, coordinates: list, eye: str | None = None) -> None:
        self.is_in_calibration_mode(True)
        x, y = (float(c) for c in coordinates)
        self._cal_points.pop((x, y), None)
        self._finish({"action": calibration_action.discard_data, "coordinates": [x, y]})

    def calibration_compute_and_apply(self) -> None:
        self.is_in_calibration_mode(True)
        rng = random.Random(7)
        points = []
        for (x, y), _ in sorted(self._cal_points.items()):
            d: dict[str, Any] = {"position_on_display_area_x": x, "position_on_display_area_y": y}
            for side in ("left", "right"):
                ox, oy = self._t["eye_offset"][side]
                xs = [x + ox + rng.gauss(0, 0.002) for _ in range(8)]
                ys = [y + oy + rng.gauss(0, 0.002) for _ in range(8)]
                d[f"samples_{side}_position_on_display_area_x"] = np.array(xs, dtype=np.float32)
                d[f"samples_{side}_position_on_display_area_y"] = np.array(ys, dtype=np.float32)
                d[f"samples_{side}_validity"] = [calibration_eye_validity.valid_and_used] * 8
            points.append(d)
        status = calibration_status.success if points else calibration_status.failure
        self._finish({"action": calibration_action.compute}, calibration_result={"points": points, "status": status})

    def calibration_get_data(self) -> None:
        self._finish({"action": calibration_action.get_calibration_data}, calibration_data=[1, 2, 3])

    def calibration_apply_data(self, cal_data: list) -> None:
        self._finish({"action": calibration_action.apply_calibration_data, "calibration_data": list(cal_data)})

    def calibration_get_status(self) -> calibration_state:
        return self._cal_state

    def calibration_retrieve_result(self) -> dict | None:
        with self._lock:
            return self._cal_results.pop(0) if self._cal_results else None

    def _finish(self, work_item: dict, status: int = 0, status_string: str = "TOBII_RESEARCH_STATUS_OK", **extra: Any) -> None:
        with self._lock:
            self._cal_results.append({"work_item": work_item, "status": status, "status_string": status_string, **extra})

    # ------------------------------------------------------------------ delivery from the fake's thread
    def _note(self, kind: notification_type, t: int | None = None) -> None:
        if "notification" in self._recording:
            row = {"system_time_stamp": get_system_timestamp() if t is None else t, "notification_type": kind}
            with self._lock:
                self._buffers["notification"].append(row)

    def _push_gaze(self, row: dict[str, Any]) -> None:
        if "gaze" in self._recording:
            with self._lock:
                self._buffers["gaze"].append(row)


# ----------------------------------------------------------------------------- test controls
def fake_add_tracker(
    address: str = "tobii-prp://TPSP1-010109144",
    *,
    model: str = "Tobii Pro Spectrum",
    serial_number: str = "TPSP1-010109144",
    device_name: str = "Spectrum",
    frequency: float = 1200.0,
    supported_frequencies: tuple[float, ...] = (60.0, 120.0, 150.0, 300.0, 600.0, 1200.0),
    supported_modes: tuple[str, ...] = ("human", "monkey", "great_ape", "small_monkey"),
) -> str:
    _TRACKERS[address] = {
        "info": {
            "device_name": device_name,
            "serial_number": serial_number,
            "model": model,
            "firmware_version": "2.6.1",
            "runtime_version": "2.6.1",
            "address": address,
            "frequency": float(frequency),
            "tracking_mode": supported_modes[0],
            "capabilities": [capability.has_gaze_data, capability.can_do_screen_based_calibration],
            "supported_frequencies": [float(f) for f in supported_frequencies],
            "supported_modes": list(supported_modes),
        },
        "display_area": {"width": 527.0, "height": 296.5},
        "handles": [],
        "connected": True,
        "eye_offset": {"left": (0.0, 0.0), "right": (0.0, 0.0)},
        "fail_points": set(),
    }
    return address


def fake_reset() -> None:
    _TRACKERS.clear()
    _LOG.clear()


def fake_row(
    t: int, left: tuple[float, float] | None, right: tuple[float, float] | None, *, left_pupil: float = 3.0, right_pupil: float = 3.2, device_offset: int = 123
) -> dict[str, Any]:
    """One gaze row as Titta's buffer holds it; an eye given as None is invalid (NaN, validity 0)."""
    row: dict[str, Any] = {"system_time_stamp": int(t), "device_time_stamp": int(t) + device_offset}
    for side, p, pupil in (("left", left, left_pupil), ("right", right, right_pupil)):
        ok = p is not None
        row[f"{side}_gaze_point_on_display_area_x"] = p[0] if ok else math.nan
        row[f"{side}_gaze_point_on_display_area_y"] = p[1] if ok else math.nan
        row[f"{side}_gaze_point_valid"] = ok
        row[f"{side}_gaze_point_available"] = True
        row[f"{side}_pupil_diameter"] = pupil if ok else math.nan
        row[f"{side}_pupil_valid"] = ok
        row[f"{side}_pupil_available"] = True
        for k in _GAZE_KEYS:
            if k.startswith(side) and k not in row:
                row[k] = ok if k.endswith(("_valid", "_available")) else (0.5 if ok else math.nan)
    return row


def fake_push(address: str, rows: list[dict[str, Any]]) -> None:
    """Put rows into every open handle's gaze buffer (what the SDK thread does)."""
    for h in _TRACKERS[address]["handles"]:
        for r in rows:
            h._push_gaze(dict(r))


def fake_emit(address: str, rows: list[dict[str, Any]], rate: float) -> threading.Thread:
    """Deliver rows from a background thread at ``rate`` Hz (in 10 ms batches), like the SDK."""

    def run() -> None:
        per = max(1, int(rate / 100))
        t0 = time.perf_counter()
        for i in range(0, len(rows), per):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            fake_push(address, rows[i : i + per])

    th = threading.Thread(target=run, name="fake-titta-sdk", daemon=True)
    th.start()
    return th


def fake_connection(address: str, connected: bool) -> None:
    """Drop (False) or restore (True) the tracker's connection: a notification on every handle."""
    t = _TRACKERS[address]
    t["connected"] = connected
    kind = notification_type.connection_restored if connected else notification_type.connection_lost
    for h in t["handles"]:
        h._note(kind)


def fake_set_eye_offset(address: str, left: tuple[float, float], right: tuple[float, float]) -> None:
    """The simulated eyes' calibration error, in normalised display units."""
    _TRACKERS[address]["eye_offset"] = {"left": left, "right": right}


def fake_fail_point(address: str, point: tuple[float, float]) -> None:
    """Collecting at this point fails (status != OK), as with a participant looking away."""
    _TRACKERS[address]["fail_points"].add((float(point[0]), float(point[1])))
