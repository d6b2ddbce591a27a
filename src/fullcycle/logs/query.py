"""The log query language: its syntax tree and its one parser (docs/log-query.md).

Grammar (case matters for the operators AND, OR, NOT; juxtaposition means AND):

    query      = [ or ] END
    or         = and { "OR" and }
    and        = unary { [ "AND" ] unary }
    unary      = ( "NOT" | "-" ) unary | primary
    primary    = "(" or ")" | field ":" value | PHRASE | REGEX | WORD
    value      = "*" | PHRASE | range | comparison | WORD
    range      = ( "[" | "{" ) WORD "TO" WORD ( "]" | "}" )
    comparison = ( ">=" | "<=" | ">" | "<" ) WORD

A WORD may contain `*` wildcards and backslash escapes; a PHRASE is double-quoted with
backslash escapes; a REGEX is `/.../` or `/.../i` (RE2 syntax, `\\/` for a slash). The parser
is written by hand so that every error names the column and what was expected there.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

MAX_QUERY_LENGTH = 4000
MAX_DEPTH = 64

FIELD_NAME = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@\-/]*(?=:)")
WORD_END = set(' \t\r\n()"')
VALUE_END = set(" \t\r\n()")
OPERATORS = ("AND", "OR", "NOT")
# RE2 (ClickHouse's regular expressions) has no lookaround and no backreferences.
RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]")

Comparison = Literal[">", ">=", "<", "<="]


class LogQueryError(ValueError):
    """A query that does not parse; `column` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class MatchAll:
    """The empty query: every line."""


@dataclass(frozen=True)
class Word:
    """Text as typed, with the positions of its unescaped `*` wildcards."""

    text: str
    wildcards: tuple[int, ...] = ()

    def parts(self) -> list[str]:
        """The literal pieces between the wildcards (len(wildcards) + 1 of them)."""
        pieces, start = [], 0
        for index in self.wildcards:
            pieces.append(self.text[start:index])
            start = index + 1
        pieces.append(self.text[start:])
        return pieces


@dataclass(frozen=True)
class Term:
    """A word in the body, as a whole token, case-insensitive; wildcards match within lines."""

    word: Word


@dataclass(frozen=True)
class Phrase:
    """A quoted phrase anywhere in the body, case-insensitive."""

    text: str


@dataclass(frozen=True)
class Regex:
    """A regular expression (RE2) matched against the body."""

    pattern: str


@dataclass(frozen=True)
class FieldEquals:
    """`field:value`; an unescaped `*` in the value is a wildcard."""

    field: str
    value: Word


@dataclass(frozen=True)
class FieldPhrase:
    """`field:"exact value"`: no wildcards."""

    field: str
    value: str


@dataclass(frozen=True)
class FieldExists:
    """`field:*`"""

    field: str


@dataclass(frozen=True)
class FieldCompare:
    """`field:>=500`: numeric when the bound is a number, else by text."""

    field: str
    operator: Comparison
    value: str


@dataclass(frozen=True)
class FieldRange:
    """`field:[100 TO 500]` (inclusive) or `{…}` (exclusive), `*` for an open end."""

    field: str
    low: str
    high: str
    include_low: bool
    include_high: bool


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = (
    MatchAll
    | Term
    | Phrase
    | Regex
    | FieldEquals
    | FieldPhrase
    | FieldExists
    | FieldCompare
    | FieldRange
    | Not
    | And
    | Or
)


@dataclass(frozen=True)
class Query:
    """A parsed query: its text and its tree."""

    text: str
    root: Node


def parse(text: str) -> Query:
    """Parse a query; raises LogQueryError with the column and what was expected."""
    if len(text) > MAX_QUERY_LENGTH:
        raise LogQueryError(
            f"the query is {len(text)} characters long; at most {MAX_QUERY_LENGTH} are allowed",
            MAX_QUERY_LENGTH + 1,
        )
    return Query(text, _Parser(text).parse_query())


def describe(character: str) -> str:
    return repr(character) if character else "end of query"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.depth = 0

    # --- helpers -----------------------------------------------------------------------------

    def fail(self, expected: str, position: int | None = None) -> LogQueryError:
        position = self.position if position is None else position
        found = self.text[position] if position < len(self.text) else ""
        what = f"unexpected {describe(found)}" if found else "unexpected end of query"
        return LogQueryError(f"{what} at column {position + 1}; expected {expected}", position + 1)

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.position] if self.position < len(self.text) else ""

    def at_operator(self, name: str) -> bool:
        """The bare word `name` (AND, OR, NOT, TO) starts here."""
        self.skip_space()
        end = self.position + len(name)
        if self.text[self.position : end] != name:
            return False
        return end == len(self.text) or self.text[end] in WORD_END

    # --- grammar -----------------------------------------------------------------------------

    def parse_query(self) -> Node:
        if not self.peek():
            return MatchAll()
        node = self.parse_or()
        if self.peek():  # only a ')' stops parse_or before the end
            raise self.fail("a '(' before it to match, or the end of the query")
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.at_operator("OR"):
            self.position += 2
            children.append(self.parse_and("a term after 'OR'"))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self, expected: str = "a term") -> Node:
        children = [self.parse_unary(expected)]
        while True:
            following = self.peek()
            if not following or following == ")" or self.at_operator("OR"):
                break
            if self.at_operator("AND"):
                self.position += 3
                children.append(self.parse_unary("a term after 'AND'"))
            else:
                children.append(self.parse_unary("a term"))
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self, expected: str) -> Node:
        if self.at_operator("NOT"):
            self.position += 3
            return Not(self.nested(lambda: self.parse_unary("a term after 'NOT'")))
        if self.peek() == "-":
            self.position += 1
            if not self.text[self.position : self.position + 1].strip():
                raise self.fail("a term right after '-' (no space)")
            return Not(self.nested(lambda: self.parse_unary("a term after '-'")))
        return self.parse_primary(expected)

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"at most {MAX_DEPTH} levels of nesting")
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse_primary(self, expected: str) -> Node:
        character = self.peek()
        if not character or character == ")":
            raise self.fail(expected)
        if self.at_operator("AND") or self.at_operator("OR"):
            raise self.fail(f"{expected} before '{self.text[self.position : self.position + 2]}'")
        if character == "(":
            return self.parse_group()
        if character == '"':
            return Phrase(self.read_phrase())
        if character == "/":
            return Regex(self.read_regex())
        field = FIELD_NAME.match(self.text, self.position)
        if field:
            self.position = field.end() + 1
            return self.parse_value(field.group(0))
        return Term(self.read_word(WORD_END, expected))

    def parse_group(self) -> Node:
        opening = self.position
        self.position += 1
        if self.peek() == ")":
            raise self.fail("a term inside '(' ')'")
        node = self.nested(self.parse_or)
        if self.peek() != ")":
            raise self.fail(f"')' to close the '(' at column {opening + 1}")
        self.position += 1
        return node

    def parse_value(self, field: str) -> Node:
        after = f"a value after '{field}:'"
        if self.position >= len(self.text) or self.text[self.position].isspace():
            raise self.fail(after)
        character = self.text[self.position]
        if character == '"':
            return FieldPhrase(field, self.read_phrase())
        if character in "[{":
            return self.parse_range(field)
        for operator in (">=", "<=", ">", "<"):
            if self.text.startswith(operator, self.position):
                self.position += len(operator)
                value = self.read_word(VALUE_END, f"a value after '{field}:{operator}'")
                return FieldCompare(field, operator, value.text)
        value = self.read_word(VALUE_END, after)
        if value.text == "*" and value.wildcards:
            return FieldExists(field)
        return FieldEquals(field, value)

    def parse_range(self, field: str) -> Node:
        include_low = self.text[self.position] == "["
        self.position += 1
        self.skip_space()
        low = self.read_word(set(" \t\r\n]}"), f"a lower bound in the range of '{field}:'")
        if not self.at_operator("TO"):
            raise self.fail("'TO' between the bounds of the range")
        self.position += 2
        self.skip_space()
        high = self.read_word(set(" \t\r\n]}"), f"an upper bound after 'TO' in '{field}:'")
        closing = self.peek()
        if closing not in ("]", "}"):
            raise self.fail("']' or '}' to close the range")
        self.position += 1
        return FieldRange(field, low.text, high.text, include_low, closing == "]")

    # --- lexemes -----------------------------------------------------------------------------

    def read_word(self, stop: set[str], expected: str) -> Word:
        start = self.position
        characters: list[str] = []
        wildcards: list[int] = []
        while self.position < len(self.text) and self.text[self.position] not in stop:
            character = self.text[self.position]
            if character == "\\":
                if self.position + 1 >= len(self.text):
                    raise self.fail("a character after '\\'", self.position + 1)
                self.position += 1
                character = self.text[self.position]
            elif character == "*":
                wildcards.append(len(characters))
            characters.append(character)
            self.position += 1
        if self.position == start:
            raise self.fail(expected)
        return Word("".join(characters), tuple(wildcards))

    def read_phrase(self) -> str:
        opening = self.position
        self.position += 1
        characters: list[str] = []
        while self.position < len(self.text):
            character = self.text[self.position]
            if character == '"':
                self.position += 1
                if not characters:
                    raise self.fail("text inside the quotes", opening + 1)
                return "".join(characters)
            if character == "\\" and self.position + 1 < len(self.text):
                self.position += 1
                character = self.text[self.position]
            characters.append(character)
            self.position += 1
        raise self.fail(f"'\"' to close the phrase opened at column {opening + 1}")

    def read_regex(self) -> str:
        opening = self.position
        self.position += 1
        characters: list[str] = []
        while self.position < len(self.text):
            character = self.text[self.position]
            if character == "/":
                self.position += 1
                pattern = self.checked_regex("".join(characters), opening)
                if self.text[self.position : self.position + 1] == "i" and (
                    self.position + 1 == len(self.text) or self.text[self.position + 1] in WORD_END
                ):
                    self.position += 1
                    return f"(?i){pattern}"
                return pattern
            if character == "\\" and self.text[self.position + 1 : self.position + 2] == "/":
                self.position += 1
                character = "/"
            elif character == "\\" and self.position + 1 < len(self.text):
                characters.append(character)
                self.position += 1
                character = self.text[self.position]
            characters.append(character)
            self.position += 1
        raise self.fail(f"'/' to close the regular expression opened at column {opening + 1}")

    def checked_regex(self, pattern: str, opening: int) -> str:
        if not pattern:
            raise self.fail("a pattern between the slashes", opening + 1)
        unsupported = RE2_UNSUPPORTED.search(pattern)
        if unsupported:
            raise LogQueryError(
                f"regular expression at column {opening + 1}: {unsupported.group(0)!r} "
                "(lookaround or backreference) is not supported; expected RE2 syntax",
                opening + 2 + unsupported.start(),
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                re.compile(pattern)
        except re.error as error:
            column = opening + 2 + (error.pos or 0)
            raise LogQueryError(
                f"regular expression at column {opening + 1} is invalid ({error.msg}) "
                f"at column {column}; expected a valid RE2 pattern",
                column,
            ) from None
        except RecursionError:
            raise LogQueryError(
                f"regular expression at column {opening + 1} is nested too deeply", opening + 1
            ) from None
        return pattern


BARE_VALUE = re.compile(r"[^\s()\"\\*\[{<>]+")


def field_filter(field: str, value: str) -> str | None:
    """Query text matching `field` exactly equal to `value` (for clickable facets), or None
    when the field's name cannot be written in the language."""
    name = FIELD_NAME.match(field + ":")
    if name is None or name.group(0) != field:
        return None
    if value and BARE_VALUE.fullmatch(value):
        return f"{field}:{value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{escaped}"' if value else None
