"""Every store test runs on both engines: `store` is each engine in turn (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(each_store):
    return each_store
