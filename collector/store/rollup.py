"""Hourly rollup: aggregate reads from `spend_hourly` where it is current, from v_spans elsewhere.

A read of [since, until) is split into
  * the whole UTC hours inside it that are clean (refreshed after their last change): summed from
    the rollup, milliseconds however many spans they hold;
  * everything else, i.e. the ragged edges of the range and the hours changed since their last
    refresh (the open hour under live ingest, an hour a late quality event touched): read from
    v_spans, one query per contiguous run, as before.
The parts are disjoint and cover the range, and every column is additive (money as Decimal), so the
merged answer equals a single v_spans query over the whole range, to the last decimal. The per-task
rollup (`task_hourly`, read through v_task_rollup: cost per trace) is split by the same plan
(collector/read/tasks.py).

`RollupRefresher` (a thread in the collector) recomputes changed hours every few seconds, once an
hour has ended and has stopped changing for a while (or has waited long enough); reads are exact
whether it has caught up or not, only slower while it has not.
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
REFRESH_CHUNK_HOURS = 24  # hours recomputed per statement, so ingest waits at most one chunk
SETTLE = timedelta(minutes=2)  # an hour is recomputed once it ended this long ago (late exporters)
# An ended hour that keeps changing (a backfill, a replay, an import, a late batch after another)
# is recomputed by the refresher once it has been left alone for QUIET, or once its last recompute
# is MAX_WAIT old, so one that never goes quiet still catches up; not on every tick, which would
# rescan the whole hour every few seconds for an answer stale a moment later.
QUIET = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=5)
# Dimension combinations one fill statement may group. A fill's memory grows with the groups it
# holds (the engine's GROUP BY state is ~0.7 kB per combination of ten string keys), not with the
# spans it reads: an hour of 1.5 M spans with 260,000 combinations took 193 MiB of engine memory in
# one statement (process RSS +173-212 MiB), and +48 MiB RSS in 26 statements of 10,000. An hour with
# more is filled in slices of its combinations (v_spans_unscored), each statement a full scan of the
# hour, so this trades time (~0.9 s per slice of that hour) for a flat memory profile. A real fleet's
# hour (tens to hundreds of combinations) stays one statement, and up to REFRESH_CHUNK_HOURS of them
# share one.
GROUPS_PER_FILL = 10_000
# Rows of the per-task rollup (task_hourly: one per trace x role x feature x team x service x
# environment in an hour) one fill statement may group. An hour with more is filled in slices of
# the trace-id range (`trace_slices`); trace_id follows the hour in llm_spans' key, so unlike the
# hash slices above a slice reads only its share of the hour's granules, and many slices cost little
# more than one. Such a group is narrower than a spend_hourly one (one id and five low-cardinality
# keys), hence the larger limit.
TASKS_PER_FILL = 50_000
# Raw ranges one aggregate reads at most. Each is a query of its own (~20-60 ms however little it
# holds), so hours changed here and there (a backfill, late quality events on many days, a freshly
# started collector whose refresher has not caught up) made one read a query per changed hour: 7.8 s
# for spend over 707 spans in 60-odd dirty hours. Past this many, the nearest ranges are joined and
# the clean hours between them read raw too (at_most): exact either way.
RAW_READS = 4


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    f = floor_hour(t)
    return f if f == t else f + HOUR


def hour_aligned(tz: str, when: Iterable[datetime] = (), now: datetime | None = None) -> bool:
    """True when `tz` is a whole number of hours from UTC (in January and July of `now`'s year, by
    default the clock's, and at `when`), so its hour/day/week/month buckets are unions of UTC hours."""
    zone = ZoneInfo(tz)
    year = (now or clock.now()).year
    probes = [datetime(year, 1, 15, tzinfo=UTC), datetime(year, 7, 15, tzinfo=UTC), *when]
    return all((p.astimezone(zone).utcoffset() or timedelta(0)).total_seconds() % 3600 == 0 for p in probes)


@dataclass(frozen=True)
class Plan:
    """[h0, h1) minus `dirty` comes from the rollup; each range in `raw` from v_spans."""

    h0: datetime | None
    h1: datetime | None
    dirty: tuple[datetime, ...] = ()
    raw: tuple[tuple[datetime, datetime], ...] = field(default=())


def plan(since: datetime, until: datetime, dirty: Iterable[datetime], use_rollup: bool = True) -> Plan:
    """Split [since, until) into rollup hours and raw ranges (pure; see the module docstring)."""
    h0, h1 = ceil_hour(since), floor_hour(until)
    if not use_rollup or h0 >= h1:
        return Plan(None, None, (), ((since, until),))
    dirty = tuple(sorted(h for h in set(dirty) if h0 <= h < h1))
    pieces = [(since, h0)] + [(h, h + HOUR) for h in dirty] + [(h1, until)]
    raw: list[tuple[datetime, datetime]] = []
    for a, b in pieces:
        if a >= b:
            continue
        if raw and raw[-1][1] == a:
            raw[-1] = (raw[-1][0], b)
        else:
            raw.append((a, b))
    return Plan(h0, h1, dirty, tuple(raw))


def at_most(p: Plan, n: int) -> Plan:
    """`p` with at most `n` raw ranges (every read: RAW_READS; v_tasks has that many slots): the two
    ranges with the smallest gap between them are joined until `n` are left, and the whole hours of
    each gap, clean though they are, join `dirty` (so they are read raw, not twice). Exact either way."""
    raw, dirty = list(p.raw), set(p.dirty)
    while len(raw) > n:
        i = min(range(len(raw) - 1), key=lambda k: raw[k + 1][0] - raw[k][1])
        (a, b), (c, d) = raw[i], raw[i + 1]
        hour = b  # a gap between raw ranges is whole clean hours
        while hour < c:
            dirty.add(hour)
            hour += HOUR
        raw[i:i + 2] = [(a, d)]
    return Plan(p.h0, p.h1, tuple(sorted(dirty)), tuple(raw))


def dirty_hours(store: Store, tenant: str, h0: datetime, h1: datetime) -> list[datetime]:
    rows = store.query("rollup_dirty", {"tenant": tenant, "h0": h0, "h1": h1})
    return [_utc(r["hour"]) for r in rows]


def current_plan(store: Store, params: Mapping[str, Any], use_rollup: bool = True,
                 max_raw: int = RAW_READS) -> Plan:
    """The plan of params' [since, until) for its tenant, with the hours changed since their refresh,
    in at most `max_raw` raw ranges (at_most)."""
    since, until = params["since"], params["until"]
    p = plan(since, until, (), use_rollup)
    if p.h0 is None:
        return p
    return at_most(plan(since, until, dirty_hours(store, params["tenant"], p.h0, p.h1)), max_raw)


def read(store: Store, name: str, params: Mapping[str, Any], keys: tuple[str, ...],
         combine: Callable[[dict[str, Any], dict[str, Any]], None], use_rollup: bool = True) -> list[dict[str, Any]]:
    """Rows of the named aggregate `name` over params' [since, until): over v_rollup for the clean
    hours plus over v_spans for each raw range, merged by `keys` with `combine(into, row)`."""
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
    """The parameters of a read over v_rollup: the clean hours of plan `p`."""
    return {**params, "since": p.h0, "until": p.h1, "dirty": list(p.dirty)}


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
    """The fill statements for `hours`: (consecutive hours, slices) pairs, each slice one statement.
    Consecutive hours share a statement while their estimated `groups` add up to at most `limit`
    (and there are at most `chunk_hours`); an hour with more than `limit` is filled alone, in
    ceil(groups / limit) slices of its dimension combinations (or, for task_hourly, of its trace ids)."""
    batches: list[tuple[list[datetime], int]] = []
    for run in _runs(list(hours), chunk_hours):
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
    """Recompute every changed hour that ended at least `settle` ago and is `due` (with the default
    `quiet` of 0, every one); returns how many hours were recomputed. Idempotent. The open hour is
    left alone: live ingest changes it every second, so reads take it from v_spans anyway, and
    recomputing it on every tick would cost a full scan of the hour (14M spans at 4,000/s) for an
    answer stale a moment later. The refresher thread passes `quiet=QUIET` for the same reason.

    Each run of consecutive hours is sized first (rollup_fill_groups) and filled in statements of at
    most `groups_per_fill` dimension combinations (`fill_batches`); `stopping()` is asked before each
    statement, and `on_statement(name)` is told of each. Ingest and reads run beside the statements (the
    store has a client per call). An hour
    is stamped once all its statements are in, so a read never takes a half-filled hour from the
    rollup (one left half-filled stays dirty, and is recomputed whole next time). The per-task
    rollup (task_hourly) of a batch's hours is filled in the same way before the stamp, sized by its
    own estimate (`tasks_per_fill`, in slices of the trace-id range), so both rollups of a clean hour
    are from the same refresh.

    Which hours have ended is decided at `now`, by default the store's own clock (the one its change
    stamps are on, so the open hour is the one live ingest writes whatever TIERSCOPE_NOW says), or
    the instant given. The version stamp is always the store's clock."""
    version = int(store.query("rollup_now", {})[0]["now_ns"])  # before reading anything
    sealed = (now or datetime.fromtimestamp(version / 1e9, UTC)) - settle
    pending: dict[str, list[datetime]] = {}
    for r in store.query("rollup_pending", {}):
        hour = _utc(r["hour"])
        if hour + HOUR <= sealed and due(int(r["marked_at"]), int(r["computed_at"]), version, quiet, max_wait):
            pending.setdefault(r["tenant"], []).append(hour)
    done, started = 0, time.monotonic()
    for tenant, hours in pending.items():
        for run in _runs(hours, chunk_hours):
            sizes = store.query("rollup_fill_groups", {"tenant": tenant, "since": run[0], "until": run[-1] + HOUR})
            groups = {_utc(r["hour"]): int(r["groups"]) for r in sizes}
            tasks = {_utc(r["hour"]): int(r["tasks"]) for r in sizes}
            for batch, parts in fill_batches(run, groups, chunk_hours, groups_per_fill):
                statements = [("rollup_fill", {"since": batch[0], "until": batch[-1] + HOUR, "parts": parts,
                                               "part": part}) for part in range(parts)]
                for hours, slices in fill_batches(batch, tasks, chunk_hours, tasks_per_fill):
                    statements += [("task_fill", {"since": hours[0], "until": hours[-1] + HOUR, "lo": lo, "hi": hi})
                                   for lo, hi in trace_slices(slices)]
                for name, bounds in statements:
                    if stopping():
                        return done
                    on_statement(name)
                    store.execute(name, {"tenant": tenant, "version": version, **bounds})
                store.execute("rollup_stamp", {"tenant": tenant, "hours": batch, "version": version})
                done += len(batch)
                if budget_s is not None and time.monotonic() - started > budget_s:
                    return done
    return done


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _runs(hours: list[datetime], limit: int) -> list[list[datetime]]:
    """Consecutive hours grouped into runs of at most `limit`."""
    runs: list[list[datetime]] = []
    for h in sorted(hours):
        if runs and runs[-1][-1] + HOUR == h and len(runs[-1]) < limit:
            runs[-1].append(h)
        else:
            runs.append([h])
    return runs


class RollupRefresher(Loop):
    """Keeps the rollup current: every `interval` seconds, recomputes the changed hours that are due
    (see `due`: quiet for `quiet`, or last recomputed `max_wait` ago), in a thread."""

    def __init__(self, store: Store, interval: float = 5.0, quiet: timedelta = QUIET,
                 max_wait: timedelta = MAX_WAIT) -> None:
        super().__init__("tierscope-rollup")
        self.store = store
        self.interval = interval
        self.quiet = quiet
        self.max_wait = max_wait
        self.hours_refreshed = 0
        self.statements = 0  # fill statements begun since start (an hour is counted once all of its are in)
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
                    log.info("rollup: recomputed %d hours", n)
            except Exception as exc:  # a store outage: reads fall back to v_spans, retry next tick
                error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                if error != self.last_error:  # once per outage, not every tick
                    log.warning("rollup refresh failed (retrying every %gs): %s", self.interval, error)
                self.last_error = error
            self._stop.wait(self.interval)
