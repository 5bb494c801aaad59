"""The catalogue of ready-made sources (monitor/sources/catalog.yaml), `use:` and `sources`."""

import tomllib

import pytest
import yaml

from monitor.cli import main
from monitor.config import load_config
from monitor.errors import UserError
from monitor.sources.catalog import catalog
from monitor.sources.jsonapi import JsonConfig, endpoint
from tests.conftest import ROOT


def write(tmp_path, sources):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"sources": sources}, sort_keys=False))
    return path


def test_every_entry_is_a_valid_source_and_says_what_it_covers(tmp_path):
    ids = list(catalog())
    config = load_config(write(tmp_path, [{"use": name} for name in ids]))
    assert [s.id for s in config.sources] == ids
    for source in config.sources:
        assert len(catalog()[source.id].covers) > 40
        assert source.interval >= 1800  # hourly or so: these publish a few times a day


def test_the_federal_register_entries_name_their_agencies(tmp_path):
    config = load_config(
        write(tmp_path, [{"use": "federal-register-bis"}, {"use": "federal-register-ustr"}])
    )
    bis, ustr = config.sources
    assert isinstance(bis, JsonConfig)
    assert "conditions%5Bagencies%5D%5B%5D=industry-and-security-bureau" in endpoint(bis).url
    assert "trade-representative-office-of-united-states" in endpoint(ustr).url
    assert endpoint(bis).url.startswith("https://www.federalregister.gov/api/v1/documents.json?")


def test_use_with_overrides(tmp_path):
    config = load_config(
        write(
            tmp_path,
            [
                {"use": "federal-register-bis", "interval": "30m"},
                {
                    "use": "federal-register-bis",
                    "id": "bis-mirror",
                    "base_url": "http://127.0.0.1:9",
                },
            ],
        )
    )
    first, mirror = config.sources
    assert (first.id, first.interval) == ("federal-register-bis", 1800.0)
    assert mirror.id == "bis-mirror"
    assert endpoint(mirror).url.startswith("http://127.0.0.1:9/api/v1/documents.json?")
    assert mirror.interval == 3600.0


def test_an_unknown_id_names_the_file_line_and_known_ids(tmp_path):
    path = write(
        tmp_path,
        [
            {"id": "a", "type": "rss", "url": "https://a.example/feed"},
            {"use": "federal-register-bsi"},
            {"id": "b", "type": "rss", "url": "ftp://bad"},
        ],
    )
    with pytest.raises(UserError) as caught:
        load_config(path)
    unknown, bad_url = caught.value.problems
    text = str(unknown)
    assert str(path) in text and unknown.line == 5
    assert "no source `federal-register-bsi` in the catalogue" in text
    assert "did you mean `federal-register-bis`?" in text
    assert "known ids: federal-register-bis, federal-register-ustr" in text
    assert bad_url.line == 8 and "sources[2].url" in str(bad_url)  # later items keep their lines


def test_a_bad_override_points_at_the_use_item(tmp_path):
    path = write(tmp_path, [{"use": "federal-register-bis", "interval": "soon"}])
    with pytest.raises(UserError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert "sources[0].interval" in str(problem) and problem.line == 3


def test_duplicate_uses_need_their_own_ids(tmp_path):
    path = write(tmp_path, [{"use": "federal-register-bis"}, {"use": "federal-register-bis"}])
    with pytest.raises(UserError, match="duplicate id `federal-register-bis`"):
        load_config(path)


def test_sources_command_lists_the_catalogue(capsys):
    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    for name, entry in catalog().items():
        assert name in out
        assert entry.covers.split()[0] in out
    assert "json (federal-register), every 1h" in out
    assert "Entity List" in out


def test_the_catalogue_ships_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "sources/catalog.yaml" in project["tool"]["setuptools"]["package-data"]["monitor"]
