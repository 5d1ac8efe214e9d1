"""An out-of-domain draft: an unmistakable banner over the report, the image model's findings greyed,
the flag in the worklist, and the report still read, edited and signed as usual."""

from __future__ import annotations

from tests.app.test_thin_path import make_window

OUT = {"in_domain": False, "score": 3.4, "threshold": 2.0, "method": "mahalanobis"}


def test_an_out_of_domain_draft_shows_the_banner_and_greys_the_image_models_findings(qtbot, fake_backend, png_path):
    fake_backend.domain = OUT
    win = make_window(qtbot, fake_backend)
    banner = win.report.domain_banner
    at_first_token = []
    findings = win.report.editor.findings
    findings.textChanged.connect(
        lambda: at_first_token or not findings.toPlainText() or at_first_token.append(banner.isVisibleTo(win.report))
    )
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000) as blocker:
        win.open_paths([str(png_path)])
    draft = blocker.args[0]
    assert draft.domain is not None and not draft.domain.in_domain and draft.domain.method == "mahalanobis"
    assert at_first_token == [True]  # the early domain event puts the banner up before the text streams
    assert banner.isVisibleTo(win.report) and "unlike the model's training images" in banner.text()
    assert "unreliable" in banner.text() and "3.4" in banner.toolTip()
    text = win.report.suspected.text()
    assert "unreliable on this image" in text and "not in the draft" not in text
    qtbot.waitUntil(lambda: "⚠ out of domain" in win.worklist.list.item(0).text(), timeout=5000)
    assert win.act_sign.isEnabled() and not win.report.editor.findings.isReadOnly()
    win.report.editor.impression.setPlainText("Cardiomegaly. Out-of-domain draft checked by the reader.")
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    assert win.reading.signed


def test_an_in_domain_draft_shows_no_banner(qtbot, fake_backend, png_path):
    fake_backend.domain = dict(OUT, in_domain=True, score=0.7)
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    assert not win.report.domain_banner.isVisibleTo(win.report)
    qtbot.waitUntil(lambda: "draft ready" in win.worklist.list.item(0).text(), timeout=5000)
    assert "out of domain" not in win.worklist.list.item(0).text()
    assert "⚠ lung lesion" in win.report.suspected.text()
