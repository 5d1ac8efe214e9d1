"""The thin path: open a radiograph, the draft streams from a backend into the editor, no stalls."""

from __future__ import annotations

import pytest

from app.backend.launcher import BackendManager, BackendState
from app.main_window import MainWindow
from app.report.editor import parse_report
from app.settings import WorkstationSettings
from tests.app.fake_backend import REPORT


def make_window(qtbot, fake_backend, **kw) -> MainWindow:
    settings = WorkstationSettings(
        backend_url=fake_backend.url, backend_token=fake_backend.token, user_name="Dr Test", reader_confirmed=True
    )
    backend = BackendManager(fake_backend.url, fake_backend.token, poll_ms=200)
    win = MainWindow(settings, backend=backend, **kw)
    qtbot.addWidget(win)
    win.show()
    win.start_backend()
    qtbot.waitUntil(lambda: backend.state == BackendState.READY, timeout=5000)
    return win


def test_open_png_streams_draft_into_editor(qtbot, fake_backend, png_path, watchdog):
    win = make_window(qtbot, fake_backend)
    watchdog.reset()  # building the window is start-up; loading and generation are what must not stall
    tokens: list[str] = []
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000) as blocker:
        win.open_paths([str(png_path)])
        qtbot.waitUntil(lambda: win.drafting.stream is not None, timeout=5000)
        win.drafting.stream.token.connect(tokens.append)
    assert blocker.args[0].text.startswith("FINDINGS:")
    expected = parse_report(REPORT)
    assert expected.impression.startswith("Cardiomegaly")
    assert win.report.editor.report() == expected
    assert len(tokens) > 5  # it really streamed piece by piece
    assert fake_backend.requests[-1]["format"] == "png"
    assert fake_backend.requests[-1]["gaze"] is None  # no recorded gaze: predicted on the backend
    assert win.image is not None and win.image.size == (256, 256)
    assert "Draft ready" in win.report.state.text() and "redrafted" not in win.report.state.text()
    assert not watchdog.our_stalls(), watchdog.report()


def test_generation_error_is_shown_not_raised(qtbot, fake_backend, png_path):
    fake_backend.fail_generation = True
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_failed, timeout=15000) as blocker:
        win.open_paths([str(png_path)])
    assert "model exploded" in blocker.args[0]
    assert "model exploded" in win.report.state.text()
    assert not win.report.editor.streaming


def test_wrong_token_reports_401(qtbot, fake_backend, png_path):
    settings = WorkstationSettings(backend_url=fake_backend.url, backend_token="wrong")
    backend = BackendManager(fake_backend.url, "wrong", poll_ms=200)
    win = MainWindow(settings, backend=backend)
    qtbot.addWidget(win)
    win.start_backend()
    qtbot.waitUntil(lambda: backend.state == BackendState.READY, timeout=5000)  # health needs no token
    with qtbot.waitSignal(win.drafting.draft_failed, timeout=15000) as blocker:
        win.open_paths([str(png_path)])
    assert "401" in blocker.args[0]


def test_dead_backend_shows_banner_and_recovers(qtbot, fake_backend, png_path):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    fake_backend.dead = True
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=10000)
    assert "unreachable" in win.banner.label.text()
    fake_backend.dead = False
    win.banner.button.click()
    qtbot.waitUntil(lambda: win.backend.state == BackendState.READY and not win.banner.isVisible(), timeout=10000)


@pytest.mark.parametrize("kind", ["dicom"])
def test_open_dicom_keeps_raw_pixels_and_window(qtbot, fake_backend, dicom_path, kind):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(dicom_path)])
    v = win.view
    assert v.image.pixels.dtype.kind in "ui"
    assert v.display.array.dtype.name == "uint16"
    assert v.window.center == pytest.approx(2000.0) and v.window.width == pytest.approx(3000.0)
    assert any(k.startswith("DICOM") for k in v.presets())
    assert v.scale_bar is not None
