"""The query language: a lexer and a recursive-descent parser into the tree of nodes.py.

Precedence, high to low: field prefix, NOT (and `-`), NEAR, AND (explicit or
implicit), OR. Operators are upper case; `and`, `or`, `not` and `near` in lower
case are ordinary words. Every node keeps its offset in the query so that
errors can point a caret at the fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import regex

from monitor.errors import did_you_mean
from monitor.match.nodes import (
    FIELDS,
    POSITIONAL,
    And,
    AtLeast,
    Field,
    ListRef,
    Near,
    Node,
    Not,
    Or,
    Regex,
    Terms,
    Word,
    children,
)
from monitor.match.text import CJK, CJK_WORD, fold, is_cjk

OPERATOR = re.compile(r"(AND|OR|NOT)(?![^\s()])|(O?NEAR|ATLEAST)/(\S*?)(?=[\s()]|$)")
WORD_CHARS = re.compile(r'[^\s()"]+')
QUERY_WORD = regex.compile(r"[\p{L}\p{N}\p{M}*?]+(?:~\d?)?")  # text.py's words, plus * ? ~n
# Levels of parentheses, NOT, ATLEAST and field prefixes, and of the tree parsed (a chain of
# NEARs is one level per NEAR). The parser and every walk of the tree (matching, presearch,
# explain) recurse once or a few times per level: this keeps them far inside Python's stack.
MAX_DEPTH = 50
DEPTH_HINT = "use fewer nested parentheses, NOTs and chained NEARs, or split the query with any:"


class QueryError(Exception):
    def __init__(self, message: str, offset: int, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.offset, self.hint = message, offset, hint


# Where a mistake that leaves the query's shape intact goes (an unknown field, a bad
# regex, NEAR/x): `check` lists them all and parsing goes on; by default the first raises.
Report = Callable[[QueryError], None]


def _raise(error: QueryError) -> None:
    raise error


# ---- the lexer -----------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # ( ) WORD PHRASE REGEX LIST FIELD AND OR NOT MINUS NEAR ATLEAST END
    text: str
    offset: int
    arg: str = ""


def tokenize(query: str, report: Report = _raise) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(query):
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError("unclosed quote", i, 'close the phrase with "')
            tokens.append(Token("PHRASE", query[i + 1 : end], i))
            i = end + 1
        elif ch == "/":
            i = _lex_regex(query, i, tokens, report)
        elif ch == "-" and i + 1 < len(query) and not query[i + 1].isspace():
            tokens.append(Token("MINUS", "-", i))
            i += 1
        elif ch == "@":
            word = WORD_CHARS.match(query, i + 1)
            name = word.group() if word else ""
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise QueryError("a list reference needs a name, such as @entity-list", i)
            tokens.append(Token("LIST", name, i))
            i += 1 + len(name)
        elif op := OPERATOR.match(query, i):
            i = _lex_operator(op, tokens, report)
        else:
            word = WORD_CHARS.match(query, i)
            assert word is not None
            i = _lex_word(word.group(), i, tokens, report)
    tokens.append(Token("END", "", len(query)))
    return tokens


def _lex_regex(query: str, start: int, tokens: list[Token], report: Report) -> int:
    i = start + 1
    while i < len(query) and query[i] != "/":
        i += 2 if query[i] == "\\" else 1
    if i >= len(query):
        raise QueryError("unclosed regex", start, "end the regex with /, or /i for any case")
    flags = re.match(r"[a-z]*", query[i + 1 :]).group()  # type: ignore[union-attr]
    if flags not in ("", "i"):
        report(QueryError(f"unknown regex flag `{flags}`", i + 1, "only /i is supported"))
    tokens.append(Token("REGEX", query[start + 1 : i], start, "i" if flags == "i" else ""))
    return i + 1 + len(flags)


def _lex_operator(op: re.Match[str], tokens: list[Token], report: Report) -> int:
    start = op.start()
    if op.group(1):
        tokens.append(Token(op.group(1), op.group(1), start))
        return op.end()
    name, arg = op.group(2), op.group(3)
    if name == "ATLEAST":
        if not arg.isdigit() or int(arg) < 1:
            report(QueryError(f"ATLEAST/{arg}: expected a count", start, "write ATLEAST/3 word"))
            arg = "1"
    elif not (arg.isdigit() or arg in ("s", "p")):
        report(QueryError(
            f"{name}/{arg}: expected a number of words, s or p",
            start,
            f"write {name}/5 (within 5 words), {name}/s (same sentence) or {name}/p",
        ))  # fmt: skip
        arg = "5"
    tokens.append(Token("ATLEAST" if name == "ATLEAST" else "NEAR", name, start, arg))
    return op.end()


def _lex_word(word: str, start: int, tokens: list[Token], report: Report) -> int:
    if ":" in word:
        name = word.partition(":")[0]
        if name.lower() in FIELDS:
            tokens.append(Token("FIELD", name.lower(), start))
            return start + len(name) + 1
        if name.isalpha():
            report(QueryError(
                f"unknown field `{name}`",
                start,
                did_you_mean(name.lower(), FIELDS)
                or f'fields are {", ".join(FIELDS)}; put text with a colon in quotes: "10:30"',
            ))  # fmt: skip
            tokens.append(Token("FIELD", "text", start))  # to read on and find more mistakes
            return start + len(name) + 1
    tokens.append(Token("WORD", word, start))
    return start + len(word)


# ---- the parser ----------------------------------------------------------------


class Parser:
    def __init__(self, query: str, report: Report = _raise) -> None:
        self.query, self.report = query, report
        self.tokens = tokenize(query, report)
        self.at = 0
        self.depth = 0  # parentheses and prefix operators open around the current token

    def parse(self) -> Node:
        if self.peek.kind == "END":
            raise QueryError("empty query", 0, "write at least one word")
        node = self.or_expr()
        if self.peek.kind == ")":
            raise QueryError("unbalanced parenthesis: `)` without `(`", self.peek.offset)
        _check_depth(node)
        return node

    def _enter(self, token: Token) -> None:
        """One level deeper, at `token`: refused past MAX_DEPTH, before the parser recurses."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"nested more than {MAX_DEPTH} levels deep", token.offset, DEPTH_HINT)

    @property
    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.peek.kind == "OR":
            self.take()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children), children[0].offset)

    def and_expr(self) -> Node:
        children = [self.near_expr()]
        while self.peek.kind not in ("OR", ")", "END"):
            if self.peek.kind == "AND":
                self.take()
            children.append(self.near_expr())
        return children[0] if len(children) == 1 else And(tuple(children), children[0].offset)

    def near_expr(self) -> Node:
        node = self.unary()
        while self.peek.kind == "NEAR":
            op = self.take()
            right = self.unary()
            for side in (node, right):
                _require_positional(side, op, self.report)
            unit, distance = (op.arg, 0) if op.arg in ("s", "p") else ("w", int(op.arg))
            node = Near(node, right, unit, distance, op.text == "ONEAR", op.offset)
        return node

    def unary(self) -> Node:
        token = self.peek
        if token.kind in ("NOT", "MINUS"):
            self.take()
            return Not(self._operand(token), token.offset)
        if token.kind == "ATLEAST":
            self.take()
            child = self._operand(token)
            _require_positional(child, token, self.report)
            return AtLeast(int(token.arg), child, token.offset)
        if token.kind == "FIELD":
            self.take()
            return Field(token.text, self._operand(token), token.offset)
        return self.primary()

    def _operand(self, operator: Token) -> Node:
        if self.peek.kind in ("END", ")", "OR", "AND", "NEAR"):
            name = operator.text if operator.kind != "FIELD" else f"{operator.text}:"
            raise QueryError(f"`{name}` has no operand", operator.offset, "add a term after it")
        self._enter(operator)
        node = self.unary()
        self.depth -= 1
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "(":
            if self.peek.kind == ")":
                raise QueryError("empty parentheses", token.offset)
            self._enter(token)
            node = self.or_expr()
            if self.peek.kind != ")":
                raise QueryError("unbalanced parenthesis: `(` is never closed", token.offset)
            self.take()
            self.depth -= 1
            return node
        if token.kind == "WORD":
            return _word_terms(token, self.report)
        if token.kind == "PHRASE":
            return _phrase_terms(token, self.report)
        if token.kind == "REGEX":
            return _regex(token, self.report)
        if token.kind == "LIST":
            return ListRef(token.text, token.offset)
        if token.kind == "END":
            raise QueryError("the query ends where a term was expected", token.offset)
        if token.kind == ")":
            raise QueryError("unbalanced parenthesis: `)` without `(`", token.offset)
        raise QueryError(
            f"`{token.text}` has no left operand", token.offset, "add a term before it"
        )


def _check_depth(root: Node) -> None:
    """Refuse a tree more than MAX_DEPTH nodes deep, such as a chain of 1,000 NEARs, which
    the parser builds in a loop: measured with a stack of its own, not by recursion."""
    pending = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise QueryError(f"nested more than {MAX_DEPTH} levels deep", node.offset, DEPTH_HINT)
        pending.extend((child, depth + 1) for child in children(node))


def _require_positional(node: Node, op: Token, report: Report) -> None:
    """NEAR and ATLEAST need things with positions: terms, or OR-groups of them."""
    if isinstance(node, Field):
        _require_positional(node.child, op, report)
    elif isinstance(node, Or):
        for child in node.children:
            _require_positional(child, op, report)
    elif not isinstance(node, POSITIONAL):
        report(QueryError(
            f"{op.text} works on words, phrases, lists, regexes or OR-groups of them",
            getattr(node, "offset", op.offset),
            "move AND / NOT outside: (a NEAR/5 b) AND NOT c",
        ))  # fmt: skip


def _word(text: str, offset: int, report: Report) -> Word:
    """A lexed word piece: `tariff*`, `licen?e`, `nvidia~1` or plain."""
    fuzz = 0
    if m := re.fullmatch(r"(.+?)~(\d?)", text):
        text, fuzz = m.group(1), int(m.group(2) or 1)
        if fuzz > 2:
            hint = "write word~1 or word~2"
            report(QueryError("fuzzy matching allows at most 2 edits", offset, hint))
            fuzz = 2
    wildcard = "*" in text or "?" in text
    if wildcard and fuzz:
        report(QueryError("a word cannot be both fuzzy and a wildcard", offset))
        fuzz = 0
    if wildcard and not text.strip("*?"):
        raise QueryError("a wildcard needs at least one letter", offset)
    return Word(fold(text), wildcard, fuzz)


def _word_terms(token: Token, report: Report) -> Terms:
    """A bare word; `rare-earth`, `U.S.` and `Nvidia's` split into a phrase, as the text does."""
    pieces = _pieces(token.text)
    if not pieces:
        raise QueryError(f"`{token.text}` has no letters or digits to match", token.offset)
    words = tuple(w for p in pieces for w in _piece_words(p, token.offset, report))
    return Terms(words, token.offset, token.text)


def _phrase_terms(token: Token, report: Report) -> Terms:
    pieces = _pieces(token.text)
    if not pieces:
        raise QueryError("empty phrase", token.offset, "put words between the quotes")
    words = tuple(w for p in pieces for w in _piece_words(p, token.offset, report))
    return Terms(words, token.offset, f'"{token.text}"')


def _piece_words(piece: str, offset: int, report: Report) -> list[Word]:
    """A piece's words: itself, or with CJK characters one word each, as the text splits them.

    Characters written side by side in the query must stand side by side in the
    text (`joined`); a space or punctuation between them in the query allows any
    separator in the text, as between Latin words. A wildcard or fuzzy mark on a
    CJK piece has no meaning (a CJK term already matches inside longer runs), so
    it is an error rather than a silent guess.
    """
    if not CJK.search(piece):
        return [_word(piece, offset, report)]
    if re.search(r"[*?]|~\d?$", piece):
        report(QueryError(
            f"`{piece}`: wildcards and fuzzy matching do not apply to Chinese, Japanese or "
            "Korean characters",
            offset,
            "write the characters alone: they already match inside any longer run of "
            "characters (出口 inside 出口管制); use a regex for more",
        ))  # fmt: skip
        piece = re.sub(r"~\d?$", "", piece)  # `*` and `?` are no letters: the split drops them
    words: list[Word] = []
    previous = ""
    for unit in CJK_WORD.findall(piece):
        words.append(Word(fold(unit), joined=bool(previous) and is_cjk(previous) and is_cjk(unit)))
        previous = unit
    return words


def _pieces(text: str) -> list[str]:
    """Split like the article tokenizer, but keep `*`, `?` and `~n` attached."""
    return [p for p in QUERY_WORD.findall(text) if p.strip("~")]


def _regex(token: Token, report: Report) -> Regex:
    flags = regex.IGNORECASE if token.arg == "i" else 0
    try:
        regex.compile(token.text, flags)
    except regex.error as exc:
        report(QueryError(f"bad regex: {exc}", token.offset + 1 + (getattr(exc, "pos", None) or 0)))
    return Regex(token.text, token.arg == "i", token.offset, f"/{token.text}/{token.arg}")


def parse_query(query: str, report: Report = _raise) -> Node:
    """The query's tree. A mistake that leaves its shape intact goes to `report` (the
    default raises it); the tree is then only good for finding more mistakes."""
    return Parser(query, report).parse()
