"""The Model page is reachable from the window: File → Model… opens it on this workstation's own models
folder and database, where a refresh harvests the signed studies."""

from __future__ import annotations

from app.model_dialog import ModelDialog
from tests.app.test_thin_path import make_window


def test_the_file_menus_model_entry_opens_the_model_page_of_this_workstation(qtbot, fake_backend):
    win = make_window(qtbot, fake_backend)
    win.act_model.trigger()
    dialogs = win.findChildren(ModelDialog)
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    assert dialogs[0].models == win.settings.data_path / "models"
    assert dialogs[0].databases == [win.settings.db_path]
    dialogs[0].close()
