"""A site's workstation database, filled through the store's API as the GUI fills it."""

from __future__ import annotations

import pytest

from ml.site.simulate import simulate_site

UID = "1.2.826.0.1."


@pytest.fixture
def uid():
    """``uid(i)``: the uid ``make_site`` gives its i-th study."""
    return lambda i: f"{UID}{i:06d}"


@pytest.fixture
def make_site(tmp_path):
    """``make_site(studies, name="ws1.sqlite", signed=True)`` → the database path (one signing reader)."""

    def make(studies, name="ws1.sqlite", signed=True):
        path = tmp_path / name
        simulate_site(studies, path, uid_prefix=UID, readers=("dr-a",), sign=signed)
        return path

    return make
