"""Hostile input: the state URL's password, given the other way libpq takes it."""

from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.errors import UserError
from monitor.store import open_store
from monitor.store.postgres import redact_url, url_problem

SECRET = "TOPSECRET-9f3"


def _text(error: UserError) -> str:
    return str(error) + " ".join(repr(p) for p in error.problems)


def test_query_password_never_in_a_connection_error(tmp_path):
    url = f"postgresql://u@127.0.0.1:1/db?password={SECRET}"  # a libpq URL form
    with pytest.raises(UserError) as caught:
        open_store(url, tmp_path)
    assert SECRET not in _text(caught.value)


def test_query_password_never_in_a_config_error(tmp_path):
    (tmp_path / "rules").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f'state: "postgresql://u@127.0.0.1:1/?password={SECRET}"\nrules: [rules/]\n')
    with pytest.raises(UserError) as caught:
        load_config(config)
    assert SECRET not in _text(caught.value)


def test_redact_url_hides_query_password():
    assert SECRET not in redact_url(f"postgresql://u@h/db?sslmode=require&password={SECRET}")


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{SECRET}@h1:5432,h2:5432/db",  # libpq multi-host (failover)
        "postgresql://u@h/?dbname=db",  # the database as a parameter
    ],
)
def test_valid_libpq_urls_are_accepted(url):
    assert url_problem(url) is None


@pytest.mark.parametrize("password", ["TOP#SECRET-9f3", "TOP/SECRET-9f3", "TOP?SECRET-9f3"])
def test_an_unencoded_password_is_never_echoed(tmp_path, password):
    """A password pasted without percent-encoding: whether the config refuses the URL or the
    connection fails, no message shows the password or a piece of it."""
    (tmp_path / "rules").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f'state: "postgresql://u:{password}@127.0.0.1:1/db"\nrules: [rules/]\n')
    with pytest.raises(UserError) as caught:
        open_store(load_config(config).state, tmp_path)
    text = _text(caught.value)
    assert "SECRET-9f3" not in text, text


def test_an_unencoded_at_sign_password_is_not_echoed_by_the_connection_error(tmp_path):
    """libpq ends the user info at the first '@', urlsplit at the last: the host libpq fails
    to resolve is the password's tail, which hide_password (whole password) does not find."""
    with pytest.raises(UserError) as caught:
        open_store("postgresql://u:TOP@SECRET-9f3@127.0.0.1:1/db", tmp_path)
    assert "SECRET-9f3" not in _text(caught.value)
