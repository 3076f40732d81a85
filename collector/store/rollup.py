"""The rollup: aggregate reads from `spend_hourly` where it is current, from v_spans elsewhere.

The rollup holds rows of two sizes. A 5-minute unit's rows are computed from its spans once it has
ended (and stopped changing for a moment); an hour's rows are summed from its twelve units' rows
once the hour has ended, so no refresh ever reads more than a few units of spans, and an hour's end
costs no more than any other five minutes. A read of [since, until) is split into
  * the whole UTC hours inside it that are clean (summed from exactly their units' latest refreshes,
    none changed since): from the hour rows, milliseconds however many spans they hold;
  * the clean 5-minute units of everything else (the open hour, an hour changed since, the ragged
    edges of the range): from the unit rows;
  * what is left (the open unit, a unit changed and not yet recomputed, less than a unit at either
    end): read from v_spans, one query per contiguous run, at most RAW_READS of them.
The parts are disjoint and cover the range, and every column is additive (money as Decimal), so the
merged answer equals a single v_spans query over the whole range, to the last decimal; however many
spans the open hour holds, the raw part is a few minutes of them. The per-task rollup (`task_hourly`,
read through v_task_rollup: cost per trace) is split by the same plan (collector/read/tasks.py).

`RollupRefresher` (a thread in the collector) recomputes changed units every few seconds, once a
unit has ended SETTLE ago and has stopped changing for a while (or has waited long enough), then
sums the ended hours whose units are all clean; reads are exact whether it has caught up or not,
only slower while it has not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tierscope import clock
from tierscope.collector.store.clickhouse import Store
from tierscope.collector.store.loop import Loop

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
UNIT = timedelta(minutes=5)
REFRESH_CHUNK_HOURS = 24  # hours (of units, or of hours) recomputed per statement at most
SETTLE = timedelta(seconds=30)  # a unit is recomputed once it ended this long ago (late exporters)
# An ended unit that keeps changing (a backfill, a replay, an import, a late batch after another)
# is recomputed by the refresher once it has been left alone for QUIET, or once its last recompute
# is MAX_WAIT old, so one that never goes quiet still catches up; not on every tick, which would
# rescan it every few seconds for an answer stale a moment later.
QUIET = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=5)
# Dimension combinations one fill statement may group. A fill's memory grows with the groups it
# holds (the engine's GROUP BY state is ~0.7 kB per combination of ten string keys), not with the
# spans it reads: an hour of 1.5 M spans with 260,000 combinations took 193 MiB of engine memory in
# one statement (process RSS +173-212 MiB), and +48 MiB RSS in 26 statements of 10,000. Units (or
# hours) with more are filled in slices of their combinations (v_spans_unscored, rollup_merge), each
# statement a full scan of them, so this trades time for a flat memory profile. A real fleet's unit
# (tens to hundreds of combinations) stays one statement, and up to REFRESH_CHUNK_HOURS of them share one.
GROUPS_PER_FILL = 10_000
# Rows of the per-task rollup (task_hourly: one per trace x role x feature x team x service x
# environment in a unit) one fill statement may group. Units with more are filled in slices of the
# trace-id range (`trace_slices`); trace_id follows the unit in llm_spans' key, so unlike the hash
# slices above a slice reads only its share of the granules, and many slices cost little more than
# one. Such a group is narrower than a spend_hourly one (one id and five low-cardinality keys),
# hence the larger limit.
TASKS_PER_FILL = 50_000
# Raw ranges one aggregate reads at most. Each is a query of its own (~20-60 ms however little it
# holds), so units changed here and there (a backfill, late quality events on many days, a freshly
# started collector whose refresher has not caught up) made one read a query per changed part: 7.8 s
# for spend over 707 spans in 60-odd dirty hours. Past this many, the nearest ranges are joined and
# the clean parts between them read raw too (at_most): exact either way.
RAW_READS = 4


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


def hour_aligned(tz: str, when: Iterable[datetime] = (), now: datetime | None = None) -> bool:
    """True when `tz` is a whole number of hours from UTC (in January and July of `now`'s year, by
    default the clock's, and at `when`), so its hour/day/week/month buckets are unions of UTC hours."""
    zone = ZoneInfo(tz)
    year = (now or clock.now()).year
    probes = [datetime(year, 1, 15, tzinfo=UTC), datetime(year, 7, 15, tzinfo=UTC), *when]
    return all((p.astimezone(zone).utcoffset() or timedelta(0)).total_seconds() % 3600 == 0 for p in probes)


@dataclass(frozen=True)
class Plan:
    """The hours of [h0, h1) but `dirty` come from the hour rows, `units` from the unit rows, each
    range in `raw` from v_spans."""

    h0: datetime | None
    h1: datetime | None
    dirty: tuple[datetime, ...] = ()
    raw: tuple[tuple[datetime, datetime], ...] = field(default=())
    units: tuple[datetime, ...] = ()

    @property
    def rollup(self) -> bool:
        """Does any part come from the rollup?"""
        return self.h0 is not None


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
    lo, hi = since, until
    extra = [(max(h, lo), min(h + HOUR, hi)) for h in hours]
    return Plan(p.h0, p.h1, tuple(sorted({*p.dirty, *(h for h in hours if p.h0 <= h < p.h1)})),
                _merged([*p.raw, *extra]), tuple(u for u in p.units if floor_hour(u) not in hours))


def dirty_parts(store: Store, tenant: str, since: datetime, until: datetime) -> tuple[set[datetime], set[datetime],
                                                                                      set[datetime]]:
    """The hours of {tenant}'s [since, until) that are not clean, and of their units those that are
    and those that are not (rollup_dirty)."""
    rows = store.query("rollup_dirty", {"tenant": tenant, "h0": floor_unit(since), "h1": ceil_unit(until)})
    hours = {_utc(r["start"]) for r in rows if r["minutes"] == 60}
    units = [r for r in rows if r["minutes"] == 5]
    return hours, {_utc(r["start"]) for r in units if r["clean"]}, {_utc(r["start"]) for r in units if not r["clean"]}


def current_plan(store: Store, params: Mapping[str, Any], use_rollup: bool = True,
                 max_raw: int = RAW_READS) -> Plan:
    """The plan of params' [since, until) for its tenant, with the hours changed since their refresh
    and their units, in at most `max_raw` raw ranges (at_most)."""
    since, until = params["since"], params["until"]
    p = plan(since, until, (), use_rollup)
    if p.h0 is None:
        return p
    hours, clean, stale = dirty_parts(store, params["tenant"], since, until)
    return at_most(plan(since, until, hours, units=clean, stale=stale), max_raw)


def read(store: Store, name: str, params: Mapping[str, Any], keys: tuple[str, ...],
         combine: Callable[[dict[str, Any], dict[str, Any]], None], use_rollup: bool = True) -> list[dict[str, Any]]:
    """Rows of the named aggregate `name` over params' [since, until): over v_rollup for the clean
    hours and units plus over v_spans for each raw range, merged by `keys` with `combine(into, row)`."""
    p = current_plan(store, params, use_rollup)
    parts: list[list[dict[str, Any]]] = []
    if p.h0 is not None:
        parts.append(store.query(name, clean_hours(params, p), over_rollup=True))
    for a, b in p.raw:
        parts.append(store.query(name, {**params, "since": a, "until": b}))
    merged: dict[tuple, dict[str, Any]] = {}
    for rows in parts:
        for row in rows:
            key = tuple(row[k] for k in keys)
            if key in merged:
                combine(merged[key], row)
            else:
                merged[key] = dict(row)
    return list(merged.values())


def clean_hours(params: Mapping[str, Any], p: Plan) -> dict[str, Any]:
    """The parameters of a read over v_rollup (or v_task_rollup): the clean hours and units of plan
    `p`, within [since, until) (the hours' range and the units, whichever reach further)."""
    assert p.h0 is not None and p.h1 is not None
    since = min(p.h0, p.units[0]) if p.units else p.h0
    until = max(p.h1, p.units[-1] + UNIT) if p.units else p.h1
    return {**params, "since": since, "until": until, "h0": p.h0, "h1": p.h1, "dirty": list(p.dirty),
            "units": list(p.units)}


def add(columns: tuple[str, ...]) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """A combine that sums `columns` (ints, Decimals, floats)."""
    def combine(into: dict[str, Any], row: dict[str, Any]) -> None:
        for c in columns:
            into[c] = into[c] + row[c]
    return combine


def finish_quality(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """quality_mean from the merged quality_sum / quality_n (None without samples)."""
    for r in rows:
        n = int(r["quality_n"])
        r["quality_mean"] = float(r["quality_sum"]) / n if n else None
        r.pop("quality_sum", None)
    return rows


# --- the refresher --------------------------------------------------------------------------------
def due(marked_at: int, computed_at: int, now: int, quiet: timedelta, max_wait: timedelta) -> bool:
    """Recompute a changed hour now? Yes if it was never computed (0), once its last change is `quiet`
    old, or once its last recompute is `max_wait` old. Times in nanoseconds on the store's clock."""
    return computed_at == 0 or now - marked_at >= _ns(quiet) or now - computed_at >= _ns(max_wait)


def _ns(t: timedelta) -> int:
    return t // timedelta(microseconds=1) * 1000


def fill_batches(hours: Iterable[datetime], groups: Mapping[datetime, int], chunk_hours: int = REFRESH_CHUNK_HOURS,
                 limit: int = GROUPS_PER_FILL, step: timedelta | None = HOUR) -> list[tuple[list[datetime], int]]:
    """The fill statements for `hours` (or units, `step` apart; with None, any): (consecutive ones,
    slices) pairs, each slice one statement. Consecutive ones share a statement while their estimated `groups` add
    up to at most `limit` (and there are at most `chunk_hours`); one with more than `limit` is filled
    alone, in ceil(groups / limit) slices of its dimension combinations (or, for task_hourly, of its
    trace ids)."""
    batches: list[tuple[list[datetime], int]] = []
    for run in _runs(list(hours), chunk_hours, step):
        current: list[datetime] = []
        total = 0
        for h in run:
            g = groups.get(h, 0)
            if g > limit:
                if current:
                    batches.append((current, 1))
                    current, total = [], 0
                batches.append(([h], -(-g // limit)))
                continue
            if current and total + g > limit:
                batches.append((current, 1))
                current, total = [], 0
            current.append(h)
            total += g
        if current:
            batches.append((current, 1))
    return batches


def trace_slices(parts: int) -> list[tuple[str, str]]:
    """[lo, hi) bounds (hi '' = unbounded) that split every string into `parts` ranges, even for
    random hex trace ids: the boundaries are 8-hex-digit prefixes, equally spaced."""
    bounds = [""] + [f"{(k << 32) // parts:08x}" for k in range(1, parts)] + [""]
    return list(zip(bounds, bounds[1:]))


def refresh(store: Store, chunk_hours: int = REFRESH_CHUNK_HOURS, budget_s: float | None = None,
            settle: timedelta = SETTLE, quiet: timedelta = timedelta(0), max_wait: timedelta = MAX_WAIT,
            groups_per_fill: int = GROUPS_PER_FILL, tasks_per_fill: int = TASKS_PER_FILL,
            stopping: Callable[[], bool] = lambda: False, on_statement: Callable[[str], None] = lambda name: None,
            now: datetime | None = None) -> int:
    """Recompute every changed 5-minute unit that ended at least `settle` ago and is `due` (with the
    default `quiet` of 0, every one), then sum every ended hour that is not clean and whose units all
    are; returns how many hours were summed. Idempotent. The open unit is left alone: live ingest
    changes it every second, so reads take it from v_spans anyway. The refresher thread passes
    `quiet=QUIET` for the same reason.

    Units are sized first (rollup_fill_groups) and filled in statements of at most `groups_per_fill`
    dimension combinations (`fill_batches`), their per-task rows (task_fill) likewise by
    `tasks_per_fill`; hours are summed from their units' rows in the same way (rollup_merge,
    task_merge), reading no span. `stopping()` is asked before each statement, and
    `on_statement(name)` is told of each. Ingest and reads run beside the statements (the store has a
    client per call). A unit or hour is stamped once all its statements are in, so a read never
    takes a half-filled one from the rollup (one left half-filled stays dirty, and is recomputed
    whole next time); an hour's stamp names the unit refreshes it was summed from (rollup_stamp).

    Which units have ended is decided at `now`, by default the store's own clock (the one its change
    stamps are on, so the open unit is the one live ingest writes whatever TIERSCOPE_NOW says), or
    the instant given. The version stamp is always the store's clock."""
    version = int(store.query("rollup_now", {})[0]["now_ns"])  # before reading anything
    sealed = (now or datetime.fromtimestamp(version / 1e9, UTC)) - settle
    units: dict[str, list[datetime]] = {}
    hours: dict[str, list[datetime]] = {}
    for r in store.query("rollup_pending", {}):
        start = _utc(r["start"])
        if r["minutes"] == 5:
            if start + UNIT <= sealed and due(int(r["marked_at"]), int(r["computed_at"]), version, quiet, max_wait):
                units.setdefault(r["tenant"], []).append(start)
        elif start + HOUR <= sealed:
            hours.setdefault(r["tenant"], []).append(start)
    done, started = 0, time.monotonic()

    def run(statements: list[tuple[str, dict[str, Any]]], tenant: str) -> bool:
        for name, bounds in statements:
            if stopping():
                return False
            on_statement(name)
            store.execute(name, {"tenant": tenant, "version": version, **bounds})
        return True

    def over_budget() -> bool:
        return budget_s is not None and time.monotonic() - started > budget_s

    per_run = chunk_hours * (HOUR // UNIT)
    for tenant in [*units, *(t for t in hours if t not in units)]:
        for span in _windows(units.get(tenant, []), chunk_hours * HOUR):
            sizes = store.query("rollup_fill_groups", {"tenant": tenant, "since": span[0], "until": span[-1] + UNIT})
            groups = {_utc(r["hour"]): int(r["groups"]) for r in sizes}
            tasks = {_utc(r["hour"]): int(r["tasks"]) for r in sizes}
            for batch, parts in fill_batches(span, groups, per_run, groups_per_fill, step=None):
                statements = [("rollup_fill", {"since": batch[0], "until": batch[-1] + UNIT, "units": batch,
                                               "parts": parts, "part": part}) for part in range(parts)]
                for some, slices in fill_batches(batch, tasks, per_run, tasks_per_fill, step=None):
                    statements += [("task_fill", {"since": some[0], "until": some[-1] + UNIT, "units": some,
                                                  "lo": lo, "hi": hi}) for lo, hi in trace_slices(slices)]
                if not run(statements, tenant):
                    return done
                store.execute("rollup_stamp", {"tenant": tenant, "hours": batch, "minutes": 5, "version": version,
                                               "units": [], "versions": []})
                if over_budget():
                    return done
        for span in _windows(hours.get(tenant, []), chunk_hours * HOUR):
            stamps = store.query("rollup_unit_stamps", {"tenant": tenant, "since": span[0], "until": span[-1] + HOUR})
            of: dict[datetime, list[tuple[datetime, int, bool]]] = {}
            for r in stamps:
                unit = _utc(r["unit"])
                of.setdefault(floor_hour(unit), []).append((unit, int(r["computed_at"]),
                                                            int(r["marked_at"]) < int(r["computed_at"])))
            ready = [h for h in span if all(clean for _, _, clean in of.get(h, []))]
            sizes = store.query("rollup_merge_groups", {"tenant": tenant, "since": span[0], "until": span[-1] + HOUR})
            groups = {_utc(r["hour"]): int(r["groups"]) for r in sizes}
            tasks = {_utc(r["hour"]): int(r["tasks"]) for r in sizes}
            for batch, parts in fill_batches(ready, groups, chunk_hours, groups_per_fill, step=None):
                basis = [(u, v) for h in batch for u, v, _ in of.get(h, [])]
                pairs = {"units": [u for u, _ in basis], "versions": [v for _, v in basis]}
                statements = [("rollup_merge", {"since": batch[0], "until": batch[-1] + HOUR, "parts": parts,
                                                "part": part, **pairs}) for part in range(parts)]
                for some, slices in fill_batches(batch, tasks, chunk_hours, tasks_per_fill, step=None):
                    statements += [("task_merge", {"since": some[0], "until": some[-1] + HOUR, "lo": lo, "hi": hi,
                                                   **pairs}) for lo, hi in trace_slices(slices)]
                if not run(statements, tenant):
                    return done
                store.execute("rollup_stamp", {"tenant": tenant, "hours": batch, "minutes": 60, "version": version,
                                               **pairs})
                done += len(batch)
                if over_budget():
                    return done
    return done


def _windows(starts: list[datetime], width: timedelta) -> list[list[datetime]]:
    """`starts` in groups that each begin less than `width` before their last: one statement's reach.
    Units changed here and there (a late span, a trace's late quality) share a statement."""
    out: list[list[datetime]] = []
    for t in sorted(starts):
        if out and t - out[-1][0] < width:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _runs(hours: list[datetime], limit: int, step: timedelta | None = HOUR) -> list[list[datetime]]:
    """Consecutive hours (or units, `step` apart; with None, any) grouped into runs of at most `limit`."""
    runs: list[list[datetime]] = []
    for h in sorted(hours):
        if runs and (step is None or runs[-1][-1] + step == h) and len(runs[-1]) < limit:
            runs[-1].append(h)
        else:
            runs.append([h])
    return runs


class RollupRefresher(Loop):
    """Keeps the rollup current: every `interval` seconds, recomputes the changed units that are due
    (see `due`: quiet for `quiet`, or last recomputed `max_wait` ago) and sums the ended hours whose
    units are clean (`refresh`), in a thread."""

    def __init__(self, store: Store, interval: float = 5.0, quiet: timedelta = QUIET,
                 max_wait: timedelta = MAX_WAIT) -> None:
        super().__init__("tierscope-rollup")
        self.store = store
        self.interval = interval
        self.quiet = quiet
        self.max_wait = max_wait
        self.hours_refreshed = 0
        self.statements = 0  # fill and merge statements begun since start (an hour is counted once summed)
        self.last_error = ""

    def _count(self, name: str) -> None:
        self.statements += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = refresh(self.store, budget_s=self.interval, quiet=self.quiet, max_wait=self.max_wait,
                            stopping=self._stop.is_set, on_statement=self._count)
                self.hours_refreshed += n
                self.last_error = ""
                if n > 24:
                    log.info("rollup: summed %d hours", n)
            except Exception as exc:  # a store outage: reads fall back to v_spans, retry next tick
                error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                if error != self.last_error:  # once per outage, not every tick
                    log.warning("rollup refresh failed (retrying every %gs): %s", self.interval, error)
                self.last_error = error
            self._stop.wait(self.interval)
