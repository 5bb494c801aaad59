"""Rule files: YAML in, compiled `Rule`s and a `RuleSet` out.

A file holds one rule (a mapping) or several (`rules:` and a list). Every
problem in every file is collected before anything is refused, each with its
file, line, column and a hint, so `trade-monitor check` shows them all at once.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator

from monitor.article import Article
from monitor.errors import Problem, UserError, did_you_mean, key_path
from monitor.match.decide import Check, compile_check
from monitor.match.engine import Evaluator, Hit, PhraseList
from monitor.match.presearch import Presearcher
from monitor.match.query import (
    FIELDS,
    And,
    ListRef,
    Node,
    Not,
    Or,
    QueryError,
    Regex,
    children,
    parse_query,
)
from monitor.match.text import AnalyzedArticle, words_of
from monitor.settings import Cron, Duration, Strict
from monitor.yamlsrc import Document, Loc, load_yaml, read_user_file

log = logging.getLogger(__name__)
SEVERITIES = ("info", "low", "medium", "high", "critical")
Severity = Literal["info", "low", "medium", "high", "critical"]
TestCase = str | dict[str, Any]
N = TypeVar("N", ListRef, Regex)


class RuleTests(Strict):
    # default_factory, not `= []`: pydantic deep-copies a mutable default on every rule
    match: list[TestCase] = Field(default_factory=list)
    no_match: list[TestCase] = Field(default_factory=list)


class RuleModel(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str | None = None
    description: str = ""
    severity: Severity = "medium"
    query: str | None = None
    any: list[str] = Field(default_factory=list)
    all: list[str] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list)
    fields: list[Literal[FIELDS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["title", "summary", "body"]
    )
    sources: list[str] = Field(default_factory=lambda: ["*"])
    notify: list[str] | None = None
    cooldown: Duration | None = None
    max_per_hour: int | None = Field(default=None, ge=1)
    digest: Cron | None = None
    mention: str | None = Field(
        default=None, pattern=r"^(here|channel|everyone|[UWS][A-Z0-9]{2,})$"
    )
    tags: list[str] = Field(default_factory=list)
    tests: RuleTests = Field(default_factory=RuleTests)

    @field_validator("fields")
    @classmethod
    def _some_fields(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one field")
        return value


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    root: Node
    fields: tuple[str, ...]
    file: str
    description: str = ""
    sources: tuple[str, ...] = ("*",)
    notify: tuple[str, ...] | None = None
    cooldown: float | None = None
    max_per_hour: int | None = None
    digest: str | None = None
    mention: str | None = None
    tags: tuple[str, ...] = ()
    tests: RuleTests = field(default_factory=RuleTests)
    test_lines: dict[str, int] = field(default_factory=dict, compare=False)  # "match[0]" -> line
    query_text: str = ""

    def applies_to(self, source_id: str) -> bool:
        return self.sources == ("*",) or any(
            fnmatch.fnmatchcase(source_id, pattern) for pattern in self.sources
        )

    @cached_property
    def holds(self) -> Check:
        """The compiled yes-or-no test (decide.py); hits are collected only after a match."""
        return compile_check(self.root, self.fields)


@dataclass(eq=False, slots=True)
class Match:
    rule: Rule
    article_id: str
    evaluator: Evaluator = field(repr=False)
    _hits: tuple[Hit, ...] | None = field(default=None, repr=False)

    @property
    def hits(self) -> tuple[Hit, ...]:
        """What to highlight: collected on first use, since deciding a match does not need it."""
        if self._hits is None:
            self._hits = self.evaluator.evaluate(self.rule.root, self.rule.fields).hits
        return self._hits


@dataclass
class RuleSet:
    rules: list[Rule]
    lists: dict[str, PhraseList] = field(default_factory=dict)
    regex_timeout: float = 0.05
    version: str = ""  # fingerprint of the files it was loaded from
    files: int = 0
    regex_timeouts: Counter[str] = field(default_factory=Counter)  # rule id -> count
    _skipped_for_source: dict[str, frozenset[int]] = field(default_factory=dict, repr=False)

    def evaluator(self, article: Article) -> Evaluator:
        return Evaluator(AnalyzedArticle(article), self.lists, self.regex_timeout)

    @cached_property
    def presearcher(self) -> Presearcher:
        return Presearcher.build(((rule.root, rule.fields) for rule in self.rules), self.lists)

    @cached_property
    def checks(self) -> list[Check]:
        return [rule.holds for rule in self.rules]

    def compile(self) -> None:
        """Build the presearcher and every rule's check now, so the first article waits for
        none of it."""
        _ = self.presearcher, self.checks

    def match(self, article: Article, reference: bool = False) -> list[Match]:
        """The rules that match, in rule order.

        `reference=True` skips the presearcher and the compiled checks and walks
        every rule's tree with the evaluator: the plain definition that tests
        hold the fast path to.
        """
        evaluator, rules = self.evaluator(article), self.rules
        skipped = self._skipped(article.source_id)
        if reference:
            candidates = [i for i in range(len(rules)) if i not in skipped]
            found = [i for i in candidates
                     if evaluator.evaluate(rules[i].root, rules[i].fields).matched]  # fmt: skip
        else:
            candidates, decided = self.presearcher.search(evaluator.doc)
            checks = self.checks
            found = [
                i for i in candidates if i not in skipped and (i in decided or checks[i](evaluator))
            ]
        if evaluator.timeouts:
            self._count_timeouts(evaluator.timeouts, [rules[i] for i in candidates], article)
        return [Match(rules[i], article.id, evaluator) for i in found]

    def _skipped(self, source_id: str) -> frozenset[int]:
        """The rules that do not apply to this source (their `sources:`), worked out once."""
        if source_id not in self._skipped_for_source:
            self._skipped_for_source[source_id] = frozenset(
                i for i, rule in enumerate(self.rules) if not rule.applies_to(source_id)
            )
        return self._skipped_for_source[source_id]

    def _count_timeouts(self, regexes: list[str], evaluated: list[Rule], article: Article) -> None:
        timed_out = set(regexes)
        for rule in evaluated:
            if timed_out & {node.source for node in _nodes(rule.root, Regex)}:
                self.regex_timeouts[rule.id] += 1
                log.warning("a regex timed out; the rule was skipped for this article",
                            extra={"rule": rule.id, "article": article.id})  # fmt: skip

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


# ---- loading -------------------------------------------------------------------


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
            for exc in errors:
                problem = doc.problem_in_scalar(item_loc, exc.offset, exc.message, key, exc.hint)
                problems.append(problem)
            found_problem |= bool(errors)
            if node is None:
                continue
            found_problem |= not _resolve_lists(node, doc, item_loc, folder, lists, problems, key)
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


def _resolve_lists(
    node: Node,
    doc: Document,
    loc: Loc,
    folder: Path,
    lists: dict[str, PhraseList],
    problems: list[Problem],
    key: str,
) -> bool:
    ok = True
    for ref in _nodes(node, ListRef):
        if ref.name in lists:
            continue
        path = folder / "lists" / f"{ref.name}.txt"
        if not path.exists():
            hint = f"create {path} with one name or phrase a line"
            problems.append(
                doc.problem_in_scalar(loc, ref.offset, f"unknown list `@{ref.name}`", key, hint)
            )
            ok = False
            continue
        try:
            lines = read_user_file(path, str(path)).splitlines()
        except UserError as exc:
            for problem in exc.problems:
                message = f"list `@{ref.name}` ({path}): {problem.message}"
                problems.append(doc.problem_in_scalar(loc, ref.offset, message, key, problem.hint))
            ok = False
            continue
        phrases = [tuple(words_of(line.split("#", 1)[0])) for line in lines]
        lists[ref.name] = PhraseList([p for p in phrases if p])
    return ok


def _nodes(node: Node, kind: type[N]) -> list[N]:
    """Every node of this kind in a query tree."""
    if isinstance(node, kind):
        return [node]
    return [found for child in children(node) for found in _nodes(child, kind)]


def validation_problems(
    doc: Document, loc: Loc, exc: ValidationError, model: type[Strict]
) -> list[Problem]:
    """Pydantic's errors as Problems that point at the YAML and say what was expected."""
    problems = []
    for error in exc.errors():
        err_loc = (*loc, *(p for p in error["loc"] if not _is_union_tag(p)))
        path = key_path(err_loc)
        if error["type"] == "extra_forbidden":
            name = str(error["loc"][-1])
            problems.append(
                doc.problem(
                    err_loc,
                    f"unknown key `{name}`",
                    path,
                    did_you_mean(name, _known_keys(model, error["loc"][:-1])),
                )
            )
        elif error["type"] == "missing":
            problems.append(
                doc.problem(err_loc[:-1], f"missing required key `{err_loc[-1]}`", path)
            )
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            given = error.get("input")
            if "got " not in message and not isinstance(given, dict | list):
                message += f" (got {given!r})"
            problems.append(doc.problem(err_loc, message, path))
    return problems


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "dict[str,any]"))


def _known_keys(model: type[Strict], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        annotation = getattr(info, "annotation", None)
        current = annotation if isinstance(annotation, type) else None
    return list(getattr(current, "model_fields", {}))
