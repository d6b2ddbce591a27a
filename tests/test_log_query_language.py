"""The log query language: what parses into what, errors that name the column and what was
expected, and fuzzing: any text either parses or raises LogQueryError, and every query that
parses compiles to SQL the real (embedded) store runs, with the user's text only ever bound as
parameters."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fullcycle.logs.query import (
    And,
    FieldCompare,
    FieldEquals,
    FieldExists,
    FieldPhrase,
    FieldRange,
    LogQueryError,
    MatchAll,
    Not,
    Or,
    Phrase,
    Regex,
    Term,
    Word,
    field_filter,
    parse,
)
from fullcycle.logs.time_range import TimeRangeError, parse_window
from fullcycle.telemetry import log_queries
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.log_queries import Window, compile_query
from fullcycle.telemetry.store import StoreOptions, TelemetryStore
from fullcycle.telemetry.tables import BODY_WORD_PAIRS

NOW = time.time_ns()
HOUR = 3600 * 1_000_000_000
WINDOW = Window(NOW - HOUR, NOW + HOUR)


def test_the_forms_of_the_language_parse_into_their_tree() -> None:
    assert parse("").root == MatchAll()
    assert parse("  ").root == MatchAll()
    assert parse("timeout").root == Term(Word("timeout"))
    assert parse('"connection refused"').root == Phrase("connection refused")
    assert parse("service:checkout").root == FieldEquals("service", Word("checkout"))
    assert parse('env:"prod eu"').root == FieldPhrase("env", "prod eu")
    assert parse("user_id:*").root == FieldExists("user_id")
    assert parse("path:/api/*").root == FieldEquals("path", Word("/api/*", (5,)))
    assert parse(r"path:/api/\*").root == FieldEquals("path", Word("/api/*"))
    assert parse("http.status_code:>=500").root == FieldCompare("http.status_code", ">=", "500")
    assert parse("latency_ms:[100 TO 500]").root == FieldRange(
        "latency_ms", "100", "500", True, True
    )
    assert parse("latency_ms:{100 TO *]").root == FieldRange("latency_ms", "100", "*", False, True)
    assert parse("/time(out|d out)/").root == Regex("time(out|d out)")
    assert parse("/timeout/i").root == Regex("(?i)timeout")
    assert parse(r"/a\/b/").root == Regex("a/b")
    assert parse("url:http://x:8080/a").root == FieldEquals("url", Word("http://x:8080/a"))


def test_operators_bind_not_then_and_then_or() -> None:
    a, b, c = (Term(Word(name)) for name in "abc")
    assert parse("a b OR c").root == Or((And((a, b)), c))
    assert parse("a AND (b OR c)").root == And((a, Or((b, c))))
    assert parse("NOT a b").root == And((Not(a), b))
    assert parse("-service:x a").root == And((Not(FieldEquals("service", Word("x"))), a))
    assert parse("a and b").root == And((a, Term(Word("and")), b))  # lower case is a word
    assert parse("a-b").root == Term(Word("a-b"))


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        (
            "level:error AND service:)",
            "unexpected ')' at column 25; expected a value after 'service:'",
            25,
        ),
        ("service: checkout", "unexpected ' ' at column 9; expected a value after 'service:'", 9),
        ("(timeout", "unexpected end of query at column 9; expected ')' to close the '('", 9),
        ("timeout)", "unexpected ')' at column 8; expected a '(' before it", 8),
        ("a AND", "unexpected end of query at column 6; expected a term after 'AND'", 6),
        ("OR a", "at column 1; expected a term before 'OR'", 1),
        ('"open', "expected '\"' to close the phrase opened at column 1", 6),
        ("x:[1 TO", "expected an upper bound after 'TO' in 'x:'", 8),
        ("x:[1 5]", "expected 'TO' between the bounds of the range", 6),
        ("/(?=a)/", "is not supported; expected RE2 syntax", 2),
        ("/a(/", "is invalid", 3),
        ("- a", "expected a term right after '-'", 2),
        ("()", "expected a term inside '(' ')'", 2),
    ],
)
def test_errors_name_the_column_and_what_was_expected(text: str, message: str, column: int) -> None:
    with pytest.raises(LogQueryError) as raised:
        parse(text)
    assert message in raised.value.message
    assert raised.value.column == column
    assert isinstance(raised.value, ValueError)


def test_deep_nesting_and_huge_queries_are_refused_not_crashed() -> None:
    with pytest.raises(LogQueryError, match="levels of nesting"):
        parse("(" * 500 + "a" + ")" * 500)
    with pytest.raises(LogQueryError, match="levels of nesting"):
        parse("NOT " * 500 + "a")
    with pytest.raises(LogQueryError, match="at most 4000"):
        parse("a " * 3000)


@given(st.text(max_size=200))
@settings(max_examples=1500, deadline=None)
def test_any_text_parses_or_raises_a_query_error(text: str) -> None:
    try:
        query = parse(text)
    except LogQueryError as error:
        assert 1 <= error.column <= len(text) + 1
        assert f"column {error.column}" in error.message or "at most" in error.message
        return
    compile_query(query, WINDOW)  # compiles without error


QUERY_ALPHABET = st.sampled_from(
    [*"abcXYZ019 :*-\"'()[]{}<>=/\\.|?+^$%_\t;`", "AND", "OR", "NOT", "TO", "level", "\x00"]
)


@given(st.lists(QUERY_ALPHABET, max_size=40).map("".join))
@settings(max_examples=1500, deadline=None)
def test_query_shaped_text_parses_or_raises_a_query_error(text: str) -> None:
    try:
        query = parse(text)
    except LogQueryError:
        return
    sql, parameters = compile_query(query, WINDOW)
    # The only literals are the compiler's own; user text travels as the bound parameters.
    assert set(re.findall(r"'[^']*'", sql)) <= {"'UTC'", *re.findall(r"'[^']*'", BODY_WORD_PAIRS)}
    assert set(re.findall(r"\{(p\d+):", sql)) == set(parameters)


# --- against the real store ------------------------------------------------------------------

LINES = [
    ("checkout", "error", "Timeout waiting for payment service after 30s", {"user_id": "42"}),
    (
        "checkout",
        "info",
        "GET /api/orders 200 12ms",
        {"http.status_code": "200", "path": "/api/orders"},
    ),
    ("checkout", "warn", "slow query: SELECT * FROM orders took 1200ms", {"latency_ms": "1200"}),
    ("payments", "error", "connection refused to db-1:5432", {"http.status_code": "503"}),
    ("payments", "info", "TIMEOUT on card authorisation", {"user_id": "7"}),
    ("payments", "debug", "request 10.0.0.1 user-42 done", {"latency_ms": "150"}),
    (
        "search",
        "info",
        "GET /api/search?q=shoes 500 3ms",
        {"http.status_code": "500", "path": "/api/search"},
    ),
    ("search", "info", "'; DROP TABLE logs; -- {p0:String} 100%_done", {}),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryStore]:
    """The real embedded store with the lines above, flushed (one for this module's tests;
    it is closed before the next module opens another)."""
    data_dir = tmp_path_factory.mktemp("log-query") / "data"
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    batch = LogBatch()
    for index, (service, level, body, attributes) in enumerate(LINES):
        severity = {"debug": 5, "info": 9, "warn": 13, "error": 17}[level]
        batch.add(
            timestamp_ns=NOW - index * 1_000_000_000,
            body=body,
            service=service,
            host="web-1",
            severity_text=level.upper(),
            severity_number=severity,
            attributes=attributes,
        )
    asyncio.run(telemetry.append([batch]))
    telemetry.flush()
    yield telemetry
    telemetry.close()


def matching_bodies(store: TelemetryStore, text: str) -> set[str]:
    lines = log_queries.newest_lines(store, parse(text), WINDOW, 100)
    assert log_queries.count_matches(store, parse(text), WINDOW) == len(lines)
    return {line.body for line in lines}


def bodies(*indexes: int) -> set[str]:
    return {LINES[index][2] for index in indexes}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", set(range(8))),
        ("timeout", {0, 4}),  # case-insensitive, whole tokens
        ("TimeOut", {0, 4}),
        ("time", set()),
        ("time*", {0, 4}),
        ("5432", {3}),
        ('"connection REFUSED"', {3}),
        ('"onnection refused"', set()),  # the words at a phrase's ends are whole words
        ('"refused to DB"', {3}),
        ("user-42", {5}),
        ("10.0.0.1", {5}),
        ("service:checkout", {0, 1, 2}),
        ("service:pay*", {3, 4, 5}),
        ("-service:checkout -service:search", {3, 4, 5}),
        ("NOT service:checkout AND NOT service:search", {3, 4, 5}),
        ("level:error", {0, 3}),
        ("severity:WARNING", {2}),
        ("level:>=warn", {0, 2, 3}),
        ("level:[debug TO info]", {1, 4, 5, 6, 7}),
        ("http.status_code:>=500", {3, 6}),
        ("http.status_code:[200 TO 500}", {1}),
        ("http.status_code:[200 TO 503]", {1, 3, 6}),
        ("latency_ms:>1000", {2}),
        ("user_id:42", {0}),
        ("user_id:*", {0, 4}),
        ("-user_id:*", {1, 2, 3, 5, 6, 7}),
        ("path:/api/*", {1, 6}),
        ("path:/api/s*", {6}),
        ("/time(out|d out)/", set()),  # case-sensitive
        ("/[Tt]ime(out|d out)/", {0}),
        ("/time(out|d out)/i", {0, 4}),
        ("(service:search OR level:error) AND /[0-9]+ms/", {6}),
        ("timeout OR refused", {0, 3, 4}),
        ("host:web-1 service:search shoes", {6}),
        ('"DROP TABLE logs; -- {p0:String}"', {7}),
        ("100%_done", {7}),
        ("100%*", {7}),
        ("10_*", set()),
        ("message:orders", {1, 2}),
    ],
)
def test_queries_find_exactly_the_lines_they_describe(
    store: TelemetryStore, text: str, expected: set[int]
) -> None:
    assert matching_bodies(store, text) == bodies(*expected)


@pytest.mark.parametrize("text", ["timeout", "TIMEOUT", "5432", '"connection refused"', "user-42"])
def test_word_searches_are_answered_by_the_text_index(store: TelemetryStore, text: str) -> None:
    where, parameters = compile_query(parse(text), WINDOW)
    plan = store.query(
        f"EXPLAIN indexes = 1 SELECT body FROM fullcycle.logs WHERE {where}", parameters
    )
    assert any("body_text" in row[0] or "body_pairs" in row[0] for row in plan), plan


def test_random_queries_run_in_the_store(store: TelemetryStore) -> None:
    """Fuzz the compiler against the real engine: every query that parses runs."""

    @given(st.lists(QUERY_ALPHABET, max_size=30).map("".join))
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    def runs(text: str) -> None:
        try:
            query = parse(text)
        except LogQueryError:
            return
        count = log_queries.count_matches(store, query, WINDOW)
        assert 0 <= count <= len(LINES)

    runs()


def test_the_sql_never_contains_the_users_values() -> None:
    query = parse("""service:"x' OR 1=1 --" attr\\:k:v '; DROP TABLE x""")
    sql, parameters = compile_query(query, WINDOW)
    assert "DROP" not in sql and "1=1" not in sql and "attr" not in sql
    assert set(re.findall(r"\{(p\d+):", sql)) == set(parameters)


@given(
    st.from_regex(r"[A-Za-z_@][A-Za-z0-9_.@\-/]{0,20}", fullmatch=True),
    st.text(min_size=1, max_size=40),
)
@settings(max_examples=500, deadline=None)
def test_a_facet_filter_parses_back_to_exactly_its_field_and_value(field: str, value: str) -> None:
    text = field_filter(field, value)
    assert text is not None
    root = parse(text).root
    if isinstance(root, FieldEquals):
        assert (root.field, root.value.text, root.value.wildcards) == (field, value, ())
    else:
        assert root == FieldPhrase(field, value)


def test_a_field_the_language_cannot_name_has_no_filter() -> None:
    assert field_filter("order id", "17") is None
    assert field_filter("k", "") is None


TIME_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"now(-[0-9]{1,12}[smhdwy])?", fullmatch=True),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
)


@given(TIME_TEXT, TIME_TEXT)
@settings(max_examples=800, deadline=None)
def test_any_time_range_is_a_window_the_store_can_hold_or_an_error(start: str, end: str) -> None:
    try:
        window = parse_window(start, end)
    except TimeRangeError as error:
        assert str(error).startswith(("from: ", "to: "))
        return
    assert 0 <= window.start_ns < window.end_ns < 2**63
