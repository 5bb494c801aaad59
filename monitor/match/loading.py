"""Rule files: found, read and turned into a `RuleSet`.

A file holds one rule (a mapping) or several (`rules:` and a list). Every
problem in every file is collected before anything is refused, each with its
file, line, column and a hint, so `trade-monitor check` shows them all at once.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.errors import Problem, UserError, did_you_mean, key_path
from monitor.match.engine import PhraseList
from monitor.match.lists import resolve_lists
from monitor.match.nodes import And, Node, Not, Or
from monitor.match.query import QueryError, parse_query
from monitor.match.rules import Rule, RuleSet
from monitor.match.schema import RuleModel, RuleTests
from monitor.match.semantic import MISSING, About, available
from monitor.yamlsrc import Document, Loc, load_yaml, validation_problems


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """YAML files named by files, folders (recursively, outside `lists/`) and globs."""
    found: list[Path] = []
    for path in paths:
        matches = [Path(p) for p in sorted(glob.glob(str(path)))] or [path]
        for match in matches:
            if match.is_dir():
                found.extend(
                    p
                    for p in sorted(match.rglob("*"))
                    if p.suffix in (".yaml", ".yml") and "lists" not in p.relative_to(match).parts
                )
            else:
                found.append(match)
    return list(dict.fromkeys(found))


def fingerprint(paths: Iterable[Path]) -> str:
    """A short hash of every rule file and list file: it changes when any of them does.

    It looks at each file's metadata (type, size, modification and change times, inode),
    never its contents: the daemon takes it every 2 seconds, and opening a FIFO would
    block, and reading a device would never end. An edit, a replacement by rename, a
    chmod and a file turned into something else all change it.
    """
    digest = hashlib.sha256()
    files = rule_files(paths)
    for folder in {f.parent for f in files}:
        files += sorted((folder / "lists").glob("*.txt"))
    for path in sorted(set(files)):
        digest.update(str(path).encode())
        try:
            info = path.stat()
        except OSError:
            digest.update(b"unreadable")
            continue
        state = (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        digest.update(repr(state).encode())
    return digest.hexdigest()[:12]


def load_rules(
    paths: Iterable[Path], notifiers: set[str] | None = None, display_root: Path | None = None
) -> RuleSet:
    """Every rule in these files; UserError listing every problem if any is wrong."""
    problems: list[Problem] = []
    rules: list[Rule] = []
    first_file: dict[str, str] = {}
    lists: dict[str, PhraseList] = {}
    paths = list(paths)
    version = fingerprint(paths)  # before reading: an edit made meanwhile is loaded next time
    files = rule_files(paths)
    if not files:
        names = ", ".join(str(p) for p in paths)
        raise UserError([Problem(names or "rules", "no rule files found", hint="add *.yaml files")])
    for path in files:
        name = _display(path, display_root)
        try:
            doc = load_yaml(path, name)
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        for rule, loc in _rules_in(doc, problems):
            built = _build_rule(doc, loc, rule, path.parent, lists, notifiers, problems)
            if built is None:
                continue
            if built.id in first_file:
                problems.append(
                    doc.problem(
                        (*loc, "id"),
                        f"duplicate rule id `{built.id}`",
                        key_path((*loc, "id")),
                        f"also defined in {first_file[built.id]}; ids are unique across files",
                    )
                )
                continue
            first_file[built.id] = name
            rules.append(built)
    if problems:
        raise UserError(problems)
    rule_set = RuleSet(rules, lists, version=version, files=len(files))
    rule_set.compile()
    return rule_set


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _rules_in(doc: Document, problems: list[Problem]) -> list[tuple[Any, Loc]]:
    data = doc.data
    if data is None:
        problems.append(doc.problem((), "the file is empty", hint="write a rule with id and query"))
        return []
    if isinstance(data, dict) and set(data) == {"rules"}:
        if not isinstance(data["rules"], list):
            problems.append(doc.problem(("rules",), "`rules` must be a list of rules", "rules"))
            return []
        return [(rule, ("rules", i)) for i, rule in enumerate(data["rules"])]
    if isinstance(data, dict):
        return [(data, ())]
    problems.append(doc.problem((), "expected a rule (a mapping) or `rules:` with a list"))
    return []


def _build_rule(
    doc: Document,
    loc: Loc,
    data: Any,
    folder: Path,
    lists: dict[str, PhraseList],
    notifiers: set[str] | None,
    problems: list[Problem],
) -> Rule | None:
    if not isinstance(data, dict):
        problems.append(doc.problem(loc, "expected a rule: a mapping with id and query"))
        return None
    try:
        model = RuleModel.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_problems(doc, loc, exc, RuleModel))
        return None
    parts: list[Node] = []
    found_problem = False
    for key, items in _query_groups(model, loc):
        nodes = []
        for text, item_loc in items:
            errors: list[QueryError] = []
            try:
                node: Node | None = parse_query(text, errors.append)
            except QueryError as exc:  # a mistake after which the query cannot be read on
                errors.append(exc)
                node = None
            for error in errors:
                problem = doc.problem_in_scalar(
                    item_loc, error.offset, error.message, key, error.hint
                )
                problems.append(problem)
            found_problem |= bool(errors)
            if node is None:
                continue
            found_problem |= not resolve_lists(node, doc, item_loc, folder, lists, problems, key)
            nodes.append(node)
        if nodes:
            parts.append(_combine(key, nodes))
    if not parts and not found_problem:
        problems.append(doc.problem(loc, "a rule needs a `query` (or any/all/none)", key_path(loc)))
        return None
    for i, notifier in enumerate(model.notify or []):
        if notifiers is not None and notifier not in notifiers:
            problems.append(
                doc.problem(
                    (*loc, "notify", i),
                    f"no notifier named `{notifier}`",
                    key_path((*loc, "notify", i)),
                    did_you_mean(notifier, notifiers)
                    or f"notifiers: {', '.join(sorted(notifiers))}",
                )
            )
            found_problem = True
    if model.about is not None and not available():
        problems.append(doc.problem((*loc, "about"), MISSING, key_path((*loc, "about"))))
        found_problem = True
    if found_problem:
        return None
    return Rule(
        id=model.id,
        title=model.title or model.id,
        severity=model.severity,
        root=parts[0] if len(parts) == 1 else And(tuple(parts), 0),
        fields=tuple(model.fields),
        file=doc.path,
        description=model.description,
        sources=tuple(model.sources),
        notify=tuple(model.notify) if model.notify is not None else None,
        cooldown=model.cooldown,
        max_per_hour=model.max_per_hour,
        digest=model.digest,
        mention=model.mention,
        tags=tuple(model.tags),
        tests=model.tests,
        test_lines=_test_lines(doc, loc, model.tests),
        query_text=_query_text(model),
        about=_about(model),
    )


def _about(model: RuleModel) -> About | None:
    if model.about is None or model.min_similarity is None:
        return None
    return About(
        model.about.description,
        tuple(model.about.examples),
        model.min_similarity,
        model.semantic,
    )


def _test_lines(doc: Document, loc: Loc, tests: RuleTests) -> dict[str, int]:
    lines = {}
    for kind in ("match", "no_match"):
        for i in range(len(getattr(tests, kind))):
            node = doc.node_for((*loc, "tests", kind, i))
            if node is not None:
                lines[f"{kind}[{i}]"] = node.start_mark.line + 1
    return lines


def _query_groups(model: RuleModel, loc: Loc) -> list[tuple[str, list[tuple[str, Loc]]]]:
    """(key, [(query text, its location)]) for `query` and the any/all/none lists."""
    groups: list[tuple[str, list[tuple[str, Loc]]]] = []
    if model.query is not None:
        groups.append(("query", [(model.query, (*loc, "query"))]))
    for key in ("any", "all", "none"):
        items = getattr(model, key)
        if items:
            groups.append((key, [(item, (*loc, key, i)) for i, item in enumerate(items)]))
    return groups


def _combine(key: str, nodes: list[Node]) -> Node:
    if len(nodes) == 1 and key != "none":
        return nodes[0]
    if key == "all":
        return And(tuple(nodes), 0)
    either = nodes[0] if len(nodes) == 1 else Or(tuple(nodes), 0)
    return Not(either, 0) if key == "none" else either


def _query_text(model: RuleModel) -> str:
    """The rule's condition as one line, for `explain` and alerts."""
    parts = [model.query.strip()] if model.query else []
    if model.any:
        parts.append("(" + " OR ".join(f"({t})" for t in model.any) + ")")
    parts.extend(f"({t})" for t in model.all)
    if model.none:
        parts.append("NOT (" + " OR ".join(f"({t})" for t in model.none) + ")")
    return " AND ".join(parts)
