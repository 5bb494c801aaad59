"""YAML documents that remember where each value came from.

PyYAML's safe loader forgets line numbers once it builds Python objects. We
compose the node tree ourselves and keep a map from each key path to its node,
so every later error (pydantic's, the query parser's) can point at the file,
line and column, even inside a `>` or `|` block scalar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import Problem, UserError

Loc = tuple[str | int, ...]
# libyaml's parser, when PyYAML was built with it: the same nodes and marks, many times faster
Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError([Problem(name, f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise UserError([Problem(name, "not UTF-8 text", hint="save the file as UTF-8")]) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> Document:
    loader = Parser(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        lines = text.splitlines()
        if mark is None:
            raise UserError([Problem(name, message)]) from None
        source_line = lines[mark.line] if mark.line < len(lines) else ""
        raise UserError(
            [Problem(name, message, mark.line + 1, mark.column + 1, source_line=source_line)]
        ) from None
    except yaml.YAMLError as exc:
        raise UserError([Problem(name, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    doc = Document(name, text, None)
    if root is not None:
        doc.data = _build(root, (), doc.nodes, yaml.SafeLoader(""))
    return doc


def _build(node: yaml.Node, loc: Loc, nodes: dict[Loc, yaml.Node], loader: yaml.SafeLoader) -> Any:
    nodes[loc] = node
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = key if isinstance(key, str | int) else str(key)
            result[key] = _build(value_node, (*loc, key), nodes, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), nodes, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
