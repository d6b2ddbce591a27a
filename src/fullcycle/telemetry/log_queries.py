"""The SQL of the log explorer: a parsed log query (fullcycle.logs.query) rendered to a
parameterised ClickHouse condition, and the named reads built on it.

User text never becomes SQL syntax: every value and every attribute key travels as a bound
`{pN:Type}` parameter; the SQL text is assembled only from the fixed fragments below.

Body matching and the text index (`body_text`: a text index on `lower(body)`, tokenizer
splitByNonAlpha, so it holds every token in ASCII lower case). Letters match regardless of ASCII
case everywhere, and the index answers exactly, with or without it being used:
- a term that is one token (`timeout`, `4711`) is `hasToken(lower(body), 'timeout')`;
- a quoted phrase, and a term that is several tokens (`user-42`, `10.0.0.1`), matches where its
  text appears with its first and last words whole (`"connection refused"` does not match
  `reconnection refused`). Two words of letters with one space between them are one entry
  of the word-pair index (`body_pairs`, tables.BODY_WORD_PAIRS), which decides such a phrase
  exactly; any other is `hasAllTokens` on its tokens and its word pairs (answered by the
  indexes), then a substring test and a regular expression (letters as `[aA]`) for the order
  and the ends;
- wildcard terms (`time*`) are LIKE on `lower(body)` anywhere in the line; regular expressions
  (`/.../`) are `match` on the body as stored.

Totals, histograms and the service/level/host facets of a query that filters only on service,
environment, host and level read the per-minute counts of `logs_1m` (telemetry/rollups.py) for
the window's whole minutes, and the lines themselves only for the partial minutes at its ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from fullcycle.logs.levels import LEVEL_ORDER, LEVEL_RANGES, UNKNOWN_LEVEL, level_named
from fullcycle.logs.query import (
    And,
    FieldCompare,
    FieldEquals,
    FieldExists,
    FieldPhrase,
    FieldRange,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    Regex,
    Term,
    Word,
)
from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.log_parts import Parts
from fullcycle.telemetry.rollups import LOG_ROLLUPS
from fullcycle.telemetry.store import TelemetryStore
from fullcycle.telemetry.tables import BODY_SEPARATOR_CLASS, BODY_WORD_PAIRS

TABLE = f"{DATABASE}.logs"
BUILT_IN_COLUMNS = {
    "service": "service",
    "host": "host",
    "env": "environment",
    "environment": "environment",
    "trace_id": "trace_id",
    "span_id": "span_id",
    "scope": "scope",
}
LEVEL_FIELDS = ("level", "severity")
BODY_FIELDS = ("body", "message", "msg")
FIELD_NAMES = [*BUILT_IN_COLUMNS, *LEVEL_FIELDS, *BODY_FIELDS]
"""Names a query's `name:value` means the built-in field by, not an attribute: an attribute of
such a name (a Loki stream's `level` label) has no facet of its own, which would shadow the
built-in one and filter something else when clicked."""
# splitByNonAlpha: every ASCII character that is not a letter or digit separates tokens.
TOKEN_SEPARATORS = re.compile(BODY_SEPARATOR_CLASS + "+")
SEPARATOR_CLASS = BODY_SEPARATOR_CLASS
PAIR_PARTS = re.compile(f"({BODY_SEPARATOR_CLASS}+)")
PAIR_WORD = re.compile("[a-z]+")
RE2_SPECIAL = set("\\.+*?()|[]{}^$")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

# A line's identity: its timestamp plus this hash (lines can share a timestamp).
ROW_KEY = "cityHash64(service, host, body, trace_id, span_id, observed_timestamp)"
LEVEL_EXPRESSION = (
    "multiIf("
    + ", ".join(
        f"severity_number BETWEEN {low} AND {high}, '{name}'"
        for name, (low, high) in LEVEL_RANGES.items()
    )
    + f", '{UNKNOWN_LEVEL}')"
)
LINE_COLUMNS = (
    f"toUnixTimestamp64Nano(timestamp), {ROW_KEY}, service, environment, host, severity_text,"
    f" severity_number, {LEVEL_EXPRESSION}, body, trace_id, span_id, scope, attributes,"
    " resource_attributes"
)


@dataclass(frozen=True)
class Window:
    """[start, end) in nanoseconds since the epoch."""

    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class LogLine:
    timestamp_ns: int
    key: int
    service: str
    environment: str
    host: str
    severity_text: str
    severity_number: int
    level: str
    body: str
    trace_id: str
    span_id: str
    scope: str
    attributes: dict[str, str]
    resource_attributes: dict[str, str]

    @property
    def line_id(self) -> str:
        return f"{self.timestamp_ns}-{self.key}"


FieldNode = FieldEquals | FieldPhrase | FieldExists | FieldCompare | FieldRange


@dataclass
class Condition:
    """The parameters bound by a WHERE clause under construction; `bind` names the next one."""

    parameters: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, clickhouse_type: str) -> str:
        name = f"p{len(self.parameters)}"
        self.parameters[name] = value
        return f"{{{name}:{clickhouse_type}}}"


def compile_query(query: Query, window: Window) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (without `WHERE`) selecting the query's lines in the window."""
    condition = Condition()
    time_range = _time_range(condition, window)
    matches = _Compiler(condition).node(query.root)
    return f"{time_range} AND ({matches})", condition.parameters


def _time_range(condition: Condition, window: Window) -> str:
    start = condition.bind(window.start_ns, "Int64")
    end = condition.bind(window.end_ns, "Int64")
    return (
        f"timestamp >= fromUnixTimestamp64Nano({start}, 'UTC')"
        f" AND timestamp < fromUnixTimestamp64Nano({end}, 'UTC')"
    )


# --- the per-minute rollup -------------------------------------------------------------------

MINUTE_NS = 60 * 1_000_000_000
MINUTE_PLACEHOLDER = "<minute_ns>"
# Fields whose conditions the rollup's columns (service, environment, host, severity) answer.
ROLLUP_FIELDS = {"service", "host", "env", "environment", *LEVEL_FIELDS}


def rollup_answers(node: Node) -> bool:
    """Whether the per-minute counts can decide `node`: only field conditions on the
    rollup's columns, combined with AND, OR and NOT."""
    if isinstance(node, MatchAll):
        return True
    if isinstance(node, And | Or):
        return all(rollup_answers(child) for child in node.children)
    if isinstance(node, Not):
        return rollup_answers(node.child)
    if isinstance(node, FieldEquals | FieldPhrase | FieldExists | FieldCompare | FieldRange):
        return node.field.lower() in ROLLUP_FIELDS
    return False


@dataclass(frozen=True)
class _Split:
    """A window as whole periods of the rollups (`parts`: table and its [start, end) in ns,
    coarsest in the middle) and the partial minutes at its ends (`edges`, read from lines)."""

    parts: tuple[tuple[str, Window], ...]
    edges: tuple[Window, ...]


def _split(window: Window, largest_seconds: int) -> _Split | None:
    """Cut the window into the rollups' whole periods (none longer than `largest_seconds`)
    and the rest, from the outside in."""
    parts: list[tuple[str, Window]] = []
    edges = [window]
    for rollup in reversed(LOG_ROLLUPS):  # finest first: each cuts the middle of the last
        if rollup.seconds > largest_seconds:
            break
        period = rollup.seconds * 1_000_000_000
        outer = parts.pop() if parts else None
        middle = outer[1] if outer else window
        first = -(-middle.start_ns // period) * period
        last = middle.end_ns // period * period
        if last <= first:
            if outer:
                parts.append(outer)
            break
        if outer:
            parts += [
                (outer[0], Window(middle.start_ns, first)),
                (outer[0], Window(last, middle.end_ns)),
            ]
        else:
            edges = [Window(window.start_ns, first), Window(last, window.end_ns)]
        parts.append((rollup.table, Window(first, last)))
    if not parts:
        return None
    return _Split(
        tuple((table, part) for table, part in parts if part.end_ns > part.start_ns),
        tuple(edge for edge in edges if edge.end_ns > edge.start_ns),
    )


def _counted_split(
    query: Query, window: Window, rollups: bool, step_seconds: int = 86400
) -> _Split | None:
    """How to count the query's lines in the window from the rollups, with periods that fit
    in steps of `step_seconds` (None: from the lines)."""
    if not rollups or not rollup_answers(query.root):
        return None
    fitting = [r.seconds for r in LOG_ROLLUPS if step_seconds % r.seconds == 0]
    return _split(window, max(fitting)) if fitting else None


def _rollup_sources(
    query: Query,
    split: _Split,
    columns: str,
    group_by: str,
    parameters: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """A subquery of (columns..., c) rows: counts per `group_by` from the lines at the
    window's edges and from the rollup's whole minutes. `columns` may use the rollup's
    columns, which the lines have too, and MINUTE_PLACEHOLDER (the line's time or the
    minute, in ns); `parameters` are the bound values they use."""
    condition = Condition(dict(parameters or {}))
    matches = _Compiler(condition).node(query.root)
    edges = " OR ".join(f"({_time_range(condition, edge)})" for edge in split.edges) or "0"
    at_line = columns.replace(MINUTE_PLACEHOLDER, "toUnixTimestamp64Nano(timestamp)")
    at_minute = columns.replace(MINUTE_PLACEHOLDER, "toInt64(toUnixTimestamp(minute)) * 1000000000")
    lines = (
        f"SELECT {at_line}, count() AS c"  # noqa: S608
        f" FROM {TABLE} WHERE ({edges}) AND ({matches}) GROUP BY {group_by}"
    )
    sources = [lines]
    for table, part in split.parts:
        first = condition.bind(part.start_ns // 1_000_000_000, "Int64")
        last = condition.bind(part.end_ns // 1_000_000_000, "Int64")
        sources.append(
            f"SELECT {at_minute}, sum(lines) AS c FROM {DATABASE}.{table}"  # noqa: S608
            f" WHERE minute >= toDateTime({first}, 'UTC') AND minute < toDateTime({last}, 'UTC')"
            f" AND ({matches}) GROUP BY {group_by}"
        )
    return "(" + " UNION ALL ".join(sources) + ")", condition.parameters


class _Compiler:
    def __init__(self, condition: Condition) -> None:
        self.condition = condition

    def bind(self, value: Any, clickhouse_type: str = "String") -> str:
        return self.condition.bind(value, clickhouse_type)

    def node(self, node: Node) -> str:
        if isinstance(node, MatchAll):
            return "1"
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(child) for child in node.children) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(child) for child in node.children) + ")"
        if isinstance(node, Not):
            return f"NOT ({self.node(node.child)})"
        if isinstance(node, Term):
            return self.body_word(node.word)
        if isinstance(node, Phrase):
            return self.body_phrase(node.text)
        if isinstance(node, Regex):
            return f"match(body, {self.bind(node.pattern)})"
        return self.field(node)

    # --- the body ----------------------------------------------------------------------------

    def body_word(self, word: Word) -> str:
        if word.wildcards:
            pattern = like_pattern(word, anchored=False).translate(ASCII_LOWER)
            return f"lower(body) LIKE {self.bind(pattern)}"
        tokens = tokens_of(word.text)
        if len(tokens) == 1 and tokens[0] == word.text:
            return f"hasToken(lower(body), {self.bind(word.text.translate(ASCII_LOWER))})"
        return self.body_phrase(word.text)

    def body_phrase(self, text: str) -> str:
        lowered = text.translate(ASCII_LOWER)
        tokens = tokens_of(lowered)
        if not tokens:  # only separators: a plain substring
            return f"position(lower(body), {self.bind(lowered)}) > 0"
        pairs = word_pairs(lowered)
        in_pairs = (
            f"hasAllTokens({BODY_WORD_PAIRS}, {self.bind(pairs, 'Array(String)')})"
            if pairs
            else "1"
        )
        if pairs == [lowered]:  # two words of letters: the pair index decides exactly
            return in_pairs
        # The indexes narrow the lines to those with the phrase's words and word pairs.
        words = f"hasAllTokens(lower(body), {self.bind(tokens, 'Array(String)')}) AND {in_pairs}"
        # A cheap substring test first, so that the regular expression (which decides) runs
        # only on lines that contain the text at all.
        text_in_line = f"positionCaseInsensitive(body, {self.bind(lowered)}) > 0"
        in_order = f"match(body, {self.bind(phrase_pattern(lowered))})"
        return f"({words} AND {text_in_line} AND {in_order})"

    # --- fields ------------------------------------------------------------------------------

    def field(self, node: FieldNode) -> str:
        name = node.field
        if name.lower() in LEVEL_FIELDS:
            return self.level(node)
        if name.lower() in BODY_FIELDS:
            return self.body_field(node)
        column = BUILT_IN_COLUMNS.get(name.lower())
        if column is not None:
            return self.value_match(column, node, exists=f"{column} != ''")
        key = self.bind(name)
        value = f"if(mapContains(attributes, {key}), attributes[{key}], resource_attributes[{key}])"
        exists = f"(mapContains(attributes, {key}) OR mapContains(resource_attributes, {key}))"
        match = self.value_match(value, node, exists=exists)
        return match if isinstance(node, FieldExists) else f"({exists} AND {match})"

    def value_match(
        self,
        expression: str,
        node: FieldNode,
        exists: str,
    ) -> str:
        if isinstance(node, FieldExists):
            return exists
        if isinstance(node, FieldPhrase):
            return f"{expression} = {self.bind(node.value)}"
        if isinstance(node, FieldEquals):
            if node.value.wildcards:
                return f"{expression} LIKE {self.bind(like_pattern(node.value, anchored=True))}"
            return f"{expression} = {self.bind(node.value.text)}"
        if isinstance(node, FieldCompare):
            return self.compare(expression, node.operator, node.value)
        bounds = []
        if node.low != "*":
            bounds.append(self.compare(expression, ">=" if node.include_low else ">", node.low))
        if node.high != "*":
            bounds.append(self.compare(expression, "<=" if node.include_high else "<", node.high))
        return "(" + " AND ".join(bounds) + ")" if bounds else exists

    def compare(self, expression: str, operator: str, value: str) -> str:
        """Numbers compare as numbers (a value that is no number never matches), text as text."""
        if NUMBER.fullmatch(value):
            number = self.bind(float(value), "Float64")
            return f"toFloat64OrNull({expression}) {operator} {number}"
        return f"{expression} {operator} {self.bind(value)}"

    def body_field(self, node: FieldNode) -> str:
        if isinstance(node, FieldEquals):
            return self.body_word(node.value)
        if isinstance(node, FieldPhrase):
            return self.body_phrase(node.value)
        return self.value_match("body", node, exists="body != ''")

    def level(self, node: FieldNode) -> str:
        """Level names (`error`, `WARNING`) match their severity range, and lines whose level
        had no number by its text; `level:>=warn` compares severities."""
        if isinstance(node, FieldExists):
            return "(severity_number > 0 OR severity_text != '')"
        if isinstance(node, FieldEquals | FieldPhrase):
            text = node.value.text if isinstance(node, FieldEquals) else node.value
            return self.level_equals(text)
        if isinstance(node, FieldCompare):
            return self.level_compare(node.operator, node.value)
        bounds = []
        if node.low != "*":
            bounds.append(self.level_compare(">=" if node.include_low else ">", node.low))
        if node.high != "*":
            bounds.append(self.level_compare("<=" if node.include_high else "<", node.high))
        return "(" + " AND ".join(bounds) + ")" if bounds else "1"

    def level_equals(self, text: str) -> str:
        by_text = f"lower(severity_text) = {self.bind(text.lower())}"
        name = level_named(text)
        if name is None:
            return by_text
        low, high = LEVEL_RANGES[name]
        low_bound, high_bound = self.bind(low, "UInt8"), self.bind(high, "UInt8")
        by_number = f"severity_number BETWEEN {low_bound} AND {high_bound}"
        return f"({by_number} OR (severity_number = 0 AND {by_text}))"

    def level_compare(self, operator: str, value: str) -> str:
        name = level_named(value)
        if name is not None:
            low, high = LEVEL_RANGES[name]
            bound = low if operator in (">=", "<") else high
        elif value.isdigit() and len(value) <= 3:
            bound = int(value)
        else:
            return "0"  # no such level: nothing is above or below it
        return f"severity_number {operator} {self.bind(min(bound, 255), 'UInt8')}"


def tokens_of(text: str) -> list[str]:
    """The tokens the body's text index makes of `text`."""
    return [token for token in TOKEN_SEPARATORS.split(text) if token]


def word_pairs(text: str) -> list[str]:
    """The entries of the body's word-pair index (tables.BODY_WORD_PAIRS) that a body holding
    `text` (lower case) with its first and last words whole must have: each two neighbouring
    words of letters with one space between them."""
    parts = PAIR_PARTS.split(text)  # token, separator, token, ..., token (maybe empty)
    return [
        "".join(parts[index - 1 : index + 2])
        for index in range(1, len(parts) - 1, 2)
        if parts[index] == " "
        and PAIR_WORD.fullmatch(parts[index - 1])
        and PAIR_WORD.fullmatch(parts[index + 1])
    ]


def phrase_pattern(text: str) -> str:
    """An RE2 pattern finding `text` ignoring ASCII case (letters as `[aA]` classes, which
    needs no lower-cased copy of the body), with whole words at its ends."""
    escaped = "".join(
        f"[{character.lower()}{character.upper()}]"
        if character.isascii() and character.isalpha()
        else f"\\{character}"
        if character in RE2_SPECIAL
        else f"\\x{{{ord(character):02x}}}"
        if ord(character) < 0x20 or character == "\x7f"
        else character
        for character in text
    )
    starts_in_word = not TOKEN_SEPARATORS.match(text[0])
    ends_in_word = not TOKEN_SEPARATORS.match(text[-1])
    before = f"(?:^|{SEPARATOR_CLASS})" if starts_in_word else ""
    after = f"(?:{SEPARATOR_CLASS}|$)" if ends_in_word else ""
    return before + escaped + after


def like_pattern(word: Word, *, anchored: bool) -> str:
    r"""A LIKE pattern: the literal parts escaped (`%`, `_`, `\`), wildcards as `%`."""
    escaped = [re.sub(r"([\\%_])", r"\\\1", part) for part in word.parts()]
    pattern = "%".join(escaped)
    return pattern if anchored else f"%{pattern}%"


# --- the named reads -------------------------------------------------------------------------


def count_matches(store: TelemetryStore, query: Query, window: Window, rollups: bool = True) -> int:
    """How many lines in the window match (exact)."""
    split = _counted_split(query, window, rollups)
    if split is not None:
        sources, parameters = _rollup_sources(query, split, "1 AS one", "one")
        rows = store.query(f"SELECT sum(c) FROM {sources}", parameters)  # noqa: S608
        return int(rows[0][0] or 0)
    # (On a cluster the table is Distributed, whose days are the shards' business.)
    counted = _counted_by_part(store, query, window) if store.options.cluster is None else None
    if counted is not None:
        return counted
    where, parameters = compile_query(query, window)
    rows = store.query(f"SELECT count() FROM {TABLE} WHERE {where}", parameters)  # noqa: S608
    return int(rows[0][0])


def _counted_by_part(store: TelemetryStore, query: Query, window: Window) -> int | None:
    """The count by part (`_count_by_part`) when the query is one entry of a body index and
    some part lies in the window (a word: some part but not every one), else by day
    (`_count_by_day`) when some day lies wholly in the window; if the count still holds
    afterwards: the embedded table's parts are those read before, or else the parts read
    again say so. None otherwise (the plain count)."""
    parts = store.log_parts.read()
    token = _index_token(query.root)
    plan = _part_plan(parts, window) if token is not None else None
    # With every part inside, ClickHouse counts a word as fast from its lists' sizes itself.
    if (
        plan is not None
        and token is not None
        and not (plan.everything and token[0] == "body_text")
        and store.log_parts.indexes_exact(parts)
    ):
        counted = _count_by_part(store, query, window, plan, token)
        if store.log_parts.unchanged_since(parts):
            return counted
        return counted if plan.counted_parts() <= store.log_parts.read().names() else None
    inside = _days_inside(parts, window)
    if inside is None:
        return None
    counted = _count_by_day(store, query, window, inside)
    if store.log_parts.unchanged_since(parts):
        return counted
    return counted if _days_inside(store.log_parts.read(), window) == inside else None


@dataclass(frozen=True)
class _PartPlan:
    """How a count splits the parts of lines by a window. `whole` are counted
    with no time condition: those wholly inside it, and those of `less_outside`, counted
    whole less their lines outside it (the parts it cuts that have most of their time in it:
    fewer lines are read that way). `timed` (the other parts it cuts) are counted with the
    time condition; the parts wholly outside it are not read."""

    whole: tuple[str, ...]
    less_outside: tuple[str, ...]
    timed: tuple[str, ...]
    everything: bool  # every part lies wholly in the window

    def counted_parts(self) -> set[str]:
        """The parts the count reads. If they are all still there after it, it is exact: a
        part is never changed, and its name never comes back once it is merged away, so each
        was there throughout, and none of its lines was missed or counted twice. (A part that
        came in after the parts were read is not counted: its lines came in during the
        search.)"""
        return {*self.whole, *self.timed}


def _part_plan(parts: Parts, window: Window) -> _PartPlan | None:
    """The split of the parts (from their min/max, not the lines); None if no part is counted
    whole (the plain count is the same work)."""
    whole: list[str] = []
    less_outside: list[str] = []
    timed: list[str] = []
    for _, part, first, last in parts.bounds:
        if last < window.start_ns or first >= window.end_ns:
            continue
        outside = max(0, window.start_ns - first) + max(0, last + 1 - window.end_ns)
        if outside == 0:
            whole.append(part)
        elif 2 * outside < last + 1 - first:
            whole.append(part)
            less_outside.append(part)
        else:
            timed.append(part)
    if not whole:
        return None
    everything = len(whole) == len(parts.bounds) and not less_outside
    return _PartPlan(
        tuple(sorted(whole)), tuple(sorted(less_outside)), tuple(sorted(timed)), everything
    )


def _count_by_part(
    store: TelemetryStore, query: Query, window: Window, plan: _PartPlan, token: tuple[str, str]
) -> int:
    """The query's entry in a body index (`token`) counted in the parts counted whole from
    the sizes of its lists there, read from the index's dictionary (`mergeTreeTextIndex`),
    less those parts' lines outside the window, plus the other cut parts' lines in it. (Any
    condition beside the index's, even one naming the parts, makes ClickHouse read the lists
    of the matching granules instead of their sizes; a time condition, even one every line
    meets, their timestamps too. With no condition beside it, ClickHouse counts from the
    sizes too, as fast for a word, but for a two-word phrase it takes about five times as
    long: the word-pair expression costs some 5 ms to analyse, docs/benchmarks.md.)"""
    condition = Condition()
    matches = _Compiler(condition).node(query.root)
    index, text = token
    counted = (  # the index's name is one of two fixed ones
        f"(SELECT sum(cardinality) FROM mergeTreeTextIndex('{DATABASE}', 'logs', '{index}')"  # noqa: S608
        f" WHERE token = {condition.bind(text, 'String')}"
        f" AND part_name IN {condition.bind(list(plan.whole), 'Array(String)')})"
    )
    time_range = _time_range(condition, window)
    if plan.less_outside:
        counted += (
            f" - (SELECT count() FROM {TABLE}"  # noqa: S608
            f" WHERE _part IN {condition.bind(list(plan.less_outside), 'Array(String)')}"
            f" AND NOT ({time_range}) AND {matches})"
        )
    if plan.timed:
        counted += (
            f" + (SELECT count() FROM {TABLE}"  # noqa: S608
            f" WHERE _part IN {condition.bind(list(plan.timed), 'Array(String)')}"
            f" AND {time_range} AND {matches})"
        )
    rows = store.query(f"SELECT {counted}", condition.parameters)
    return int(rows[0][0])


@dataclass(frozen=True)
class _Days:
    """The store's days (partitions) whose lines all lie in a window, and whether those are
    all its days."""

    ids: tuple[str, ...]
    everything: bool


def _days_inside(parts: Parts, window: Window) -> _Days | None:
    """Which days of lines lie wholly in the window (from the parts' min/max, not the lines)."""
    days: dict[str, bool] = {}
    for day, _, first, last in parts.bounds:
        inside = window.start_ns <= first and last < window.end_ns
        days[day] = days.get(day, True) and inside
    inside_days = tuple(sorted(day for day, inside in days.items() if inside))
    return _Days(inside_days, len(inside_days) == len(days)) if inside_days else None


def _count_by_day(store: TelemetryStore, query: Query, window: Window, inside: _Days) -> int:
    """The count with no time condition on the days wholly inside the window, and with it on
    the others. A time condition, even one every line meets, makes ClickHouse read every
    matching granule's timestamps; without one it counts a word from the sizes of its text
    index's lists when every day is inside (no other condition at all), and from the lists of
    the matching granules when the days are chosen (`_partition_id IN`: no column read)."""
    condition = Condition()
    matches = _Compiler(condition).node(query.root)
    if inside.everything:
        rows = store.query(f"SELECT count() FROM {TABLE} WHERE {matches}", condition.parameters)  # noqa: S608
        return int(rows[0][0])
    days = condition.bind(list(inside.ids), "Array(String)")
    time_range = _time_range(condition, window)
    rows = store.query(
        f"SELECT (SELECT count() FROM {TABLE} WHERE _partition_id IN {days} AND {matches})"  # noqa: S608
        f" + (SELECT count() FROM {TABLE} WHERE _partition_id NOT IN {days}"
        f" AND {time_range} AND {matches})",
        condition.parameters,
    )
    return int(rows[0][0])


def _index_token(node: Node) -> tuple[str, str] | None:
    """(text index, token) when the query is one entry of a body index, as `_Compiler` matches
    it: a word that is one token (`body_text`), or a phrase of two words of letters
    (`body_pairs`)."""
    if isinstance(node, Term) and not node.word.wildcards:
        text = node.word.text
        if tokens_of(text) == [text]:
            return "body_text", text.translate(ASCII_LOWER)
    elif isinstance(node, Phrase):
        text = node.text
    else:
        return None
    lowered = text.translate(ASCII_LOWER)
    return ("body_pairs", lowered) if word_pairs(lowered) == [lowered] else None


def newest_lines(
    store: TelemetryStore,
    query: Query,
    window: Window,
    limit: int,
    before: tuple[int, int] | None = None,
    total: int | None = None,
) -> list[LogLine]:
    """The newest `limit` matching lines, newest first; `before` (timestamp ns, key) continues
    after the last line of a previous page; `total`, how many lines match in the whole window
    when the caller has counted them, tells where the newest matches likely are.

    Whole lines (bodies, attribute maps) are read only where the answer is. A first page that
    cannot hold every match is one query per slice of time (`_newest_by_time`). Other pages
    take two steps: first the time of the `limit`-th newest match before the cursor, reading only
    timestamps (and the text index); then whole lines from that time on. The first step is
    skipped when all matches fit in the page, and first looks at the newest part of the window
    where `limit` matches would be four times over if they were spread evenly (then again over
    the whole window only if fewer were there).
    """
    if before is None and (total is None or total > limit):
        return _newest_by_time(store, query, window, limit, total)
    where, parameters = compile_query(query, window)
    parameters["limit"] = limit
    condition = Condition(parameters)
    older = where
    if before is not None:
        at = condition.bind(before[0], "Int64")
        older += f" AND timestamp < fromUnixTimestamp64Nano({at}, 'UTC')"
    if total is not None and total <= limit:  # every match (before the cursor) is on the page
        since_ns: int | None = window.start_ns
    else:
        newest_ns = before[0] if before is not None else window.end_ns
        since_ns = _page_start(
            store, older, parameters, _first_looks(window, newest_ns, limit, total)
        )
    if since_ns is None:
        if before is None:
            return []
        since_ns = before[0]  # nothing older: only lines at the cursor's own time are left
    since = condition.bind(since_ns, "Int64")
    where += f" AND timestamp >= fromUnixTimestamp64Nano({since}, 'UTC')"
    if before is not None:
        key = condition.bind(before[1], "UInt64")
        where += f" AND (toUnixTimestamp64Nano(timestamp), {ROW_KEY}) < ({at}, {key})"
    rows = store.query(
        f"SELECT {LINE_COLUMNS} FROM {TABLE} WHERE {where}"  # noqa: S608
        f" ORDER BY timestamp DESC, {ROW_KEY} DESC LIMIT {{limit:UInt32}}",
        parameters,
    )
    return [_line(row) for row in rows]


PAGE_SPAN_MARGIN = 4  # the first look spans this many times where `limit` even matches would be
# The first page is read by slices of time, newest first: the first spans a quarter more than
# where the page's matches would be if they were spread evenly (at least a minute: the newest
# seconds may not be stored yet, and a granule of a busy service spans minutes anyway), each
# next one four times the last. A slice that falls short costs only the query of the next,
# older one (no line is read twice), and a dense query whose newest lines lie well before the
# window's end does not read the whole window for the lines still missing.
SLICE_SPAN_MARGIN = Fraction(5, 4)
SLICE_MIN_NS = 60 * 1_000_000_000
SLICE_GROWTH = 4


def _newest_by_time(
    store: TelemetryStore, query: Query, window: Window, limit: int, total: int | None
) -> list[LogLine]:
    """The newest `limit` matching lines of the window, newest first, by one query per slice
    of time, newest slice first (`_slice_starts`), each asking for the lines still missing.

    Each query orders by time alone, so that ClickHouse reads the lines' other columns only
    for the rows it returns (lazy materialisation); lines sharing a time are put in the order
    of their keys here. One row more than needed is asked for: when it shares its time with
    the last needed one, the lines of that time are read again, all of them, to keep those of
    the highest keys."""
    where, parameters = compile_query(query, window)
    lines: list[LogLine] = []
    upper_ns = window.end_ns
    for look_from in _slice_starts(window, limit, total):
        needed = limit - len(lines)
        if needed == 0:
            break
        rows = store.query(
            f"SELECT {LINE_COLUMNS} FROM {TABLE} WHERE {where}"  # noqa: S608
            " AND timestamp >= fromUnixTimestamp64Nano({look_from:Int64}, 'UTC')"
            " AND timestamp < fromUnixTimestamp64Nano({upper:Int64}, 'UTC')"
            " ORDER BY timestamp DESC LIMIT {needed:UInt32}",
            {**parameters, "look_from": look_from, "upper": upper_ns, "needed": needed + 1},
        )
        found = [_line(row) for row in rows]
        if len(found) <= needed:  # all of the slice's matches: the rest are older
            lines += found
            upper_ns = look_from
            continue
        last_ns = found[needed - 1].timestamp_ns
        if found[needed].timestamp_ns == last_ns:  # lines of that time beyond the page
            lines += [line for line in found if line.timestamp_ns > last_ns]
            lines += _lines_at(store, where, parameters, last_ns)
        else:
            lines += found[:needed]
        break
    lines.sort(key=lambda line: (line.timestamp_ns, line.key), reverse=True)
    return lines[:limit]


def _lines_at(
    store: TelemetryStore, where: str, parameters: dict[str, Any], timestamp_ns: int
) -> list[LogLine]:
    """Every line matching `where` whose time is exactly `timestamp_ns`."""
    rows = store.query(
        f"SELECT {LINE_COLUMNS} FROM {TABLE} WHERE {where}"  # noqa: S608
        " AND timestamp = fromUnixTimestamp64Nano({at:Int64}, 'UTC')",
        {**parameters, "at": timestamp_ns},
    )
    return [_line(row) for row in rows]


def _slice_starts(window: Window, limit: int, total: int | None) -> list[int]:
    """Where the first page's slices of time start, newest first (SLICE_SPAN_MARGIN), the last
    at the window's start."""
    if not total:
        return [window.start_ns]
    even = int((window.end_ns - window.start_ns) * SLICE_SPAN_MARGIN * limit // total)
    span = max(SLICE_MIN_NS, even)
    starts = []
    while span < window.end_ns - window.start_ns:
        starts.append(window.end_ns - span)
        span *= SLICE_GROWTH
    return [*starts, window.start_ns]


def _first_looks(window: Window, newest_ns: int, limit: int, total: int | None) -> list[int]:
    """Where to look for the page's matches from: the newest part of the window that would
    hold `limit` of `total` evenly spread matches PAGE_SPAN_MARGIN times, then the whole."""
    if not total:
        return [window.start_ns]
    span = (window.end_ns - window.start_ns) * PAGE_SPAN_MARGIN * limit // total
    if newest_ns - span <= window.start_ns:
        return [window.start_ns]
    return [newest_ns - span, window.start_ns]


def _page_start(
    store: TelemetryStore, where: str, parameters: dict[str, Any], looks: list[int]
) -> int | None:
    """The time of the `limit`-th newest line matching `where`, or of the oldest if there are
    fewer (None: no line), looking at the lines since each of `looks` in turn until `limit`
    are found there (the last look is the window's start)."""
    for look_from in looks:
        found, oldest = store.query(
            "SELECT count(), toUnixTimestamp64Nano(min(t)) FROM (SELECT timestamp AS t"  # noqa: S608
            f" FROM {TABLE} WHERE {where}"
            " AND timestamp >= fromUnixTimestamp64Nano({look_from:Int64}, 'UTC')"
            " ORDER BY timestamp DESC LIMIT {limit:UInt32})",
            {**parameters, "look_from": look_from},
        )[0]
        if found >= parameters["limit"] or (found and look_from == looks[-1]):
            return int(oldest)
    return None


def tail_lines(
    store: TelemetryStore, query: Query, window: Window, limit: int
) -> tuple[list[LogLine], int]:
    """For live tail: the newest `limit` matching lines of the window, oldest first, and how
    many matched in all (the difference is what a tail drops to keep up)."""
    where, parameters = compile_query(query, window)
    parameters["limit"] = limit
    rows = store.query(
        f"SELECT {LINE_COLUMNS}, count() OVER () FROM {TABLE} WHERE {where}"  # noqa: S608
        f" ORDER BY timestamp DESC, {ROW_KEY} DESC LIMIT {{limit:UInt32}}",
        parameters,
    )
    total = int(rows[0][-1]) if rows else 0
    return [_line(row[:-1]) for row in reversed(rows)], total


def line_by_id(store: TelemetryStore, timestamp_ns: int, key: int) -> LogLine | None:
    condition = Condition()
    timestamp = condition.bind(timestamp_ns, "Int64")
    row_key = condition.bind(key, "UInt64")
    rows = store.query(
        f"SELECT {LINE_COLUMNS} FROM {TABLE}"  # noqa: S608
        f" WHERE timestamp = fromUnixTimestamp64Nano({timestamp}, 'UTC') AND {ROW_KEY} = {row_key}"
        " LIMIT 1",
        condition.parameters,
    )
    return _line(rows[0]) if rows else None


def neighbours(store: TelemetryStore, line: LogLine, count: int, window_ns: int) -> list[LogLine]:
    """Up to `count` lines before and `count` after `line` from the same service and host
    (within `window_ns` of it), oldest first, the line itself included."""
    condition = Condition()
    service = condition.bind(line.service, "String")
    host = condition.bind(line.host, "String")
    at = condition.bind(line.timestamp_ns, "Int64")
    key = condition.bind(line.key, "UInt64")
    earliest = condition.bind(line.timestamp_ns - window_ns, "Int64")
    latest = condition.bind(line.timestamp_ns + window_ns, "Int64")
    limit = condition.bind(count, "UInt32")
    same_source = (
        f"service = {service} AND host = {host}"
        f" AND timestamp >= fromUnixTimestamp64Nano({earliest}, 'UTC')"
        f" AND timestamp <= fromUnixTimestamp64Nano({latest}, 'UTC')"
    )
    position = f"(toUnixTimestamp64Nano(timestamp), {ROW_KEY})"
    before = store.query(
        f"SELECT {LINE_COLUMNS} FROM {TABLE} WHERE {same_source}"  # noqa: S608
        f" AND {position} < ({at}, {key}) ORDER BY timestamp DESC, {ROW_KEY} DESC LIMIT {limit}",
        condition.parameters,
    )
    after = store.query(
        f"SELECT {LINE_COLUMNS} FROM {TABLE} WHERE {same_source}"  # noqa: S608
        f" AND {position} > ({at}, {key}) ORDER BY timestamp, {ROW_KEY} LIMIT {limit}",
        condition.parameters,
    )
    return [*(_line(row) for row in reversed(before)), line, *(_line(row) for row in after)]


# Level of a severity number as an index into LEVEL_ORDER (0 and above 24: unknown).
LEVEL_INDEX = (
    f"if(severity_number BETWEEN 1 AND 24, intDiv(severity_number - 1, 4), {len(LEVEL_RANGES)})"
)


def histogram(
    store: TelemetryStore, query: Query, window: Window, step_seconds: int, rollups: bool = True
) -> list[tuple[int, str, int]]:
    """(bucket start ns, level, count) for every non-empty bucket of `step_seconds`."""
    step_ns = step_seconds * 1_000_000_000
    split = _counted_split(query, window, rollups, step_seconds)
    if split is not None:
        columns = f"intDiv({MINUTE_PLACEHOLDER}, {{step:Int64}}) AS bucket, {LEVEL_INDEX} AS level"
        sources, parameters = _rollup_sources(
            query, split, columns, "bucket, level", {"step": step_ns}
        )
        sql = (
            f"SELECT bucket, level, sum(c) FROM {sources}"  # noqa: S608
            " GROUP BY bucket, level ORDER BY bucket"
        )
    else:
        where, parameters = compile_query(query, window)
        parameters["step"] = step_ns
        sql = (
            "SELECT intDiv(toUnixTimestamp64Nano(timestamp), {step:Int64}) AS bucket,"  # noqa: S608
            f" {LEVEL_INDEX} AS level, count() FROM {TABLE} WHERE {where}"
            " GROUP BY bucket, level ORDER BY bucket"
        )
    rows = store.query(sql, parameters)
    return [
        (int(bucket) * step_ns, LEVEL_ORDER[int(level)], int(count))
        for bucket, level, count in rows
    ]


@dataclass(frozen=True)
class Facet:
    field: str
    values: list[tuple[str, int]]


# grouping(service, level, host) of each grouping set (1 marks a column aggregated away).
GROUPING_SETS = {0b011: "service", 0b101: "level", 0b110: "host"}


@dataclass(frozen=True)
class Facets:
    facets: list[Facet]
    attribute_lines: int  # how many of the newest matching lines the attribute facets counted


def _built_in_facets(
    store: TelemetryStore, query: Query, window: Window, rollups: bool
) -> list[tuple[Any, ...]]:
    """(grouping, service, level, host, count) rows, most lines first."""
    grouped = " GROUP BY GROUPING SETS ((service), (level), (host)) ORDER BY c DESC"
    split = _counted_split(query, window, rollups)
    if split is not None:
        columns = f"service, {LEVEL_EXPRESSION} AS level, host"
        sources, parameters = _rollup_sources(query, split, columns, "service, level, host")
        return store.query(
            "SELECT grouping(service, level, host), service, level, host, sum(c) AS c"  # noqa: S608
            f" FROM {sources}{grouped}",
            parameters,
        )
    where, parameters = compile_query(query, window)
    return store.query(
        "SELECT grouping(service, level, host), service, level, host, count() AS c FROM ("  # noqa: S608
        f" SELECT service, {LEVEL_EXPRESSION} AS level, host FROM {TABLE} WHERE {where})"
        f"{grouped}",
        parameters,
    )


def _newest_sample(
    store: TelemetryStore,
    query: Query,
    window: Window,
    sample: int,
    where: str,
    parameters: dict[str, Any],
    rollups: bool,
) -> tuple[int, int]:
    """(lines, since ns): where the newest `sample` matching lines begin. From the per-minute
    counts when they answer the query (then the sample is the newest whole minutes that hold
    at least `sample` lines), else by sorting the matches' times."""
    split = _counted_split(query, window, rollups)
    if split is None:
        lines, oldest = store.query(
            "SELECT count(), toUnixTimestamp64Nano(min(t)) FROM (SELECT timestamp AS t"  # noqa: S608
            f" FROM {TABLE} WHERE {where} ORDER BY timestamp DESC LIMIT {{sample:UInt32}})",
            {**parameters, "sample": sample},
        )[0]
        return int(lines), int(oldest) if lines else 0
    columns = f"intDiv({MINUTE_PLACEHOLDER}, {{minute:Int64}}) AS m"
    sources, bound = _rollup_sources(query, split, columns, "m", {"minute": MINUTE_NS})
    rows = store.query(f"SELECT m, sum(c) FROM {sources} GROUP BY m ORDER BY m DESC", bound)  # noqa: S608
    counted = 0
    for minute, count in rows:
        counted += int(count)
        if counted >= sample:
            return counted, int(minute) * MINUTE_NS
    return counted, 0


def facets(
    store: TelemetryStore,
    query: Query,
    window: Window,
    values_per_facet: int,
    attributes: int,
    attribute_sample: int,
    rollups: bool = True,
) -> Facets:
    """Exact counts of the commonest values of service, level and host among the matching
    lines, and of the `attributes` commonest attribute keys among the newest `attribute_sample`
    of them (reading attribute maps costs most; the sample keeps it bounded).

    Attribute values are found with ClickHouse's space-saving top-K, which also says how far
    each count may be off; only values whose count is exact are listed (a key such as a request
    id, with no value common enough to count exactly, is listed without values).
    """
    built_in = _built_in_facets(store, query, window, rollups)
    where, parameters = compile_query(query, window)
    result: dict[str, list[tuple[str, int]]] = {"service": [], "level": [], "host": []}
    for grouping, service, level, host, count in built_in:
        name = GROUPING_SETS[int(grouping)]
        value = {"service": service, "level": level, "host": host}[name]
        if value and len(result[name]) < values_per_facet:
            result[name].append((str(value), int(count)))
    result["level"].sort(key=lambda item: LEVEL_ORDER.index(item[0]))
    parameters |= {"keys": attributes, "top": values_per_facet, "fields": FIELD_NAMES}
    lines, parameters["since"] = _newest_sample(
        store, query, window, attribute_sample, where, parameters, rollups
    )
    by_attribute = store.query(
        "SELECT key, topK({top:UInt32}, 3, 'counts')(value), count() FROM"  # noqa: S608
        f" (SELECT attributes FROM {TABLE} WHERE {where}"
        " AND timestamp >= fromUnixTimestamp64Nano({since:Int64}, 'UTC'))"
        " ARRAY JOIN mapKeys(attributes) AS key, mapValues(attributes) AS value"
        " WHERE lower(key) NOT IN {fields:Array(String)}"
        " GROUP BY key ORDER BY count() DESC, key LIMIT {keys:UInt32}",
        parameters,
    )
    for key, top, _ in by_attribute:
        exact = [(str(item["item"]), int(item["count"])) for item in top if not item["error"]]
        result[str(key)] = sorted(exact, key=lambda pair: (-pair[1], pair[0]))
    return Facets([Facet(name, values) for name, values in result.items()], int(lines))


def sample_bodies(
    store: TelemetryStore, query: Query, window: Window, limit: int
) -> list[tuple[int, str]]:
    """(timestamp ns, body) of up to `limit` matching lines, newest first (for patterns)."""
    where, parameters = compile_query(query, window)
    parameters["limit"] = limit
    rows = store.query(
        f"SELECT toUnixTimestamp64Nano(timestamp), body FROM {TABLE} WHERE {where}"  # noqa: S608
        " ORDER BY timestamp DESC LIMIT {limit:UInt32}",
        parameters,
    )
    return [(int(timestamp), str(body)) for timestamp, body in rows]


def _line(row: tuple[Any, ...]) -> LogLine:
    return LogLine(
        timestamp_ns=int(row[0]),
        key=int(row[1]),
        service=row[2],
        environment=row[3],
        host=row[4],
        severity_text=row[5],
        severity_number=int(row[6]),
        level=row[7],
        body=row[8],
        trace_id=row[9],
        span_id=row[10],
        scope=row[11],
        attributes=dict(row[12]),
        resource_attributes=dict(row[13]),
    )
