"""The faster paths of log search give the same answers as the plain ones on the same data:
phrases decided by the body's word-pair index find exactly the lines whose text holds the
phrase (checked against the definition, in Python), and the newest lines found with the
exact total (skipping or narrowing the first step) are the lines, in the order, of the plain
two-step read, page after page."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Iterator

import pytest

from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest
from fullcycle.logs.query import parse
from fullcycle.telemetry import log_queries
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.connection import DATABASE
from fullcycle.telemetry.log_queries import Window, compile_query
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

NOW = time.time_ns()
SECOND = 1_000_000_000
DAY = 86400 * SECOND
WINDOW = Window(NOW - 7200 * SECOND, NOW + SECOND)
# The text index's separators: every ASCII character that is not a letter or digit.
SEPARATORS = {chr(c) for c in range(128) if not chr(c).isalnum()}

TRICKY_BODIES = [
    "connection refused",
    "Connection  refused",
    "connection: refused",
    "reconnection refused",
    "connection refused!",
    "CONNECTION REFUSED by peer",
    "connection\trefused",
    "connection refusedx",
    "xconnection refused",
    "connection-refused",
    "connection~refused",
    "connection refused~",
    "café refused",
    "caféconnection refused",
    "java.lang.OutOfMemoryError: Java heap space",
    "at com.shop.Payment\n\tat java.lang.Thread",
    "retrying (attempt 2 of 3): connection refused",
    "user-42 refused connection",
    " connection refused ",
    "refused",
    "",
    "connection\x00refused",
    "connection refusedé",
    "Java heap",
    "heap space, java  heap",
    "GET /api/orders/17 HTTP/1.1",
    "x~connection refused.",
    "err:connection refused;",
    "connection \trefused",
    "connection\t refused",
    "connection refused:connection refused",
]
PHRASES = [
    '"connection refused"',
    '"Connection Refused"',
    "connection-refused",
    '"connection: refused"',
    '"connection  refused"',
    '"java heap space"',
    "java.lang",
    '"java.lang.outofmemoryerror: java"',
    '"refused connection"',
    '"connection refused."',
    '"connection refused!"',
    "connection~refused",
    '"café refused"',
    '"at java.lang"',
    '"heap space"',
    '"of 3): connection"',
    '"-refused"',
    '"api/orders"',
    '"java  heap"',
    '"connection refused by peer"',
    '"java heap"',
    '"refused:connection"',
    '"refused by"',
]


def holds_phrase(body: str, phrase: str) -> bool:
    """The definition: the text appears ignoring ASCII case, with its first and last words
    whole (not continued by a token character in the body)."""
    lower = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    haystack, needle = body.translate(lower), phrase.translate(lower)
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        whole_first = needle[0] in SEPARATORS or start == 0 or haystack[start - 1] in SEPARATORS
        whole_last = needle[-1] in SEPARATORS or end == len(haystack) or haystack[end] in SEPARATORS
        if whole_first and whole_last:
            return True
        start = haystack.find(needle, start + 1)
    return False


def paged_lines(store: TelemetryStore, text: str, limit: int, *, with_total: bool) -> list[str]:
    """The ids of every matching line, page by page, as the search pages them."""
    query = parse(text)
    total = log_queries.count_matches(store, query, WINDOW) if with_total else None
    ids: list[str] = []
    before = None
    while True:
        lines = log_queries.newest_lines(store, query, WINDOW, limit + 1, before, total)
        ids += [line.line_id for line in lines[:limit]]
        if len(lines) <= limit:
            return ids
        before = (lines[limit - 1].timestamp_ns, lines[limit - 1].key)


def spread_lines() -> list[tuple[int, str]]:
    """(timestamp, body): `alpha` on every line, `beta` on one in ten, `gamma` on one in a
    hundred, `omega` only in the oldest tenth of the two hours; three lines share each time."""
    rng = random.Random(4)
    lines = []
    for index in range(3000):
        words = ["alpha"]
        if rng.random() < 0.1:
            words.append("beta")
        if rng.random() < 0.01:
            words.append("gamma")
        if index < 300:
            words.append("omega")
        words.append(f"n{index}")
        timestamp = WINDOW.start_ns + SECOND + (index // 3) * 7 * SECOND
        lines.append((timestamp, " ".join(words)))
    return lines


def daily_lines() -> list[tuple[int, str]]:
    """(timestamp, body): a line every 40 minutes over the three days before the spread ones."""
    return [
        (WINDOW.start_ns - index * 2400 * SECOND, f"daily {'alpha' if index % 3 else 'beta'}")
        for index in range(1, 3 * 36)
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryStore]:
    data_dir = tmp_path_factory.mktemp("log-search-paths") / "data"
    telemetry = TelemetryStore(StoreOptions(data_dir=data_dir, durable=False))
    telemetry.open()
    batch = LogBatch()
    tricky = [(NOW - (index + 1) * SECOND, body) for index, body in enumerate(TRICKY_BODIES)]
    for timestamp, body in [*tricky, *spread_lines(), *daily_lines()]:
        batch.add(
            timestamp_ns=timestamp,
            body=body,
            service="checkout",
            host="web-1",
            severity_text="INFO",
            severity_number=9,
        )
    asyncio.run(telemetry.append([batch]))
    telemetry.flush()
    yield telemetry
    telemetry.close()


@pytest.mark.parametrize("phrase", PHRASES)
def test_a_phrase_finds_exactly_the_lines_holding_it(store: TelemetryStore, phrase: str) -> None:
    text = phrase.strip('"')
    expected = sorted(body for body in TRICKY_BODIES if holds_phrase(body, text))
    page = explorer.search(store, LogRequest(parse(phrase), WINDOW), 100, None)
    assert sorted(line.body for line in page.lines) == expected
    assert page.total == len(expected)


def test_a_phrase_of_two_words_is_decided_by_the_pair_index_alone(store: TelemetryStore) -> None:
    where, parameters = compile_query(parse('"Connection Refused"'), WINDOW)
    assert "match(body" not in where and "position" not in where
    plan = store.query(
        f"EXPLAIN indexes = 1 SELECT count() FROM {DATABASE}.logs WHERE {where}", parameters
    )
    assert any("Name: body_pairs" in row[0] for row in plan), plan


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("alpha", 400),  # the first look holds the page
        ("beta", 40),
        ("gamma", 7),
        ("gamma", 100),  # all on one page: no first step
        ("omega", 60),  # only old lines: the first look finds none
        ("alpha omega", 120),
        ("n17", 1),
        ("zeta", 10),
    ],
)
def test_pages_found_with_the_total_are_the_plain_reads_pages(
    store: TelemetryStore, text: str, limit: int
) -> None:
    plain = paged_lines(store, text, limit, with_total=False)
    assert paged_lines(store, text, limit, with_total=True) == plain
    words = text.split()
    expected = sum(all(word in body.split() for word in words) for _, body in spread_lines())
    assert len(plain) == expected
    assert len(set(plain)) == len(plain)


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("alpha", 7),  # the page ends inside a time three lines share: those are read again
        ("alpha", 8),
        ("alpha", 400),
        ("beta", 40),  # the newest slice holds the page
        ("gamma", 3),
        ("omega", 60),  # only old lines: the newest slice finds none, the older one all
        ("alpha omega", 120),
        ("n17", 1),
        ("zeta", 10),
    ],
)
@pytest.mark.parametrize("with_total", [True, False])
@pytest.mark.parametrize(
    "window",
    [WINDOW, Window(WINDOW.start_ns, NOW + DAY)],  # the second ends a day after the newest line
)
def test_a_first_page_read_by_time_is_the_plain_reads_first_page(
    store: TelemetryStore, text: str, limit: int, with_total: bool, window: Window
) -> None:
    query = parse(text)
    total = log_queries.count_matches(store, query, window) if with_total else None
    plain, _ = log_queries.tail_lines(store, query, window, limit)
    page = log_queries.newest_lines(store, query, window, limit, None, total)
    assert [line.line_id for line in page] == [line.line_id for line in reversed(plain)]
    assert [line.body for line in page] == [line.body for line in reversed(plain)]


def test_the_search_pages_through_every_match_newest_first(store: TelemetryStore) -> None:
    request = LogRequest(parse("omega"), WINDOW)
    seen: list[tuple[int, int]] = []
    cursor = None
    while True:
        page = explorer.search(store, request, 40, cursor)
        assert page.total == 300
        seen += [(line.timestamp_ns, line.key) for line in page.lines]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 300
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("text", ["daily", "alpha", "beta", '"connection refused"', "nothing"])
@pytest.mark.parametrize(
    "window",
    [
        Window(NOW - 5 * DAY, NOW + SECOND),  # every day wholly inside
        Window(NOW - DAY - 3600 * SECOND, NOW + SECOND),  # a day cut at its start
        Window(NOW - 2 * DAY, NOW - DAY),  # days cut at both ends
        WINDOW,
    ],
)
def test_totals_counted_by_day_are_the_lines_in_the_window(
    store: TelemetryStore, text: str, window: Window
) -> None:
    words = text.strip('"').split()
    lines = [
        *((NOW - (index + 1) * SECOND, body) for index, body in enumerate(TRICKY_BODIES)),
        *spread_lines(),
        *daily_lines(),
    ]
    expected = sum(
        window.start_ns <= timestamp < window.end_ns
        and all(word in re.split("[^a-z0-9]+", body.lower()) for word in words)
        and (len(words) == 1 or holds_phrase(body, text.strip('"')))
        for timestamp, body in lines
    )
    assert log_queries.count_matches(store, parse(text), window) == expected
