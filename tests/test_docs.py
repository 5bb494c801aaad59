"""Every setting and command a user can type is documented (as Datasette's test_docs does)."""

import argparse
import re

import pytest

from monitor import cli
from monitor.cli import parser
from monitor.config import ConfigModel, Defaults
from monitor.match.schema import RuleModel
from monitor.notify import NotifierConfig, notifier_types
from monitor.sources import SourceConfig, source_types
from tests.conftest import ROOT

CONFIG_DOC = (ROOT / "docs" / "config.md").read_text()
RULES_DOC = (ROOT / "docs" / "rules.md").read_text()
README = (ROOT / "README.md").read_text()


def documented_keys(model):
    return [f.alias or name for name, f in model.model_fields.items()]


def own_keys(model):
    """The keys a source or notifier type declares itself (`type` only narrows the base's):
    documented in that type's own table, the inherited ones in the base's."""
    annotations = vars(model).get("__annotations__", {})
    return [
        f.alias or name
        for name, f in model.model_fields.items()
        if name in annotations and name != "type"
    ]


def cells(line):
    """The cells of a markdown table row (`\\|` inside a cell is not a separator)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table_rows(text):
    """The body rows of every markdown table in `text`, as lists of cells."""
    rows, header = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            header = False
            continue
        if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip()):
            header = True  # the line above was the header: only what follows is body
            continue
        if header:
            rows.append(cells(line))
    return rows


def config_sections():
    """docs/config.md cut at each `## heading` and each "`type`:" paragraph that opens a
    source or notifier type: section name -> the first cells of its table rows."""
    text = {"": []}
    for line in CONFIG_DOC.splitlines():
        if heading := re.fullmatch(r"## (.+)", line):
            text[heading.group(1)] = []
        elif kind := re.match(r"`([a-z_]+)`:", line):
            text[f"type {kind.group(1)}"] = []
        list(text.values())[-1].append(line)
    return {name: [row[0] for row in table_rows("\n".join(lines))] for name, lines in text.items()}


SECTIONS = config_sections()
CONFIG_MODELS = [
    ("Top level", ConfigModel, documented_keys(ConfigModel)),
    ("`defaults`", Defaults, documented_keys(Defaults)),
    ("`sources`", SourceConfig, documented_keys(SourceConfig)),
    ("`notifiers`", NotifierConfig, documented_keys(NotifierConfig)),
    *((f"type {kind}", model, own_keys(model)) for kind, (model, _) in source_types().items()),
    *((f"type {kind}", model, own_keys(model)) for kind, (model, _) in notifier_types().items()),
]


@pytest.mark.parametrize(
    ("section", "model", "keys"), CONFIG_MODELS, ids=[m.__name__ for _, m, _ in CONFIG_MODELS]
)
def test_every_config_key_has_a_row_in_docs_config(section, model, keys):
    assert section in SECTIONS, f"docs/config.md has no section {section!r} for {model.__name__}"
    rows = SECTIONS[section]
    for key in keys:
        assert f"`{key}`" in rows, (
            f"{model.__name__}.{key} has no row `| `{key}` | ... |` in docs/config.md ({section})"
        )
    known = [f"`{key}`" for key in documented_keys(model)]
    for first in rows:
        assert first in known, f"docs/config.md ({section}) has a row for {first}: no such key"


def test_every_table_in_docs_config_belongs_to_a_model():
    documented = {section for section, _, _ in CONFIG_MODELS}
    for section, rows in SECTIONS.items():
        assert not rows or section in documented, f"docs/config.md: a table under {section!r}"


def test_every_rule_key_is_in_docs_rules():
    for key in documented_keys(RuleModel):
        assert f"`{key}`" in RULES_DOC or f"{key}:" in RULES_DOC, key


def commands(command=None, path=()):
    """(words, parser) of the CLI and every subcommand, however deep (`alerts retry`)."""
    command = command or parser()
    yield path, command
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def readme_commands():
    """README's table under `## Commands`: command words -> (synopsis, exit codes)."""
    table = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for synopsis, _, codes in table_rows(table):
        words = re.match(r"`?([a-z ]*)", synopsis).group(1).split()
        rows[" ".join(words)] = (synopsis, codes)
    return rows


def test_every_command_and_option_is_in_the_readme_table():
    rows = readme_commands()
    for path, command in commands():
        name = " ".join(path)
        assert name in rows, f"`{name or '--version'}` has no row in README's commands table"
        synopsis = rows[name][0]
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert re.search(rf"{option}\b", synopsis), f"{name} {option}: not in README"
            if not action.option_strings:
                assert action.metavar in synopsis, f"{name} {action.metavar}: not in README"


def exit_codes(text):
    """ "0 all well; 1 a poll failed (`run --once`)" -> {0: set(), 1: {"run"}}."""
    codes = {}
    for part in text.split(";"):
        if found := re.match(r"\s*(\d+)\b", part):
            named = {c.split()[0] for c in re.findall(r"`([^`]+)`", part) if c[0].isalpha()}
            codes.setdefault(int(found.group(1)), set()).update(named)
    return codes


def test_readme_exit_codes_are_the_cli_docstring():
    doc = cli.__doc__.split("Exit codes:", 1)[1].split("\n\n", 1)[0]
    promised = exit_codes(" ".join(doc.split()))
    rows = readme_commands()
    listed = {name: exit_codes(codes) for name, (_, codes) in rows.items()}
    assert set().union(*listed.values()) == set(promised), (
        "README's exit codes: see monitor/cli/__init__.py"
    )
    for code, named in promised.items():
        for name in named:
            assert code in listed[name], f"README: `{name}` does not list exit code {code}"
        if not named:  # a code for every command: in the row that says so
            assert code in listed["any command"], f"README: exit code {code} for any command"


def test_readme_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install . && trade-monitor run" in README
    assert "pip install '.[test]' && pytest" in README
    assert "pip install '.[test]' && pytest" in ci


def test_docs_links_resolve():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
