"""Monthly budgets, pure: what a budget is, its run-rate forecast with an interval, and which
notices it owes.

A budget caps one scope's spend per calendar month in its time zone: everything (`total`) or one
team, role, feature or service. Budgets may overlap (a team's inside the total). Each budget owes:
- an *actual* notice for every `notify_at` percentage its month-to-date spend has reached, and
- one *forecast* notice when the run-rate forecast first reaches the budget while the actual spend
  has not (after that the actual notices say it).
Each notice is owed once per budget, month, kind and threshold; `collector.alerts.budget_runs`
makes sure it is sent once even across restarts and several collectors.

The forecast is the month-to-date spend scaled to the whole month (the run rate, as Month close's).
Its interval treats the month's complete local days as samples of a daily spend with mean m and
standard deviation s: the remaining R days (fractional) add R*m +/- z*s*sqrt(R + R^2/n) (the spread
of R future days plus the uncertainty of m from n days), centred on the run-rate forecast, never
below the spend so far; z = 1.645, a 90% interval. With fewer than two complete days there is no
interval. Unpriced calls are not in any of these sums: they are reported beside, never as $0.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tierscope.errors import BadParameter

KINDS = ("total", "team", "role", "feature", "service")
Z_90 = Decimal("1.645")
MICRO = Decimal("0.000001")
DAY = timedelta(days=1)
_MAX_VALUE = 200


@dataclass(frozen=True)
class Budget:
    """One scope's monthly cap in US dollars, with the percentages to notify at and where."""

    kind: str
    value: str
    monthly_usd: Decimal
    notify_at: tuple[int, ...] = (80, 100)
    webhooks: tuple[str, ...] = ()
    tz: str = "UTC"
    budget_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.budget_id:
            object.__setattr__(self, "budget_id", budget_id(self.kind, self.value))

    @classmethod
    def from_dict(cls, data: Any) -> Budget:
        """Validate API/CLI input; one BadParameter naming the field that is wrong."""
        if not isinstance(data, dict):
            raise BadParameter("a budget must be a JSON object")
        kind = str(data.get("kind") or "total")
        if kind not in KINDS:
            raise BadParameter(f"kind must be one of {', '.join(KINDS)}, got {kind[:40]!r}")
        value = "" if kind == "total" else str(data.get("value") or "")
        if kind != "total" and not value or len(value) > _MAX_VALUE:
            raise BadParameter(f"a {kind} budget needs the {kind}'s name (value, at most {_MAX_VALUE} characters)")
        try:
            monthly = Decimal(str(data.get("monthly_usd")))
        except InvalidOperation:
            raise BadParameter(f"monthly_usd must be a decimal number, got {str(data.get('monthly_usd'))[:40]!r}") from None
        if not monthly.is_finite() or monthly <= 0:
            raise BadParameter("monthly_usd must be more than 0")
        return cls(kind, value, monthly, _percentages(data.get("notify_at", (80, 100))),
                   _webhooks(data.get("webhooks", ())), _zone(str(data.get("tz") or "UTC")))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["monthly_usd"] = format(self.monthly_usd, "f")
        d["notify_at"], d["webhooks"] = list(self.notify_at), list(self.webhooks)
        return d

    def describe(self) -> str:
        return "all spend" if self.kind == "total" else f"{self.kind} {self.value}"


def budget_id(kind: str, value: str) -> str:
    """One budget per scope: setting it again replaces it."""
    return "total" if kind == "total" else f"{kind}:{value}"


def _percentages(raw: Any) -> tuple[int, ...]:
    items = raw.split(",") if isinstance(raw, str) else list(raw or ())
    try:
        values = sorted({int(str(x).strip()) for x in items if str(x).strip()})
    except ValueError:
        raise BadParameter(f"notify_at must be whole percentages such as 80,90,100, got {str(raw)[:60]!r}") from None
    if not values or any(not 1 <= v <= 1000 for v in values):
        raise BadParameter("notify_at needs one or more percentages between 1 and 1000")
    return tuple(values)


def _webhooks(raw: Any) -> tuple[str, ...]:
    urls = tuple(str(u) for u in ([raw] if isinstance(raw, str) else raw or ()) if str(u))
    bad = [u for u in urls if not re.match(r"^https?://", u)]
    if bad:
        raise BadParameter(f"webhooks must be http(s) URLs, got {bad[0][:80]!r}")
    return urls


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadParameter(f"tz must be an IANA time zone such as UTC or Europe/Paris, got {name[:60]!r}") from None
    return name


@dataclass(frozen=True)
class Forecast:
    point: Decimal
    low: Decimal | None
    high: Decimal | None


def complete_days(since: datetime, now: datetime, tz: str) -> list[datetime]:
    """Local midnights (as aware datetimes) starting the month's days that ended by `now`."""
    zone = ZoneInfo(tz)
    start = since.astimezone(zone)
    days, day = [], start
    while (nxt := (day.replace(tzinfo=None) + DAY).replace(tzinfo=zone)) <= now:
        days.append(day)
        day = nxt
    return days


def forecast(spent: Decimal, daily: list[Decimal], since: datetime, until: datetime, now: datetime) -> Forecast:
    """The run-rate forecast of the month [since, until) at `now` and its 90% interval from the
    spend of the `daily` complete days (module docstring). A closed month is its spend."""
    if now >= until:
        return Forecast(spent, spent, spent)
    if now <= since:
        return Forecast(spent, None, None)
    elapsed, length = (now - since) // timedelta(microseconds=1), (until - since) // timedelta(microseconds=1)
    point = (spent * length / elapsed).quantize(MICRO)
    n = len(daily)
    if n < 2:
        return Forecast(point, None, None)
    with localcontext() as ctx:
        ctx.prec = 40
        mean = sum(daily, Decimal(0)) / n
        sd = (sum(((d - mean) ** 2 for d in daily), Decimal(0)) / (n - 1)).sqrt()
        remaining = Decimal((until - now) // timedelta(microseconds=1)) / Decimal(DAY // timedelta(microseconds=1))
        half = Z_90 * sd * (remaining + remaining * remaining / n).sqrt()
    return Forecast(point, max(spent, point - half).quantize(MICRO), (point + half).quantize(MICRO))


@dataclass(frozen=True)
class Notice:
    """A notice a budget owes for a month: `kind` actual or forecast, at `threshold` percent."""

    kind: str
    threshold: int
    observed_usd: Decimal


def owed(budget: Budget, spent: Decimal, forecast_usd: Decimal) -> list[Notice]:
    """Every notice the budget's month has earned so far (the caller drops those already sent)."""
    out = [Notice("actual", t, spent) for t in budget.notify_at if spent * 100 >= budget.monthly_usd * t]
    if spent < budget.monthly_usd <= forecast_usd:
        out.append(Notice("forecast", 100, forecast_usd))
    return out


def notice_text(budget: Budget, month: str, notice: Notice, spent: Decimal) -> str:
    """The one line a webhook (or Slack) shows."""
    share = (spent * 100 / budget.monthly_usd).quantize(Decimal("0.1"))
    if notice.kind == "forecast":
        return (f"Budget {budget.describe()} {month}: forecast ${notice.observed_usd.quantize(Decimal('0.01'))} "
                f"reaches the ${budget.monthly_usd} budget (spent ${spent.quantize(Decimal('0.01'))}, {share}%)")
    return (f"Budget {budget.describe()} {month}: spend ${spent.quantize(Decimal('0.01'))} crossed "
            f"{notice.threshold}% of ${budget.monthly_usd} ({share}%)")
