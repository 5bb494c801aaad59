"""Every setting and command a user can type is documented (as Datasette's test_docs does)."""

import re

import pytest

from monitor.cli import parser
from monitor.config import ConfigModel, Defaults
from monitor.match.rules import RuleModel
from monitor.notify import notifier_types
from monitor.sources import source_types
from tests.conftest import ROOT

CONFIG_DOC = (ROOT / "docs" / "config.md").read_text()
RULES_DOC = (ROOT / "docs" / "rules.md").read_text()
README = (ROOT / "README.md").read_text()


def documented_keys(model):
    return [f.alias or name for name, f in model.model_fields.items()]


@pytest.mark.parametrize(
    "model",
    [ConfigModel, Defaults]
    + [m for m, _ in source_types().values()]
    + [m for m, _ in notifier_types().values()],
)
def test_every_config_key_is_in_docs_config(model):
    for key in documented_keys(model):
        assert f"`{key}`" in CONFIG_DOC, f"{model.__name__}.{key} is not in docs/config.md"


def test_every_rule_key_is_in_docs_rules():
    for key in documented_keys(RuleModel):
        assert f"`{key}`" in RULES_DOC or f"{key}:" in RULES_DOC, key


def test_every_command_and_option_is_in_the_readme():
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        assert f"`{name}" in README, name
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in README, f"{name} {option}"


def test_readme_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install . && trade-monitor run" in README
    assert "pip install '.[test]' && pytest" in README
    assert "pip install '.[test]' && pytest" in ci


def test_docs_links_resolve():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
