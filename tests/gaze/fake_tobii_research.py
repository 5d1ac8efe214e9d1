"""A faithful fake of the Tobii Pro SDK's ``tobii_research`` module (modelled on tobii-research 2.1.0).

Same names, constants (string values copied from the SDK), error classes, dictionary keys and
calling rules as the real module, so the adapter under test cannot tell the difference:

* ``find_all_eyetrackers()`` returns a tuple of :class:`EyeTracker`; ``EyeTracker(address)``
  raises ``EyeTrackerConnectionFailedError`` for an unknown address.
* ``EyeTracker.subscribe_to(type, callback, as_dictionary=False)`` raises ``ValueError`` for a
  non-callable callback or unknown type and ``EyeTrackerInvalidOperationError`` when the same
  callback subscribes twice; ``unsubscribe_from(type, callback=None)``.
* Gaze data dictionaries carry the SDK's keys (``left_gaze_point_on_display_area`` ...
  ``system_time_stamp``); invalid eyes have ``(nan, nan)`` points, validity ``0`` and NaN pupils,
  exactly like the SDK. Without ``as_dictionary`` the callback gets a :class:`GazeData` object.
* Notifications (connection lost/restored) arrive as dicts with ``system_time_stamp``.
* ``ScreenBasedCalibration`` needs an EyeTracker with the screen-based calibration capability and
  follows the SDK's state rules (``enter_calibration_mode`` twice → invalid operation, collecting
  outside calibration mode → invalid operation); ``compute_and_apply`` returns a
  ``CalibrationResult`` whose points hold per-eye ``CalibrationSample`` objects.

Test controls that the SDK does not have are prefixed ``fake_`` (add a tracker, emit samples from
a background thread like the SDK's, drop the connection, set the simulated eyes' error).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__version__ = "2.1.0-fake"

# ----------------------------------------------------------------------------- capabilities
CAPABILITY_CAN_SET_DISPLAY_AREA = "capability_can_set_display_area"
CAPABILITY_HAS_EXTERNAL_SIGNAL = "capability_has_external_signal"
CAPABILITY_HAS_EYE_IMAGES = "capability_has_eye_images"
CAPABILITY_HAS_GAZE_DATA = "capability_has_gaze_data"
CAPABILITY_CAN_DO_SCREEN_BASED_CALIBRATION = "capability_can_do_screen_based_calibration"
CAPABILITY_CAN_DO_MONOCULAR_CALIBRATION = "capability_can_do_monocular_calibration"
CAPABILITY_HAS_EYE_OPENNESS_DATA = "capability_has_eye_openness_data"

# ----------------------------------------------------------------------------- subscriptions
EYETRACKER_EXTERNAL_SIGNAL = "eyetracker_external_signal"
EYETRACKER_EYE_IMAGES = "eyetracker_eye_images"
EYETRACKER_GAZE_DATA = "eyetracker_gaze_data"
EYETRACKER_USER_POSITION_GUIDE = "eyetracker_user_position_guide"
EYETRACKER_NOTIFICATION_CALIBRATION_MODE_ENTERED = "eyetracker_notification_calibration_mode_entered"
EYETRACKER_NOTIFICATION_CALIBRATION_MODE_LEFT = "eyetracker_notification_calibration_mode_left"
EYETRACKER_NOTIFICATION_CALIBRATION_CHANGED = "eyetracker_notification_calibration_changed"
EYETRACKER_NOTIFICATION_CONNECTION_LOST = "eyetracker_notification_connection_lost"
EYETRACKER_NOTIFICATION_CONNECTION_RESTORED = "eyetracker_notification_connection_restored"
EYETRACKER_NOTIFICATION_DISPLAY_AREA_CHANGED = "eyetracker_notification_display_area_changed"
EYETRACKER_NOTIFICATION_GAZE_OUTPUT_FREQUENCY_CHANGED = (
    "eyetracker_notification_gaze_output_frequency_changed"
)
EYETRACKER_NOTIFICATION_EYE_TRACKING_MODE_CHANGED = "eyetracker_notification_eye_tracking_mode_changed"
EYETRACKER_NOTIFICATION_DEVICE_FAULTS = "eyetracker_notification_device_faults"
EYETRACKER_NOTIFICATION_DEVICE_WARNINGS = "eyetracker_notification_device_warnings"
EYETRACKER_NOTIFICATION_STREAM_BUFFER_OVERFLOW = "eyetracker_notification_stream_buffer_overflow"
EYETRACKER_STREAM_ERRORS = "eyetracker_stream_errors"
EYETRACKER_TIME_SYNCHRONIZATION_DATA = "eyetracker_time_synchronization_data"
EYETRACKER_EYE_OPENNESS_DATA = "eyetracker_eye_openness_data"

_NOTIFICATIONS = {
    EYETRACKER_NOTIFICATION_CALIBRATION_MODE_ENTERED,
    EYETRACKER_NOTIFICATION_CALIBRATION_MODE_LEFT,
    EYETRACKER_NOTIFICATION_CALIBRATION_CHANGED,
    EYETRACKER_NOTIFICATION_CONNECTION_LOST,
    EYETRACKER_NOTIFICATION_CONNECTION_RESTORED,
    EYETRACKER_NOTIFICATION_DISPLAY_AREA_CHANGED,
    EYETRACKER_NOTIFICATION_GAZE_OUTPUT_FREQUENCY_CHANGED,
    EYETRACKER_NOTIFICATION_EYE_TRACKING_MODE_CHANGED,
    EYETRACKER_NOTIFICATION_DEVICE_FAULTS,
    EYETRACKER_NOTIFICATION_DEVICE_WARNINGS,
    EYETRACKER_NOTIFICATION_STREAM_BUFFER_OVERFLOW,
}
_STREAMS = {
    EYETRACKER_EXTERNAL_SIGNAL,
    EYETRACKER_EYE_IMAGES,
    EYETRACKER_GAZE_DATA,
    EYETRACKER_USER_POSITION_GUIDE,
    EYETRACKER_STREAM_ERRORS,
    EYETRACKER_TIME_SYNCHRONIZATION_DATA,
    EYETRACKER_EYE_OPENNESS_DATA,
}

# ----------------------------------------------------------------------------- calibration constants
CALIBRATION_STATUS_FAILURE = "calibration_status_failure"
CALIBRATION_STATUS_SUCCESS = "calibration_status_success"
CALIBRATION_STATUS_SUCCESS_LEFT_EYE = "calibration_status_success_left_eye"
CALIBRATION_STATUS_SUCCESS_RIGHT_EYE = "calibration_status_success_right_eye"
VALIDITY_INVALID_AND_NOT_USED = "validity_invalid_and_not_used"
VALIDITY_VALID_BUT_NOT_USED = "validity_valid_but_not_used"
VALIDITY_VALID_AND_USED = "validity_valid_and_used"


# ----------------------------------------------------------------------------- errors (as in Errors.py)
class _ValueError(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return repr(self.value)


class EyeTrackerConnectionFailedError(_ValueError):
    pass


class EyeTrackerFeatureNotSupportedError(_ValueError):
    pass


class EyeTrackerInternalError(_ValueError):
    pass


class EyeTrackerInvalidOperationError(_ValueError):
    pass


class EyeTrackerLicenseError(_ValueError):
    pass


class EyeTrackerOperationFailedError(_ValueError):
    pass


class EyeTrackerUnavailableError(_ValueError):
    pass


# ----------------------------------------------------------------------------- time
def get_system_time_stamp() -> int:
    """The computer's clock in microseconds (the SDK uses a monotonic clock on Linux)."""
    return time.monotonic_ns() // 1000


# ----------------------------------------------------------------------------- data classes
class DisplayArea:
    def __init__(self, display_area: dict) -> None:
        if not isinstance(display_area, dict) or not all(
            isinstance(display_area.get(k), tuple) for k in ("bottom_left", "top_left", "top_right")
        ):
            raise ValueError("DisplayArea requires a dictionary with the coordinates of the display area")
        self.bottom_left = tuple(float(v) for v in display_area["bottom_left"])
        self.top_left = tuple(float(v) for v in display_area["top_left"])
        self.top_right = tuple(float(v) for v in display_area["top_right"])
        self.bottom_right = tuple(
            a - b + c for a, b, c in zip(self.top_right, self.top_left, self.bottom_left, strict=True)
        )
        self.width = sum((a - b) ** 2 for a, b in zip(self.top_left, self.top_right, strict=True)) ** 0.5
        self.height = sum((a - b) ** 2 for a, b in zip(self.top_left, self.bottom_left, strict=True)) ** 0.5


class _Eye:
    def __init__(self, data: dict, side: str) -> None:
        self.gaze_point = type(
            "GazePoint",
            (),
            {
                "position_on_display_area": data[f"{side}_gaze_point_on_display_area"],
                "position_in_user_coordinates": data[f"{side}_gaze_point_in_user_coordinate_system"],
                "validity": bool(data[f"{side}_gaze_point_validity"]),
            },
        )()
        self.pupil = type(
            "PupilData",
            (),
            {"diameter": data[f"{side}_pupil_diameter"], "validity": bool(data[f"{side}_pupil_validity"])},
        )()
        self.gaze_origin = type(
            "GazeOrigin",
            (),
            {
                "position_in_user_coordinates": data[f"{side}_gaze_origin_in_user_coordinate_system"],
                "validity": bool(data[f"{side}_gaze_origin_validity"]),
            },
        )()


class GazeData:
    """What a callback gets without ``as_dictionary``: objects, like the SDK's GazeData."""

    def __init__(self, data: dict) -> None:
        if not isinstance(data, dict):
            raise ValueError("You shouldn't create GazeData objects yourself.")
        self.left_eye = _Eye(data, "left")
        self.right_eye = _Eye(data, "right")
        self.device_time_stamp = data["device_time_stamp"]
        self.system_time_stamp = data["system_time_stamp"]


_NAN2 = (math.nan, math.nan)
_NAN3 = (math.nan, math.nan, math.nan)


def make_gaze_data(
    left: tuple[float, float] | None,
    right: tuple[float, float] | None,
    *,
    system_time_stamp: int,
    device_time_stamp: int | None = None,
    left_pupil: float | None = 3.5,
    right_pupil: float | None = 3.6,
) -> dict:
    """A gaze data dictionary exactly as the SDK builds it (``None`` = eye not found)."""

    def eye(side: str, point: tuple[float, float] | None, pupil: float | None) -> dict:
        ok = point is not None
        pupil_ok = ok and pupil is not None
        return {
            f"{side}_gaze_point_on_display_area": tuple(float(v) for v in point) if ok else _NAN2,
            f"{side}_gaze_point_in_user_coordinate_system": (0.0, 0.0, 0.0) if ok else _NAN3,
            f"{side}_gaze_point_validity": 1 if ok else 0,
            f"{side}_pupil_diameter": float(pupil) if pupil_ok else math.nan,
            f"{side}_pupil_validity": 1 if pupil_ok else 0,
            f"{side}_gaze_origin_in_user_coordinate_system": (30.0, 0.0, 600.0) if ok else _NAN3,
            f"{side}_gaze_origin_validity": 1 if ok else 0,
        }

    data = {}
    data.update(eye("left", left, left_pupil))
    data.update(eye("right", right, right_pupil))
    data["device_time_stamp"] = int(
        system_time_stamp + 1_000_000 if device_time_stamp is None else device_time_stamp
    )
    data["system_time_stamp"] = int(system_time_stamp)
    return data


# ----------------------------------------------------------------------------- the device registry
_TRACKERS: dict[str, dict] = {}
_LIVE: dict[str, EyeTracker] = {}


def fake_add_tracker(
    address: str = "tobii-prp://FAKE-0001",
    *,
    model: str = "Tobii Pro Spectrum",
    serial_number: str = "FAKE-0001",
    frequency: float = 1200.0,
    capabilities: Iterable[str] = (CAPABILITY_HAS_GAZE_DATA, CAPABILITY_CAN_DO_SCREEN_BASED_CALIBRATION),
) -> str:
    """Plug in a simulated tracker (what find_all_eyetrackers will then see)."""
    _TRACKERS[address] = {
        "address": address,
        "device_name": f"{model} ({serial_number})",
        "serial_number": serial_number,
        "model": model,
        "firmware_version": "2.6.3",
        "runtime_version": "2.6.3",
        "device_capabilities": tuple(capabilities),
        "frequency": float(frequency),
    }
    return address


def fake_reset() -> None:
    """Unplug every simulated tracker and stop their streams."""
    for tracker in list(_LIVE.values()):
        tracker.fake_stop_stream()
    _TRACKERS.clear()
    _LIVE.clear()


def find_all_eyetrackers() -> tuple:
    return tuple(EyeTracker(a) for a in _TRACKERS)


class EyeTracker:
    def __init__(self, address: str) -> None:
        if type(address) is not str:
            raise ValueError("An EyeTracker must be initialized with a URI.")
        if address not in _TRACKERS:
            raise EyeTrackerConnectionFailedError(
                "The connection to the eye tracker failed. se_connection_failed"
            )
        info = _TRACKERS[address]
        self._info = info
        self._subscriptions: dict[str, dict[Callable, bool]] = {}
        self._lock = threading.RLock()
        self._connected = True
        self._calibrating = False
        self._stream_thread: threading.Thread | None = None
        self._stream_stop = threading.Event()
        # the simulated eyes: constant offset (normalised units) + noise, per eye
        self.fake_eye_bias = {"left": (0.004, -0.003), "right": (-0.003, 0.002)}
        self.fake_eye_noise = 0.002
        self.fake_weak_points: set[tuple[float, float]] = set()
        self._collected: dict[tuple[float, float], list[tuple[tuple[float, float], tuple[float, float]]]] = {}
        self._rng = random.Random(0)
        _LIVE[address] = self

    # --------------------------------------------------------------- properties (read-only, like the SDK)
    address = property(lambda self: self._info["address"])
    device_name = property(lambda self: self._info["device_name"])
    serial_number = property(lambda self: self._info["serial_number"])
    model = property(lambda self: self._info["model"])
    firmware_version = property(lambda self: self._info["firmware_version"])
    runtime_version = property(lambda self: self._info["runtime_version"])
    device_capabilities = property(lambda self: self._info["device_capabilities"])

    def get_gaze_output_frequency(self) -> float:
        return self._info["frequency"]

    def get_all_gaze_output_frequencies(self) -> tuple:
        return (60.0, 120.0, 150.0, 300.0, 600.0, 1200.0)

    def set_gaze_output_frequency(self, frequency: float) -> None:
        if float(frequency) not in self.get_all_gaze_output_frequencies():
            raise ValueError("The value is out of bounds. out_of_bounds")
        self._info["frequency"] = float(frequency)

    def get_display_area(self) -> DisplayArea:
        return DisplayArea(
            {
                "top_left": (-264.0, 297.0, 0.0),
                "top_right": (264.0, 297.0, 0.0),
                "bottom_left": (-264.0, 0.0, 0.0),
            }
        )

    # --------------------------------------------------------------- subscriptions
    def subscribe_to(self, subscription_type: str, callback: Callable, as_dictionary: bool = False) -> None:
        if not callable(callback):
            raise ValueError("An invalid parameter has been sent to the API. invalid_parameter")
        if subscription_type not in _NOTIFICATIONS and subscription_type not in _STREAMS:
            raise ValueError("An invalid parameter has been sent to the API. invalid_parameter")
        with self._lock:
            subs = self._subscriptions.setdefault(subscription_type, {})
            if callback in subs:
                raise EyeTrackerInvalidOperationError(
                    "The operation is invalid in this context. invalid_operation"
                )
            subs[callback] = bool(as_dictionary)

    def unsubscribe_from(self, subscription_type: str, callback: Callable | None = None) -> None:
        if subscription_type not in _NOTIFICATIONS and subscription_type not in _STREAMS:
            raise ValueError("An invalid parameter has been sent to the API. invalid_parameter")
        with self._lock:
            subs = self._subscriptions.get(subscription_type)
            if subs is None:
                return
            if callback in subs:
                del subs[callback]
            if callback is None or not subs:
                del self._subscriptions[subscription_type]

    def fake_subscribers(self, subscription_type: str) -> int:
        with self._lock:
            return len(self._subscriptions.get(subscription_type, {}))

    def _dispatch(self, subscription_type: str, data: dict) -> None:
        with self._lock:
            subs = list(self._subscriptions.get(subscription_type, {}).items())
        for callback, as_dict in subs:
            if subscription_type == EYETRACKER_GAZE_DATA and not as_dict:
                callback(GazeData(data))
            else:
                callback(dict(data))

    # --------------------------------------------------------------- test controls
    def fake_emit_gaze(self, data: dict) -> None:
        """Deliver one gaze data dict to the subscribers (no-op while disconnected, like a device)."""
        if self._connected:
            self._dispatch(EYETRACKER_GAZE_DATA, data)

    def fake_start_stream(self, datas: Iterable[dict], rate_hz: float | None = None) -> threading.Thread:
        """Deliver ``datas`` from a background thread, as the SDK delivers from its own thread."""
        self._stream_stop.clear()

        def run() -> None:
            period = 1.0 / rate_hz if rate_hz else 0.0
            start = time.perf_counter()
            for i, data in enumerate(datas):
                if self._stream_stop.is_set():
                    return
                if period:
                    delay = start + i * period - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                self.fake_emit_gaze(data)

        self._stream_thread = threading.Thread(target=run, name="tobii-fake-stream", daemon=True)
        self._stream_thread.start()
        return self._stream_thread

    def fake_stop_stream(self) -> None:
        self._stream_stop.set()
        if self._stream_thread is not None and self._stream_thread is not threading.current_thread():
            self._stream_thread.join(timeout=5)

    def fake_lose_connection(self) -> None:
        self._connected = False
        self._dispatch(
            EYETRACKER_NOTIFICATION_CONNECTION_LOST,
            {
                "notification_type": EYETRACKER_NOTIFICATION_CONNECTION_LOST,
                "system_time_stamp": get_system_time_stamp(),
            },
        )

    def fake_restore_connection(self) -> None:
        self._connected = True
        self._dispatch(
            EYETRACKER_NOTIFICATION_CONNECTION_RESTORED,
            {
                "notification_type": EYETRACKER_NOTIFICATION_CONNECTION_RESTORED,
                "system_time_stamp": get_system_time_stamp(),
            },
        )


# ----------------------------------------------------------------------------- calibration
class CalibrationEyeData:
    def __init__(self, position_on_display_area: tuple, validity: str) -> None:
        self.position_on_display_area = position_on_display_area
        self.validity = validity


class CalibrationSample:
    def __init__(self, left_eye: CalibrationEyeData, right_eye: CalibrationEyeData) -> None:
        self.left_eye = left_eye
        self.right_eye = right_eye


class CalibrationPoint:
    def __init__(self, position_on_display_area: tuple, calibration_samples: tuple) -> None:
        self.position_on_display_area = position_on_display_area
        self.calibration_samples = calibration_samples


class CalibrationResult:
    def __init__(self, status: str, calibration_points: tuple) -> None:
        if status not in (
            CALIBRATION_STATUS_FAILURE,
            CALIBRATION_STATUS_SUCCESS,
            CALIBRATION_STATUS_SUCCESS_LEFT_EYE,
            CALIBRATION_STATUS_SUCCESS_RIGHT_EYE,
        ) or not isinstance(calibration_points, tuple):
            raise ValueError("You shouldn't create CalibrationResult objects yourself.")
        self.status = status
        self.calibration_points = calibration_points


class ScreenBasedCalibration:
    """Screen-based calibration with the SDK's state rules and a simulated pair of eyes."""

    SAMPLES_PER_POINT = 30  # about what a Spectrum collects in collect_data

    def __init__(self, eyetracker: EyeTracker) -> None:
        if not isinstance(eyetracker, EyeTracker):
            raise ValueError("A ScreenBasedCalibration object must be initialized with an EyeTracker.")
        if CAPABILITY_CAN_DO_SCREEN_BASED_CALIBRATION not in eyetracker.device_capabilities:
            raise ValueError(
                "A ScreenBasedCalibration object must be initialized with an EyeTracker "
                "that supports screen based calibration."
            )
        self._et = eyetracker

    def _check_connected(self) -> None:
        if not self._et._connected:
            raise EyeTrackerConnectionFailedError(
                "The connection to the eye tracker failed. se_connection_failed"
            )

    def enter_calibration_mode(self) -> None:
        self._check_connected()
        if self._et._calibrating:
            raise EyeTrackerInvalidOperationError(
                "The calibration has already been started. se_calibration_already_started"
            )
        self._et._calibrating = True
        self._et._collected = {}

    def leave_calibration_mode(self) -> None:
        self._check_connected()
        if not self._et._calibrating:
            raise EyeTrackerInvalidOperationError(
                "Calibration has not been started. se_calibration_not_started"
            )
        self._et._calibrating = False

    def collect_data(self, x: float, y: float) -> str:
        self._check_connected()
        if not self._et._calibrating:
            raise EyeTrackerInvalidOperationError(
                "Calibration has not been started. se_calibration_not_started"
            )
        x, y = float(x), float(y)
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError("The value is out of bounds. out_of_bounds")
        et = self._et
        weak = (round(x, 4), round(y, 4)) in et.fake_weak_points
        noise = et.fake_eye_noise * (20.0 if weak else 1.0)  # a restless participant
        pairs = []
        for _ in range(self.SAMPLES_PER_POINT):
            lb, rb = et.fake_eye_bias["left"], et.fake_eye_bias["right"]
            left = (x + lb[0] + et._rng.gauss(0, noise), y + lb[1] + et._rng.gauss(0, noise))
            right = (x + rb[0] + et._rng.gauss(0, noise), y + rb[1] + et._rng.gauss(0, noise))
            pairs.append((left, right))
        et._collected.setdefault((x, y), []).extend(pairs)
        return CALIBRATION_STATUS_SUCCESS

    def discard_data(self, x: float, y: float) -> None:
        self._check_connected()
        if not self._et._calibrating:
            raise EyeTrackerInvalidOperationError(
                "Calibration has not been started. se_calibration_not_started"
            )
        self._et._collected.pop((float(x), float(y)), None)

    def compute_and_apply(self) -> CalibrationResult:
        self._check_connected()
        if not self._et._calibrating:
            raise EyeTrackerInvalidOperationError(
                "Calibration has not been started. se_calibration_not_started"
            )
        collected = self._et._collected
        if len(collected) < 2:  # the real tracker cannot fit a model to fewer points
            return CalibrationResult(CALIBRATION_STATUS_FAILURE, ())
        points = []
        for pos, pairs in collected.items():
            samples = []
            for left, right in pairs:
                far_l = math.dist(left, pos) > 0.05
                far_r = math.dist(right, pos) > 0.05
                samples.append(
                    CalibrationSample(
                        CalibrationEyeData(
                            left, VALIDITY_VALID_BUT_NOT_USED if far_l else VALIDITY_VALID_AND_USED
                        ),
                        CalibrationEyeData(
                            right, VALIDITY_VALID_BUT_NOT_USED if far_r else VALIDITY_VALID_AND_USED
                        ),
                    )
                )
            points.append(CalibrationPoint(pos, tuple(samples)))
        self._et._calibration_changed = True
        return CalibrationResult(CALIBRATION_STATUS_SUCCESS, tuple(points))
