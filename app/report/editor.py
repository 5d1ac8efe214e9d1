"""The report panel: FINDINGS and IMPRESSION editors that a draft streams into, with status and actions.

Streaming: tokens are appended to a buffer and the buffer is re-split into sections with
``Report.parse`` (cheap for a few hundred characters), so the text lands in the right editor as
soon as the model writes ``IMPRESSION:``. Once the draft is complete the editors become the
radiologist's: every user edit marks the report as edited; signing makes both read-only.
"""

from __future__ import annotations

import re

from PySide6 import QtCore, QtGui, QtWidgets

from ml.types import Report

_INLINE_HEADER = re.compile(r"[ \t]*\b(FINDINGS|IMPRESSION)\s*:")
_LINE_HEADER = re.compile(r"^[ \t]*(findings?|impressions?)[ \t]*:", re.IGNORECASE | re.MULTILINE)


def parse_report(text: str) -> Report:
    """``Report.parse`` that also accepts what models write: upper-case headers inline, and
    "Findings:" / "Impressions:" in any case at the start of a line."""
    text = _LINE_HEADER.sub(
        lambda m: "FINDINGS:" if m.group(1).lower().startswith("f") else "IMPRESSION:", text
    )
    return Report.parse(_INLINE_HEADER.sub(lambda m: "\n" + m.group(1) + ":", text))


class SectionEdit(QtWidgets.QPlainTextEdit):
    """A plain-text section editor that grows with its text."""

    def __init__(self, placeholder: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setWordWrapMode(QtGui.QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setTabChangesFocus(True)


class ReportEditor(QtWidgets.QWidget):
    """FINDINGS + IMPRESSION editors with streaming, edit tracking and locking."""

    edited = QtCore.Signal()  # the user changed the text
    sentence_clicked = QtCore.Signal(str)  # the sentence under the caret (for annotation links)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.findings = SectionEdit("Findings appear here as the draft streams in…")
        self.impression = SectionEdit("Impression")
        self.findings.setObjectName("findingsEdit")
        self.impression.setObjectName("impressionEdit")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for title, edit, stretch in (("FINDINGS", self.findings, 3), ("IMPRESSION", self.impression, 1)):
            lab = QtWidgets.QLabel(title)
            lab.setObjectName("sectionTitle")
            layout.addWidget(lab)
            layout.addWidget(edit, stretch)
        self._stream_buffer = ""
        self._streaming = False
        self._programmatic = False
        self.locked = False
        for edit in (self.findings, self.impression):
            edit.textChanged.connect(self._on_text_changed)
            edit.cursorPositionChanged.connect(lambda e=edit: self._on_cursor(e))

    # ----------------------------------------------------------------- text
    def report(self) -> Report:
        return Report(self.findings.toPlainText().strip(), self.impression.toPlainText().strip())

    def text(self) -> str:
        return self.report().text

    def set_text(self, text: str) -> None:
        rep = parse_report(text) if text else Report()
        self._programmatic = True
        try:
            self.findings.setPlainText(rep.findings)
            self.impression.setPlainText(rep.impression)
        finally:
            self._programmatic = False

    def clear(self) -> None:
        self.set_text("")

    # ----------------------------------------------------------------- streaming
    def begin_stream(self) -> None:
        self._stream_buffer = ""
        self._streaming = True
        self.set_locked(False)
        self.set_text("")
        for e in (self.findings, self.impression):
            e.setReadOnly(True)

    def append_token(self, piece: str) -> None:
        if not self._streaming:
            return
        self._stream_buffer += piece
        rep = parse_report(self._stream_buffer)
        self._programmatic = True
        try:
            for edit, value in ((self.findings, rep.findings), (self.impression, rep.impression)):
                if edit.toPlainText() != value:
                    edit.setPlainText(value)
                    edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)
        finally:
            self._programmatic = False

    def end_stream(self, final_text: str | None = None) -> None:
        if final_text is not None:
            self.set_text(final_text)
        self._streaming = False
        if not self.locked:
            for e in (self.findings, self.impression):
                e.setReadOnly(False)

    @property
    def streaming(self) -> bool:
        return self._streaming

    # ----------------------------------------------------------------- state
    def set_locked(self, locked: bool) -> None:
        self.locked = locked
        for e in (self.findings, self.impression):
            e.setReadOnly(locked or self._streaming)
            e.setProperty("locked", locked)
            e.style().unpolish(e)
            e.style().polish(e)

    def _on_text_changed(self) -> None:
        if not self._programmatic and not self._streaming:
            self.edited.emit()

    def _on_cursor(self, edit: QtWidgets.QPlainTextEdit) -> None:
        if self._programmatic or self._streaming:
            return
        sentence = sentence_at(edit.toPlainText(), edit.textCursor().position())
        if sentence:
            self.sentence_clicked.emit(sentence)

    def highlight_sentence(self, sentence: str) -> bool:
        """Select ``sentence`` in whichever section holds it; True if found."""
        for edit in (self.findings, self.impression):
            idx = edit.toPlainText().find(sentence) if sentence else -1
            if idx >= 0:
                sel = QtWidgets.QTextEdit.ExtraSelection()
                sel.format.setBackground(QtGui.QColor(70, 110, 170, 160))
                cur = edit.textCursor()
                cur.setPosition(idx)
                cur.setPosition(idx + len(sentence), QtGui.QTextCursor.MoveMode.KeepAnchor)
                sel.cursor = cur
                edit.setExtraSelections([sel])
                other = self.impression if edit is self.findings else self.findings
                other.setExtraSelections([])
                return True
        return False


def split_sentences(text: str) -> list[str]:
    """Sentences of a report section (split on . ! ? followed by space), whitespace-trimmed."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def sentence_at(text: str, pos: int) -> str:
    """The sentence containing character ``pos``."""
    start = 0
    for s in split_sentences(text):
        idx = text.find(s, start)
        if idx < 0:
            continue
        if idx <= pos <= idx + len(s):
            return s
        start = idx + len(s)
    return ""
