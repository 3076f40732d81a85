"""The rollup: aggregate reads from `spend_rollup` where it is current, from v_spans elsewhere.

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
spans the open hour holds, the raw part is a few minutes of them. The per-task rollup (`task_rollup`,
read through v_task_rollup: cost per trace) is split by the same plan (collector/read/tasks.py).

`RollupRefresher` (a thread in the collector) recomputes changed units every few seconds, once a
unit has ended SETTLE ago and has stopped changing for a while (or has waited long enough), then
sums the ended hours whose units are all clean; reads are exact whether it has caught up or not,
only slower while it has not.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from tierscope import clock
from tierscope.collector.store.clickhouse import Store
from tierscope.collector.store.loop import Loop
from tierscope.collector.store.plan import (HOUR, UNIT, Plan, at_most, ceil_hour, ceil_unit, floor_hour, floor_unit,
                                            plan, without)

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["HOUR", "UNIT", "Plan", "at_most", "ceil_hour", "ceil_unit", "floor_hour", "floor_unit", "plan", "without",
           "RollupRefresher", "current_plan", "dirty_parts", "read", "refresh", "together"]

REFRESH_CHUNK_HOURS = 24  # hours (of units, or of hours) recomputed per statement at most
# A unit is recomputed once it ended this long ago: a span arrives when it ends (an LLM call lasts up
# to a minute) and after its exporter's batch delay (5 s by default). One that arrives later marks
# its unit again, which is then recomputed once more (QUIET); reads are exact either way.
SETTLE = timedelta(seconds=60)
# An ended unit that keeps changing (a backfill, a replay, an import, a late batch after another)
# is recomputed by the refresher once it has been left alone for QUIET, or once its last recompute
# is MAX_WAIT old, so one that never goes quiet still catches up; not on every tick, which would
# rescan it every few seconds for an answer stale a moment later.
QUIET = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=5)
# Dimension combinations one fill statement may group. A fill's memory grows with the groups it
# holds (the engine's GROUP BY state is ~0.5-0.7 kB per combination of ten string keys), not with
# the spans it reads: a unit of 1.5 M spans with 240,000 combinations took +155 MiB of process RSS
# in one statement. Units (or hours) with more are filled in slices of their combinations
# (v_spans_unscored, rollup_merge), and every slice is a full scan of the unit (FINAL, the slice's
# hash, the late-quality join: ~1.2 s there whatever its share), so the limit trades time for
# memory: a slice of 10,000 combinations peaked at +77 MiB, one of 48,000 at +110-130 MiB, while
# the whole fill took 44-46 s in 25 slices and 20-21 s in 5, with the same peak for the process
# (the rollup tables' own merges run beside the slices). A real fleet's unit (tens to hundreds of
# combinations) stays one statement, and up to REFRESH_CHUNK_HOURS of them share one.
GROUPS_PER_FILL = 50_000
# Rows of the per-task rollup (task_rollup: one per trace x role x feature x team x service x
# environment in a unit) one fill statement may group. Units with more are filled in slices of the
# trace-id range (`trace_slices`); trace_id follows the unit in llm_spans' key, so unlike the hash
# slices above a slice reads only its share of the granules, and many slices cost little more than
# one. Such a group is narrower than a spend_rollup one (one id and five low-cardinality keys),
# hence the larger limit.
TASKS_PER_FILL = 50_000
# Raw ranges one aggregate reads at most. Each is a query of its own (~20-60 ms however little it
# holds), so units changed here and there (a backfill, late quality events on many days, a freshly
# started collector whose refresher has not caught up) made one read a query per changed part: 7.8 s
# for spend over 707 spans in 60-odd dirty hours. Past this many, the nearest ranges are joined and
# the clean parts between them read raw too (at_most): exact either way.
RAW_READS = 4


def hour_aligned(tz: str, when: Iterable[datetime] = (), now: datetime | None = None) -> bool:
    """True when `tz` is a whole number of hours from UTC (in January and July of `now`'s year, by
    default the clock's, and at `when`), so its hour/day/week/month buckets are unions of UTC hours."""
    zone = ZoneInfo(tz)
    year = (now or clock.now()).year
    probes = [datetime(year, 1, 15, tzinfo=UTC), datetime(year, 7, 15, tzinfo=UTC), *when]
    return all((p.astimezone(zone).utcoffset() or timedelta(0)).total_seconds() % 3600 == 0 for p in probes)


def dirty_parts(store: Store, tenant: str, since: datetime, until: datetime) -> tuple[set[datetime], set[datetime],
                                                                                      set[datetime]]:
    """The hours of {tenant}'s [since, until) that are not clean, and of their units those that are
    and those that are not (rollup_dirty)."""
    rows = store.query("rollup_dirty", {"tenant": tenant, "h0": floor_unit(since), "h1": ceil_unit(until)})
    units = [(_utc(r["unit"]), r["clean"]) for r in rows]
    return {floor_hour(u) for u, _ in units}, {u for u, clean in units if clean}, {u for u, clean in units if not clean}


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
    hours and units plus over v_spans for each raw range (side by side), merged by `keys` with
    `combine(into, row)`."""
    p = current_plan(store, params, use_rollup)
    calls = [(clean_hours(params, p), True)] if p.h0 is not None else []
    calls += [({**params, "since": a, "until": b}, False) for a, b in p.raw]
    parts = together(*(partial(store.query, name, q, over_rollup=over) for q, over in calls))
    merged: dict[tuple, dict[str, Any]] = {}
    for rows in parts:
        for row in rows:
            key = tuple(row[k] for k in keys)
            if key in merged:
                combine(merged[key], row)
            else:
                merged[key] = dict(row)
    return list(merged.values())


def together(*calls: Callable[[], T]) -> list[T]:
    """The results of `calls`, run side by side: the engine runs each on its own client, and the
    parts of one read are small statements that leave cores idle when run one after another. A
    thread per call (the first in this one), not a shared pool, so calls may nest."""
    if len(calls) <= 1:
        return [c() for c in calls]
    with ThreadPoolExecutor(len(calls) - 1) as pool:
        futures = [pool.submit(c) for c in calls[1:]]
        first = calls[0]()
        return [first, *(f.result() for f in futures)]


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
                 limit: int = GROUPS_PER_FILL) -> list[tuple[list[datetime], int]]:
    """The fill statements for `hours` (or units), in time order: (some of them, slices) pairs, each
    slice one statement (a statement names its hours or units, so they need not be consecutive).
    They share a statement while their estimated `groups` add up to at most `limit` (and there are
    at most `chunk_hours`); one with more than `limit` is filled alone, in ceil(groups / limit)
    slices of its dimension combinations (or, for task_rollup, of its trace ids)."""
    batches: list[tuple[list[datetime], int]] = []
    current: list[datetime] = []
    total = 0
    for h in sorted(hours):
        g = groups.get(h, 0)
        if g > limit:
            if current:
                batches.append((current, 1))
                current, total = [], 0
            batches.append(([h], -(-g // limit)))
            continue
        if current and (total + g > limit or len(current) == chunk_hours):
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
            for batch, parts in fill_batches(span, groups, per_run, groups_per_fill):
                statements = [("rollup_fill", {"since": batch[0], "until": batch[-1] + UNIT, "units": batch,
                                               "parts": parts, "part": part}) for part in range(parts)]
                for some, slices in fill_batches(batch, tasks, per_run, tasks_per_fill):
                    statements += [("task_fill", {"since": some[0], "until": some[-1] + UNIT, "units": some,
                                                  "lo": lo, "hi": hi}) for lo, hi in trace_slices(slices)]
                if not run(statements, tenant):
                    return done
                store.execute("rollup_stamp", {"tenant": tenant, "hours": batch, "minutes": 5, "version": version,
                                               "units": [], "versions": []})
                if over_budget():
                    return done
        for span in _windows(hours.get(tenant, []), chunk_hours * HOUR):
            parts = store.query("rollup_dirty", {"tenant": tenant, "h0": span[0], "h1": span[-1] + HOUR})
            of: dict[datetime, list[tuple[datetime, int, bool]]] = {}
            for r in parts:
                unit = _utc(r["unit"])
                of.setdefault(floor_hour(unit), []).append((unit, int(r["computed_at"]), bool(r["clean"])))
            # still not clean (it has units: not summed by another refresh since), and every unit is
            ready = [h for h in span if of.get(h) and all(clean for _, _, clean in of[h])]
            sizes = store.query("rollup_merge_groups", {"tenant": tenant, "since": span[0], "until": span[-1] + HOUR})
            groups = {_utc(r["hour"]): int(r["groups"]) for r in sizes}
            tasks = {_utc(r["hour"]): int(r["tasks"]) for r in sizes}
            for batch, parts in fill_batches(ready, groups, chunk_hours, groups_per_fill):
                basis = [(u, v) for h in batch for u, v, _ in of.get(h, [])]
                pairs = {"units": [u for u, _ in basis], "versions": [v for _, v in basis]}
                statements = [("rollup_merge", {"since": batch[0], "until": batch[-1] + HOUR, "parts": parts,
                                                "part": part, **pairs}) for part in range(parts)]
                for some, slices in fill_batches(batch, tasks, chunk_hours, tasks_per_fill):
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
