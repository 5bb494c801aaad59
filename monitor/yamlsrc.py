"""YAML documents that remember where each value came from.

PyYAML's safe loader forgets line numbers once it builds Python objects. We
compose the node tree ourselves and keep a map from each key path to its node,
so every later error (pydantic's, the query parser's) can point at the file,
line and column, even inside a `>` or `|` block scalar; `validation_problems`
turns pydantic's errors into such problems for config and rule files alike.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitor.errors import Problem, UserError, did_you_mean, key_path

Loc = tuple[str | int, ...]
# libyaml's parser, when PyYAML was built with it: the same nodes and marks, many times faster
Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 100  # levels of nested lists and mappings; real config and rules use under ten
MAX_ALIASED = 10_000  # values reached through aliases (`*name`) and merges (`<<: *name`)
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
DEPTH_HINT = "flatten the structure: config and rule files need only a few levels"
ALIAS_HINT = "write the values out, or use fewer aliases of large lists"
MAX_FILE_BYTES = 10 * 1024 * 1024  # a config, rule or list file; real ones are kilobytes
FILE_HINT = "config, rule and list files must be ordinary files of at most 10 MB"


@dataclass
class Document:
    path: str
    text: str
    data: Any
    nodes: dict[Loc, yaml.Node] = field(default_factory=dict)

    def node_for(self, loc: Loc) -> yaml.Node | None:
        """The node at `loc`, or its nearest ancestor that exists."""
        loc = tuple(loc)
        while loc not in self.nodes and loc:
            loc = loc[:-1]
        return self.nodes.get(loc)

    def problem(self, loc: Loc, message: str, key: str = "", hint: str = "") -> Problem:
        node = self.node_for(loc)
        if node is None:
            return Problem(self.path, message, key=key, hint=hint)
        line, column = node.start_mark.line, node.start_mark.column
        return self._problem_at(line, column, message, key, hint)

    def problem_in_scalar(
        self, loc: Loc, offset: int, message: str, key: str = "", hint: str = ""
    ) -> Problem:
        """A problem at character `offset` of the string value at `loc`."""
        node = self.nodes.get(tuple(loc))
        if not isinstance(node, yaml.ScalarNode) or not isinstance(node.value, str):
            return self.problem(loc, message, key, hint)
        line, column = self._scalar_position(node, offset)
        return self._problem_at(line, column, message, key, hint)

    def _problem_at(self, line: int, column: int, message: str, key: str, hint: str) -> Problem:
        lines = self.text.splitlines()
        source_line = lines[line] if 0 <= line < len(lines) else ""
        return Problem(self.path, message, line + 1, column + 1, key, hint, source_line)

    def _scalar_position(self, node: yaml.ScalarNode, offset: int) -> tuple[int, int]:
        """Map an offset in the scalar's value to a line and column in the file.

        The n-th non-blank character of the value is the n-th non-blank
        character of its source text (after the quote or block indicator): this
        holds for plain, quoted, folded and literal scalars alike.
        """
        value: str = node.value
        wanted = sum(1 for ch in value[: max(0, min(offset, len(value)))] if not ch.isspace())
        start, end = node.start_mark.index, node.end_mark.index
        raw = self.text[start:end]
        skip = 0
        if node.style in ("|", ">"):
            skip = raw.find("\n") + 1 if "\n" in raw else len(raw)
        elif node.style in ("'", '"'):
            skip = 1
        seen = 0
        for index in range(skip, len(raw)):
            if raw[index].isspace():
                continue
            if seen == wanted:
                return _line_column(self.text, start + index)
            seen += 1
        return _line_column(self.text, end)


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index)
    column = index - (text.rfind("\n", 0, index) + 1)
    return line, column


def load_yaml(path: Path, display: str | None = None) -> Document:
    """Parse a YAML file with the safe loader, keeping each value's position."""
    name = display or str(path)
    return parse_yaml(read_user_file(path, name), name)


def read_user_file(path: Path, name: str, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a file the user wrote (config, rule or list file), with universal newlines.

    Only a regular file of at most `limit` bytes is read: a FIFO would block the reader
    for good and `/dev/zero` would fill memory. The path is checked before opening, and
    the open file again (opened non-blocking, so a FIFO swapped in between cannot block);
    reading stops one byte past the limit, so a file that grows meanwhile is refused too.
    UserError naming the file otherwise.
    """
    try:
        _check_regular(os.stat(path), name, limit)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            _check_regular(os.fstat(file.fileno()), name, limit)
            data = file.read(limit + 1)
    except OSError as exc:
        raise UserError([Problem(name, f"cannot read file: {exc.strerror or exc}")]) from None
    if len(data) > limit:
        raise UserError([Problem(name, f"larger than {_megabytes(limit)}", hint=FILE_HINT)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError([Problem(name, "not UTF-8 text", hint="save the file as UTF-8")]) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_regular(info: os.stat_result, name: str, limit: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UserError([Problem(name, "cannot read file: it is a folder", hint=FILE_HINT)])
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
        message = f"cannot read file: not a regular file but {kind}"
        raise UserError([Problem(name, message, hint=FILE_HINT)])
    if info.st_size > limit:
        raise UserError([Problem(name, f"larger than {_megabytes(limit)}", hint=FILE_HINT)])


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:g} MB"


def parse_yaml(text: str, name: str) -> Document:
    """The document's values and their positions; UserError with a position if it is not YAML,
    nests deeper than MAX_DEPTH, or its aliases expand to more than MAX_ALIASED values."""
    loader = Parser(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise UserError([_problem_at(name, text, mark, message)]) from None
    except yaml.YAMLError as exc:
        raise UserError([Problem(name, f"invalid YAML: {exc}")]) from None
    except RecursionError:  # PyYAML's pure-Python composer recurses once per level
        raise UserError([_problem_at(name, text, None, "nested too deeply", DEPTH_HINT)]) from None
    finally:
        loader.dispose()
    doc = Document(name, text, None)
    if root is not None:
        _check_size(root, name, text)
        doc.data = _build(root, (), doc.nodes, yaml.SafeLoader(""), (name, text))
    return doc


def _problem_at(
    name: str, text: str, mark: yaml.Mark | None, message: str, hint: str = ""
) -> Problem:
    if mark is None:
        return Problem(name, message, hint=hint)
    lines = text.splitlines()
    source_line = lines[mark.line] if mark.line < len(lines) else ""
    line, column = mark.line + 1, mark.column + 1
    return Problem(name, message, line, column, hint=hint, source_line=source_line)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _check_size(root: yaml.Node, name: str, text: str) -> None:
    """Refuse, before anything is built, a tree deeper than MAX_DEPTH or aliases that expand
    to more than MAX_ALIASED values: a few hundred bytes of `[*a, *a, ...]` nested eight
    times is 43 million values, and 600 nested lists exhaust Python's stack.

    The composed nodes form a graph in which an alias is a second edge to a node already
    seen. One walk without recursion measures each node once: how many values it expands
    to and how deep it goes; each second edge adds its target's values to the aliased count.
    """
    values: dict[int, int] = {}  # id(node) -> values it expands to, itself included
    heights: dict[int, int] = {}  # id(node) -> levels, itself included
    path = [(root, iter(_children(root)))]
    on_path = {id(root)}
    aliased = 0
    while path:
        node, pending = path[-1]
        child = next(pending, None)
        if child is None:
            path.pop()
            on_path.discard(id(node))
            kids = _children(node)
            values[id(node)] = 1 + sum(values[id(kid)] for kid in kids)
            heights[id(node)] = 1 + max((heights[id(kid)] for kid in kids), default=0)
        elif id(child) in on_path:
            message = "an alias refers to the value that contains it"
            raise UserError([_problem_at(name, text, node.start_mark, message)])
        elif id(child) in values:
            aliased += values[id(child)]
            if aliased > MAX_ALIASED:
                message = f"aliases expand to more than {MAX_ALIASED} values"
                raise UserError([_problem_at(name, text, node.start_mark, message, ALIAS_HINT)])
            if len(path) + heights[id(child)] > MAX_DEPTH:
                raise UserError([_problem_at(name, text, node.start_mark, TOO_DEEP, DEPTH_HINT)])
        elif len(path) >= MAX_DEPTH:
            raise UserError([_problem_at(name, text, child.start_mark, TOO_DEEP, DEPTH_HINT)])
        else:
            path.append((child, iter(_children(child))))
            on_path.add(id(child))


def _build(
    node: yaml.Node,
    loc: Loc,
    nodes: dict[Loc, yaml.Node],
    loader: yaml.SafeLoader,
    source: tuple[str, str],
) -> Any:
    nodes[loc] = node
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                message = "a key must be a plain value, not a list or mapping"
                raise UserError([_problem_at(*source, key_node.start_mark, message)])
            key = loader.construct_object(key_node, deep=True)
            key = key if isinstance(key, str | int) else str(key)
            result[key] = _build(value_node, (*loc, key), nodes, loader, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), nodes, loader, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def validation_problems(
    doc: Document, loc: Loc, exc: ValidationError, model: type[BaseModel]
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


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        annotation = getattr(info, "annotation", None)
        current = annotation if isinstance(annotation, type) else None
    return list(getattr(current, "model_fields", {}))
