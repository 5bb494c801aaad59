"""The query tree: what a parsed query is made of, and the one walk over it.

Every pass over a tree (matching, the compiled checks, presearch, explain)
uses `match node:` over the `Node` union and ends in `assert_never`, so a
type checker finds the pass that forgot a new operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TypeVar, assert_never

import regex

FIELDS = ("title", "summary", "body", "lead", "text", "author", "url", "source")


@dataclass(frozen=True)
class Word:
    """One word pattern: exact, wildcard (`*`, `?`) or fuzzy (`~n`).

    `pattern` is None for an exact word (compared by equality), else the
    compiled pattern a word must match in full; `prefix` is a wildcard's
    literal start, which narrows the words worth trying. A `joined` word must
    touch the word before it in the text: the second and later characters of a
    CJK term written without a space (`出口管制`), which match only side by side.
    """

    text: str  # folded
    wildcard: bool = False
    fuzz: int = 0
    joined: bool = False

    @cached_property
    def pattern(self) -> regex.Pattern[str] | None:
        return _word_pattern(self.text, self.wildcard, self.fuzz)

    @cached_property
    def prefix(self) -> str:
        return regex.split(r"[*?]", self.text, maxsplit=1)[0] if self.wildcard else ""

    def __str__(self) -> str:
        return self.text + (f"~{self.fuzz}" if self.fuzz else "")


@dataclass(frozen=True)
class Terms:
    """A word or a phrase: consecutive word patterns, and their other spellings."""

    words: tuple[Word, ...]
    offset: int
    source: str
    spellings: tuple[tuple[Word, ...], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spellings", _spellings(self.words))

    def __str__(self) -> str:
        return self.source


def joins(words: tuple[Word, ...]) -> tuple[int, ...]:
    """The places in a phrase whose word must touch the one before it (CJK characters)."""
    return tuple(k for k, word in enumerate(words) if word.joined and k)


@cache
def _word_pattern(text: str, wildcard: bool, fuzz: int) -> regex.Pattern[str] | None:
    """Compiled once per distinct word: 10,000 rules repeat many."""
    if wildcard:
        letter = r"[\p{L}\p{N}\p{M}]"
        pieces = (f"{letter}*" if c == "*" else letter if c == "?" else regex.escape(c)
                  for c in text)  # fmt: skip
        return regex.compile("".join(pieces))
    if fuzz:
        return regex.compile(f"(?:{regex.escape(text)}){{e<={fuzz}}}", regex.BESTMATCH)
    return None


LETTERS_DIGITS = regex.compile(r"^(\p{L}+)(\p{N}+)$|^(\p{N}+)(\p{L}+)$")


def _spellings(words: tuple[Word, ...]) -> tuple[tuple[Word, ...], ...]:
    """The term and its other spellings: `h20` is also "h-20" and "h 20", and back."""
    result = [words]
    if len(words) == 1 and not (words[0].wildcard or words[0].fuzz):
        if found := LETTERS_DIGITS.match(words[0].text):
            result.append(tuple(Word(part) for part in found.groups() if part))
    elif len(words) == 2 and not any(w.wildcard or w.fuzz for w in words):
        joined = words[0].text + words[1].text
        if LETTERS_DIGITS.match(joined):
            result.append((Word(joined),))
    return tuple(result)


@dataclass(frozen=True)
class Regex:
    pattern: str
    ignore_case: bool
    offset: int
    source: str

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class ListRef:
    name: str
    offset: int

    def __str__(self) -> str:
        return f"@{self.name}"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    offset: int

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    offset: int

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class Not:
    child: Node
    offset: int

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True)
class Near:
    """Both sides within `distance` words (unit `w`), or in one sentence (`s`) or paragraph."""

    left: Node
    right: Node
    unit: str
    distance: int
    ordered: bool
    offset: int

    def __str__(self) -> str:
        op = ("ONEAR" if self.ordered else "NEAR") + "/"
        op += str(self.distance) if self.unit == "w" else self.unit
        return f"({self.left} {op} {self.right})"


@dataclass(frozen=True)
class AtLeast:
    count: int
    child: Node
    offset: int

    def __str__(self) -> str:
        return f"ATLEAST/{self.count} {self.child}"


@dataclass(frozen=True)
class Field:
    name: str
    child: Node
    offset: int

    def __str__(self) -> str:
        return f"{self.name}:{self.child}"


Node = Terms | Regex | ListRef | And | Or | Not | Near | AtLeast | Field
POSITIONAL = (Terms, Regex, ListRef, Near)


def children(node: Node) -> tuple[Node, ...]:
    """The nodes directly under this one: the one walk of the tree every pass shares."""
    match node:
        case And() | Or():
            return node.children
        case Near():
            return (node.left, node.right)
        case Not() | AtLeast() | Field():
            return (node.child,)
        case Terms() | Regex() | ListRef():
            return ()
        case _:
            assert_never(node)


N = TypeVar("N", bound="Node")


def nodes_of(node: Node, kind: type[N]) -> list[N]:
    """Every node of this kind in a query tree."""
    if isinstance(node, kind):
        return [node]
    return [found for child in children(node) for found in nodes_of(child, kind)]
