"""How a read of [since, until) splits into parts of the rollup and raw ranges (pure; the reads and
the refresher are collector/store/rollup.py): whole clean hours from the hour rows, clean 5-minute
units from the unit rows, the rest from the deduplicated spans. Every instant of the range is in
exactly one part (tests/integration/test_rollup.py checks it for every plan it makes)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
UNIT = timedelta(minutes=5)


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    f = floor_hour(t)
    return f if f == t else f + HOUR


def floor_unit(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)


def ceil_unit(t: datetime) -> datetime:
    f = floor_unit(t)
    return f if f == t else f + UNIT


@dataclass(frozen=True)
class Plan:
    """The hours of [h0, h1) but `dirty` come from the hour rows, `units` from the unit rows, each
    range in `raw` from v_spans."""

    h0: datetime | None
    h1: datetime | None
    dirty: tuple[datetime, ...] = ()
    raw: tuple[tuple[datetime, datetime], ...] = field(default=())
    units: tuple[datetime, ...] = ()


def _merged(ranges: Iterable[tuple[datetime, datetime]]) -> tuple[tuple[datetime, datetime], ...]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if out and out[-1][1] >= a:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return tuple(out)


def _units(a: datetime, b: datetime) -> Iterable[datetime]:
    while a < b:
        yield a
        a += UNIT


def plan(since: datetime, until: datetime, dirty: Iterable[datetime], use_rollup: bool = True,
         units: Iterable[datetime] = (), stale: Iterable[datetime] | None = None) -> Plan:
    """Split [since, until) into rollup hours, rollup units and raw ranges (pure; see the module
    docstring). The hours of the range but the `dirty` ones come from the hour rows. Of the rest (the
    dirty hours and the ragged edges), the clean `units` come from the unit rows and the `stale` ones
    (changed since their refresh) from v_spans; a unit that is neither holds no span, so it is read
    whichever way makes fewer raw ranges: raw only between two raw parts. With `stale` None, every
    unit but the clean ones is read raw."""
    u0, u1 = ceil_unit(since), floor_unit(until)
    if not use_rollup or u0 >= u1:
        return Plan(None, None, (), ((since, until),))
    h0, h1 = ceil_hour(since), floor_hour(until)
    if h0 >= h1:
        h0 = h1 = u0
    dirty = tuple(sorted(h for h in set(dirty) if h0 <= h < h1))
    clean, changed = set(units), None if stale is None else set(stale)
    kinds: list[tuple[datetime, str]] = []  # each unit not under a clean hour: "rows", "raw" or "empty"
    for a, b in [(u0, min(h0, u1)), *((h, h + HOUR) for h in dirty), (max(h1, u0), u1)]:
        for u in _units(a, b):
            kinds.append((u, "rows" if u in clean else "raw" if changed is None or u in changed else "empty"))
    raw = [(since, u0), (u1, until)]
    rows: list[datetime] = []
    for i, (u, kind) in enumerate(kinds):
        if kind == "empty":
            kind = "raw" if _raw_side(kinds, i, -1, since, u0) and _raw_side(kinds, i, 1, until, u1) else "rows"
        if kind == "rows":
            rows.append(u)
        else:
            raw.append((u, u + UNIT))
    return Plan(h0, h1, dirty, _merged(raw), tuple(rows))


def _raw_side(kinds: list[tuple[datetime, str]], i: int, step: int, end: datetime, edge: datetime) -> bool:
    """Is the first part next to the empty units around kinds[i], looking `step`-wards, read raw? A
    unit that is not next in time is beyond a clean hour (hour rows); past the last unit is the
    range's ragged edge, raw if not empty."""
    u = kinds[i][0]
    j = i + step
    while 0 <= j < len(kinds):
        v, kind = kinds[j]
        if v != u + step * UNIT:
            return False  # a clean hour between
        if kind != "empty":
            return kind == "raw"
        u, j = v, j + step
    return end != edge and (u == edge if step < 0 else u + UNIT == edge)


def at_most(p: Plan, n: int) -> Plan:
    """`p` with at most `n` raw ranges (every read: RAW_READS; v_tasks has that many slots): the two
    ranges with the smallest gap between them are joined until `n` are left, and what was in each gap
    (clean hours and units) is read raw instead (not twice). Exact either way."""
    raw, dirty, units = list(p.raw), set(p.dirty), set(p.units)
    while len(raw) > n:
        i = min(range(len(raw) - 1), key=lambda k: raw[k + 1][0] - raw[k][1])
        (a, b), (c, d) = raw[i], raw[i + 1]
        t = b  # a gap between raw ranges is whole clean hours and units
        while t < c:
            if p.h0 is not None and p.h0 <= t < p.h1 and t not in dirty and floor_hour(t) == t and t + HOUR <= c:
                dirty.add(t)
                t += HOUR
            else:
                units.discard(t)
                t += UNIT
        raw[i:i + 2] = [(a, d)]
    return Plan(p.h0, p.h1, tuple(sorted(dirty)), tuple(raw), tuple(sorted(units)))


def without(p: Plan, hours: Iterable[datetime], since: datetime, until: datetime) -> Plan:
    """`p` (a plan of [since, until)) with the whole `hours` read raw: neither their hour rows nor
    their units'."""
    hours = {floor_hour(h) for h in hours}
    if not hours or p.h0 is None:
        return p
    extra = [(max(h, since), min(h + HOUR, until)) for h in hours]
    return Plan(p.h0, p.h1, tuple(sorted({*p.dirty, *(h for h in hours if p.h0 <= h < p.h1)})),
                _merged([*p.raw, *extra]), tuple(u for u in p.units if floor_hour(u) not in hours))
