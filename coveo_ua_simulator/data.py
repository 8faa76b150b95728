"""Deterministic simulated UA rows, generated one UTC hour at a time.

Every row of UTC hour H is a pure function of (seed, searches_per_hour, H) and the
``bad_dimension_rate`` (None: the custom dimensions' own pools; see ``dimensions.py``):
each table of each hour draws from its own ``random.Random(f"{seed}:{H}:<part>")``, never
from global state. Child rows (clicks, custom events) are stamped a few seconds after their
search but clamped to stay inside the hour; keywords and groups carry their search's
timestamp. So the rows of any time range, and their counts, are exact (see ``truth.py``).

A raw row is a tuple laid out as ``FIELDS[table]``: text is ``str`` or ``None``, bigint
``int``, double ``float`` (2 decimals), bool ``bool``, and timestamps are ``int`` epoch
milliseconds (UTC).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

from coveo_ua_simulator import pools
from coveo_ua_simulator.dimensions import (
    DELIVERY_DATES,
    IN_STOCK,
    ORDERED_AT,
    PAGE_NUMBERS,
    with_bad_rate,
)
from coveo_ua_source.schema import TABLES, TTable

Row = tuple[Any, ...]
# A visitor's profile, shared by every event of its visits: (visitorId, userName, userId,
# language, city, country, deviceCategory, mobile, isAnonymous).
Profile = tuple[Any, ...]
Origin = tuple[str | None, str | None, str | None]
# A batch of rows as columns laid out as FIELDS[table], all of the same length.
Columns = list[Sequence[Any]]

HOUR_MS = 3_600_000
_ID_BASE_MASK = (1 << 47) - 1
_DEVICE = ("language", "city", "country", "deviceCategory", "mobile", "isAnonymous")
_ORIGIN = ("originLevel1", "originLevel2", "originLevel3")
_VISIT = ("visitId", "visitorId", "userName")

# The layout of the raw rows of each table (API names), in the catalog's order.
FIELDS: dict[TTable, tuple[str, ...]] = {
    "searches": (
        "searchId", "datetime", *_VISIT, "userId", "queryExpression",
        "advancedQueryExpression", "searchCause", "queryPipeline", "numberOfResults",
        "responseTime", "searchHub", "tab", *_ORIGIN, *_DEVICE, "c_context_role",
        "c_page_number",
    ),
    "clicks": (
        "clickId", "datetime", "searchId", *_VISIT, "clickRank", "clickCause",
        "documentTitle", "documentUri", "documentUriHash", "collectionName", "sourceName",
        *_ORIGIN, *_DEVICE, "c_in_stock",
    ),
    "custom_events": (
        "customEventId", "datetime", "lastSearchId", *_VISIT, "eventType", "eventValue",
        *_ORIGIN, *_DEVICE, "c_cart_value", "c_delivery_date", "c_ordered_at",
    ),
    "keywords": ("searchId", "keyword", "datetime"),
    "groups": ("searchId", "groupName", "datetime"),
}  # fmt: skip

# Text columns whose values never need quoting or escaping (identifiers, hashes).
SAFE_TEXT = frozenset(
    {"searchId", "clickId", "customEventId", "lastSearchId", "visitId", "visitorId",
     "userId", "documentUriHash"}
)  # fmt: skip

_QUERY_WORDS: tuple[tuple[str, ...], ...] = tuple(
    tuple(dict.fromkeys(re.findall(r"\w+", query.lower()))) if query else ()
    for query in pools.QUERIES
)
_QUERY_INDEXES = tuple(range(len(pools.QUERIES)))
# Child rows per search (uniform over the tuple) and their delay after it: (low, width) ms.
_CHILD_COUNTS: dict[TTable, tuple[int, ...]] = {
    "clicks": (0, 1, 2, 1),
    "custom_events": (0, 1),
    "groups": (1, 2),
}
_SPREAD: dict[TTable, tuple[int, int]] = {"clicks": (1000, 30_000), "custom_events": (500, 60_000)}
_URI_HASH = {
    uri: hashlib.blake2b(uri.encode(), digest_size=8).hexdigest()
    for _title, uri, _collection, _source in pools.DOCUMENTS
}


def _uniform(rng: random.Random, n: int) -> list[float]:
    rnd = rng.random
    return [rnd() for _ in range(n)]


@lru_cache(maxsize=64)
def _byte_table(pool: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(pool[i % len(pool)] for i in range(256))


def _picks(rng: random.Random, pool: tuple[Any, ...], k: int) -> list[Any]:
    """k values from a small pool, one random byte each (the slight bias does not matter)."""
    return list(map(_byte_table(pool).__getitem__, rng.randbytes(k)))


def _gather(values: Sequence[Any], indexes: list[int]) -> list[Any]:
    return [values[i] for i in indexes]


def transpose(rows: list[Any], width: int) -> Columns:
    """Transpose rows into ``width`` columns.

    Column by column rather than ``zip(*rows)``, which allocates one iterator per row and so
    triggers many more garbage collections.
    """
    return [list(map(itemgetter(index), rows)) for index in range(width)]


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _ids(seed: int, hour: int, kind: str, n: int) -> list[str]:
    """n UUID-looking ids, unique within the hour (the prefix differs from hour to hour)."""
    h = hashlib.blake2b(f"{seed}:{hour}:{kind}".encode(), digest_size=16).hexdigest()
    prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-"
    base = int(h[20:], 16) & _ID_BASE_MASK
    return list(map((prefix + "{:012x}").format, range(base, base + n)))


@lru_cache(maxsize=16)
def _visitors(seed: int) -> tuple[Profile, ...]:
    rng = random.Random(f"{seed}:visitors")
    out: list[Profile] = []
    for _ in range(pools.VISITORS):
        visitor_id = _uuid(rng)
        name, user_id, anonymous = None, None, True
        if rng.random() >= pools.ANONYMOUS_RATE:
            name, anonymous = rng.choice(pools.USER_NAMES), False
            user_id = f"user-{rng.getrandbits(40):010x}"
        city, country = rng.choice(pools.PLACES)
        device = rng.choice(pools.DEVICES)
        mobile = None if device is None else device != "Desktop"
        language = rng.choice(pools.LANGUAGES)
        out.append((visitor_id, name, user_id, language, city, country, device, mobile, anonymous))
    return tuple(out)


def search_count(seed: int, per_hour: int, hour: int) -> int:
    """Searches in an hour: about per_hour on average, 0 in ~1 hour of 10."""
    rng = random.Random(f"{seed}:{hour}:count")
    if per_hour == 0 or rng.random() < pools.EMPTY_HOUR_RATE:
        return 0
    return round(per_hour / (1 - pools.EMPTY_HOUR_RATE) * rng.uniform(0.2, 1.8))


class Skeleton(NamedTuple):
    """The searches of an hour in time order, as columns: what their child rows share."""

    ids: list[str]
    stamps: list[int]
    visit_ids: list[str]
    profiles: list[Profile]
    queries: list[int]
    origins: list[Origin]


def skeleton(seed: int, per_hour: int, hour: int) -> Skeleton:
    """The skeleton of the searches of UTC hour ``hour`` (hours since the epoch)."""
    n = search_count(seed, per_hour, hour)
    rng = random.Random(f"{seed}:{hour}:skeleton")
    queries = _picks(rng, _QUERY_INDEXES, n)  # drawn first: see hour_counts
    start = hour * HOUR_MS
    stamps = sorted([start + int(r * HOUR_MS) for r in _uniform(rng, n)])
    visits = max(1, n // 3)
    visit_profiles = rng.choices(_visitors(seed), k=visits)
    chosen = rng.choices(range(visits), k=n)
    return Skeleton(
        _ids(seed, hour, "search", n),
        stamps,
        _gather(_ids(seed, hour, "visit", visits), chosen),
        _gather(visit_profiles, chosen),
        queries,
        _picks(rng, pools.ORIGINS, n),
    )


def _draw_counts(rng: random.Random, table: TTable, n: int) -> list[int]:
    """Child rows per search, drawn first: clicks 0-2, custom events 0-1, groups 1-2."""
    return _picks(rng, _CHILD_COUNTS[table], n)


def _rng(seed: int, hour: int, table: TTable) -> random.Random:
    return random.Random(f"{seed}:{hour}:{table}")


def _searches(seed: int, hour: int, sk: Skeleton) -> Columns:
    rng = _rng(seed, hour, "searches")
    n = len(sk.ids)
    profile, origin = transpose(sk.profiles, 9), transpose(sk.origins, 3)
    results = [None if r < 0.03 else int(r**3 * 5000) for r in _uniform(rng, n)]
    response = [None if r < 0.02 else int(500 + r * 250_000) / 100 for r in _uniform(rng, n)]
    return [
        sk.ids, sk.stamps, sk.visit_ids, *profile[:3], _gather(pools.QUERIES, sk.queries),
        _picks(rng, pools.ADVANCED_QUERIES, n), _picks(rng, pools.SEARCH_CAUSES, n),
        _picks(rng, pools.QUERY_PIPELINES, n), results, response,
        _picks(rng, pools.SEARCH_HUBS, n), _picks(rng, pools.TABS, n), *origin, *profile[3:],
        _picks(rng, pools.CONTEXT_ROLES, n), _picks(rng, PAGE_NUMBERS, n),
    ]  # fmt: skip


class _Children(NamedTuple):
    parents: list[int]
    stamps: list[int]
    search_ids: list[str]
    visit_ids: list[str]
    profile: Columns
    origin: Columns


def _children(sk: Skeleton, table: TTable, rng: random.Random, hour: int) -> _Children:
    """What child rows take from their search; stamped parent time + spread, clamped."""
    counts = _draw_counts(rng, table, len(sk.ids))
    parents = [index for index, count in enumerate(counts) for _ in range(count)]
    low, width = _SPREAD[table]
    last = (hour + 1) * HOUR_MS - 1
    stamps = [
        min(sk.stamps[i] + low + int(r * width), last)
        for i, r in zip(parents, _uniform(rng, len(parents)), strict=True)
    ]
    return _Children(
        parents, stamps, _gather(sk.ids, parents), _gather(sk.visit_ids, parents),
        transpose(_gather(sk.profiles, parents), 9), transpose(_gather(sk.origins, parents), 3),
    )  # fmt: skip


def _clicks(seed: int, hour: int, sk: Skeleton) -> Columns:
    rng = _rng(seed, hour, "clicks")
    kids = _children(sk, "clicks", rng, hour)
    m = len(kids.parents)
    title, uri, collection, source = transpose(_picks(rng, pools.DOCUMENTS, m), 4)
    ranks = [None if r < 0.02 else 1 + int(r * 10) for r in _uniform(rng, m)]
    return [
        _ids(seed, hour, "click", m), kids.stamps, kids.search_ids, kids.visit_ids,
        *kids.profile[:2], ranks, _picks(rng, pools.CLICK_CAUSES, m), title, uri,
        list(map(_URI_HASH.__getitem__, uri)), collection, source, *kids.origin,
        *kids.profile[3:], _picks(rng, IN_STOCK, m),
    ]  # fmt: skip


def _custom_events(seed: int, hour: int, sk: Skeleton) -> Columns:
    rng = _rng(seed, hour, "custom_events")
    kids = _children(sk, "custom_events", rng, hour)
    m = len(kids.parents)
    return [
        _ids(seed, hour, "custom_event", m), kids.stamps, kids.search_ids, kids.visit_ids,
        *kids.profile[:2], _picks(rng, pools.EVENT_TYPES, m), _picks(rng, pools.EVENT_VALUES, m),
        *kids.origin, *kids.profile[3:], _picks(rng, pools.CART_VALUES, m),
        _picks(rng, DELIVERY_DATES, m), _picks(rng, ORDERED_AT, m),
    ]  # fmt: skip


def _keywords(_seed: int, _hour: int, sk: Skeleton) -> Columns:
    words = [_QUERY_WORDS[query] for query in sk.queries]
    parents = [index for index, found in enumerate(words) for _ in found]
    return [
        _gather(sk.ids, parents),
        [w for found in words for w in found],
        _gather(sk.stamps, parents),
    ]


def _groups(seed: int, hour: int, sk: Skeleton) -> Columns:
    rng = _rng(seed, hour, "groups")
    n, names = len(sk.ids), pools.GROUPS
    counts = _draw_counts(rng, "groups", n)
    firsts = _picks(rng, tuple(range(len(names))), n)
    steps = _picks(rng, tuple(range(1, len(names))), n)
    parents = [index for index, count in enumerate(counts) for _ in range(count)]
    chosen: list[str] = []
    previous = -1
    for index in parents:  # a search's second group is a different one
        step = steps[index] if index == previous else 0
        chosen.append(names[(firsts[index] + step) % len(names)])
        previous = index
    return [_gather(sk.ids, parents), chosen, _gather(sk.stamps, parents)]


_BUILDERS: dict[TTable, Callable[[int, int, Skeleton], Columns]] = {
    "searches": _searches,
    "clicks": _clicks,
    "custom_events": _custom_events,
    "keywords": _keywords,
    "groups": _groups,
}


def hour_columns(
    seed: int, per_hour: int, table: TTable, hour: int, bad_rate: float | None = None
) -> Columns:
    """Every row of ``table`` in UTC hour ``hour`` (hours since the epoch), as columns.

    ``bad_rate``: ``SimulatorConfig.bad_dimension_rate``.
    """
    if per_hour > _KEPT_UP_TO:
        return _drawn_hour(seed, per_hour, table, hour, bad_rate)
    return list(_kept_hour(seed, per_hour, table, hour, bad_rate))


def _drawn_hour(
    seed: int, per_hour: int, table: TTable, hour: int, bad_rate: float | None
) -> Columns:
    columns = _BUILDERS[table](seed, hour, skeleton(seed, per_hour, hour))
    if bad_rate is None:
        return columns
    rng = random.Random(f"{seed}:{hour}:{table}:bad-dimensions")
    return with_bad_rate(columns, FIELDS[table], table, rng, bad_rate)


# Small hours are drawn once per process: the exports that cover an hour and the ground
# truth that checks them read it again, and a test process loads the same days many times.
# Larger ones (benchmarks) are not kept: 2048 table-hours at 50 searches an hour held 30
# MB (tracemalloc).
_KEPT_UP_TO = 50


@lru_cache(maxsize=2048)
def _kept_hour(
    seed: int, per_hour: int, table: TTable, hour: int, bad_rate: float | None
) -> tuple[tuple[Any, ...], ...]:
    columns = _drawn_hour(seed, per_hour, table, hour, bad_rate)
    return tuple(tuple(column) for column in columns)  # shared: nobody may change them


def hour_rows(
    seed: int, per_hour: int, table: TTable, hour: int, bad_rate: float | None = None
) -> list[Row]:
    """Every row of ``table`` in UTC hour ``hour`` (hours since the epoch)."""
    return list(zip(*hour_columns(seed, per_hour, table, hour, bad_rate), strict=True))


@lru_cache(maxsize=1 << 17)
def hour_counts(seed: int, per_hour: int, hour: int) -> tuple[int, ...]:
    """Rows per table (in TABLES order) of a whole hour, without building the rows."""
    n = search_count(seed, per_hour, hour)
    queries = _picks(random.Random(f"{seed}:{hour}:skeleton"), _QUERY_INDEXES, n)
    counts = {"searches": n, "keywords": sum(len(_QUERY_WORDS[q]) for q in queries)}
    for table in ("clicks", "custom_events", "groups"):
        counts[table] = sum(_draw_counts(_rng(seed, hour, table), table, n))
    return tuple(counts[table] for table in TABLES)
