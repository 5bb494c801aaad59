"""What a regex cannot match without: the literal strings in every match.

The presearcher indexes a regex rule under these literals, and the
evaluator starts a regex whose every match begins with one of them at the
first place one occurs (a C-speed `str.find`), and not at all where none does.
The pattern is read with the standard library's parser; syntax only the
`regex` module knows gives no literals, which costs speed, never a match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import regex

# A regex as the standard library's parser gives it: untyped nested tuples and lists
Parts = Sequence[tuple[object, Any]]
WORD_CHAR = regex.compile(r"[\p{L}\p{N}\p{M}]")  # what text.py puts in words
MIN_SUBSTRING = 2
MAX_ALTERNATIVES = 64
_AT_BEGINNING = (re._constants.AT, re._constants.AT_BEGINNING)  # type: ignore[attr-defined]
_AT_END = (re._constants.AT, re._constants.AT_END)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Literals:
    """Strings one of which every match of a regex contains, and whether the match
    puts a non-word character (or the start or end of the text) right before or after it."""

    strings: frozenset[str]
    starts_word: bool = False
    ends_word: bool = False

    def key_kind(self) -> str:
        """How the presearcher looks the strings up (see the module docstring)."""
        if not all(s.isascii() and s.isalnum() for s in self.strings):
            return "s"
        return {(True, True): "w", (True, False): "p", (False, True): "e"}.get(
            (self.starts_word, self.ends_word), "i"
        )


def regex_literals(pattern: str) -> Literals | None:
    """What every match of `pattern` contains; None when nothing can be told."""
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except Exception:  # regex-module syntax that `re` does not know: no literals, no harm
        return None
    found = _required(list(parsed))
    return found if found and min(map(len, found.strings)) >= MIN_SUBSTRING else None


def _required(items: Parts) -> Literals | None:
    """Within a sequence: the best of its literal chains and required sub-patterns.

    A chain is a run of parts that each match one of a few exact word
    characters or strings (`H` then `20|100`), concatenated: {"H20", "H100"}.
    A separator (a space, `-`, `\\s+`) ends a chain and tells that it ends a word.
    """
    options: list[Literals] = []
    chain: set[str] = {""}
    chain_start = 0
    for i, (op, arg) in enumerate(items):
        exact = None if _separator(str(op), arg) else _exact(str(op), arg)
        if exact is not None and len(chain) * len(exact) <= MAX_ALTERNATIVES:
            chain_start = i if chain == {""} else chain_start
            chain = {a + b for a in chain for b in exact}
            continue
        if chain != {""}:
            options.append(_chain(items, chain, chain_start, i))
        chain = {""}
        if sub := _required_item(str(op), arg):
            options.append(sub)
    if chain != {""}:
        options.append(_chain(items, chain, chain_start, len(items)))
    return max(options, key=_selectivity, default=None)


def _chain(items: Parts, chain: set[str], start: int, end: int) -> Literals:
    before = items[start - 1] if start > 0 else None
    after = items[end] if end < len(items) else None
    starts = before is not None and (
        _separator(str(before[0]), before[1]) or before == _AT_BEGINNING
    )
    ends = after is not None and (_separator(str(after[0]), after[1]) or after == _AT_END)
    return Literals(frozenset(chain), starts, ends)


def _selectivity(option: Literals) -> tuple[bool, int, int]:
    """Prefer strings looked up per word (no pass over the text), then longer, then bounded."""
    shortest = min(map(len, option.strings))
    return option.key_kind() != "s", shortest, option.starts_word + option.ends_word


def _separator(name: str, arg: Any) -> bool:
    """A part that matches only characters that are never in a word: whitespace, punctuation.

    Not `\\b` or `\\W`: a superscript digit is outside the regex module's `\\w` but
    inside our words, so a boundary there does not end a word.
    """
    if name == "LITERAL":
        return not WORD_CHAR.match(chr(arg))
    if name == "IN":
        return all(
            (str(op) == "LITERAL" and not WORD_CHAR.match(chr(value)))
            or (str(op) == "CATEGORY" and str(value) == "CATEGORY_SPACE")
            for op, value in arg
        )
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _, body = arg
        return low >= 1 and len(body) == 1 and _separator(str(body[0][0]), body[0][1])
    return False


def _exact(name: str, arg: Any) -> set[str] | None:
    """The strings a part matches, when it matches only a few fixed strings."""
    if name == "LITERAL":
        return {chr(arg)}
    if name == "SUBPATTERN":
        return _exact_sequence(list(arg[-1]))
    if name == "BRANCH":
        result: set[str] = set()
        for branch in arg[1]:
            found = _exact_sequence(list(branch))
            if found is None:
                return None
            result |= found
        return result if len(result) <= MAX_ALTERNATIVES else None
    return None


def _exact_sequence(items: Parts) -> set[str] | None:
    result = {""}
    for op, arg in items:
        part = _exact(str(op), arg)
        if part is None or len(result) * len(part) > MAX_ALTERNATIVES:
            return None
        result = {a + b for a in result for b in part}
    return result


def _required_item(name: str, arg: Any) -> Literals | None:
    """Literals of a group or repeat, without boundaries: the context is not looked at."""
    if name == "SUBPATTERN":
        found = _required(list(arg[-1]))
        return Literals(found.strings) if found else None
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _, body = arg
        found = _required(list(body)) if low >= 1 else None
        return Literals(found.strings) if found else None
    if name == "BRANCH":
        result: set[str] = set()
        for branch in arg[1]:
            found = _required(list(branch))
            if not found:
                return None
            result |= found.strings
        return Literals(frozenset(result))
    return None


@cache
def leading_literals(pattern: str) -> frozenset[str] | None:
    """Strings one of which every match of `pattern` starts with; None if that is unknown.

    Only for patterns without inline flags (`(?i)` would change what the
    strings match), so that finding them in the text is exact.
    """
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
    except Exception:
        return None
    if parsed.state.flags & ~(re.UNICODE | re.ASCII):
        return None
    chain: set[str] = {""}
    for op, arg in parsed:
        exact = _exact(str(op), arg)
        if exact is None or len(chain) * len(exact) > MAX_ALTERNATIVES:
            break
        chain = {a + b for a in chain for b in exact}
    if chain == {""} or min(map(len, chain)) < MIN_SUBSTRING:
        return None
    return frozenset(chain)
