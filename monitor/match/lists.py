"""Named phrase lists (`@name` in a query): read once from `lists/<name>.txt` beside the rules."""

from __future__ import annotations

from pathlib import Path

from monitor.errors import Problem, UserError
from monitor.match.engine import PhraseList
from monitor.match.nodes import ListRef, Node, nodes_of
from monitor.match.text import words_of
from monitor.yamlsrc import Document, Loc, read_user_file


def resolve_lists(
    node: Node,
    doc: Document,
    loc: Loc,
    folder: Path,
    lists: dict[str, PhraseList],
    problems: list[Problem],
    key: str,
) -> bool:
    ok = True
    for ref in nodes_of(node, ListRef):
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
