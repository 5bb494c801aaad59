"""One `store` fixture, run on each engine: every store test passes on both."""

from __future__ import annotations

import pytest

from monitor.store import open_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = "sqlite:///state/t.db"
    else:
        url = request.getfixturevalue("postgres_url")  # a fresh database (tests/conftest.py)
    opened = open_store(url, tmp_path)
    yield opened
    opened.close()
