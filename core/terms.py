"""The words every part of tierscope shares, each defined once: the dimensions spend is grouped by,
the additive counts of a group, the default quality target, and the exact text of a dollar amount.

The tier names and their order live with the span conventions the agents write
(`tierscope.instrumentation.conventions.TIERS`, dearest first); `TIERS_CHEAPEST_FIRST` is the same
order reversed, as the routing policy ranks tiers.
"""

from __future__ import annotations

from decimal import Decimal

from tierscope.instrumentation.conventions import TIERS

DIMENSIONS = ("role", "tier", "model", "provider", "team", "feature", "service", "environment", "service_tier",
              "processing")
"""What spend can be grouped and split by (read API `by=`/`split=`, CLI `--by`)."""

TIERS_CHEAPEST_FIRST = tuple(reversed(TIERS))

TOKEN_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
"""Token counts a span carries; every one is summed when spans are grouped."""

PRICED_TOKENS = TOKEN_COUNTS[:4]
"""The token counts a price is computed from (the pricer reads these four)."""

GROUP_COUNTS = ("spans", *TOKEN_COUNTS, "unpriced_spans", "unpriced_tokens", "failed_spans", "quality_n")
"""The integer columns of a spend group, additive across groups."""

LEVER_COUNTS = ("escalated_spans", "failover_spans", "async_spans", "saving_unknown_spans")
LEVER_MONEY = ("escalated_cost_usd", "failover_cost_usd", "cache_saving_usd", "batch_saving_usd")
"""The routing levers' additive columns (docs/levers.md): calls retried by escalation and failover
and what they cost, latency-tolerant calls, and the prompt-cache and batch savings (USD)."""

DEFAULT_TENANT = "default"
"""The tenant of every span and read when auth is off (no tokens configured)."""

DEFAULT_QUALITY_TARGET = 0.95
"""Share of always-frontier quality a recommended policy must keep, unless told otherwise."""


def decimal_text(value: Decimal | None) -> str | None:
    """Exact decimal string, no exponent, no trailing zeros: Decimal('1.50') -> '1.5'; None stays None."""
    if value is None:
        return None
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


__all__ = ["DEFAULT_QUALITY_TARGET", "DEFAULT_TENANT", "DIMENSIONS", "GROUP_COUNTS", "LEVER_COUNTS", "LEVER_MONEY", "PRICED_TOKENS", "TIERS", "TIERS_CHEAPEST_FIRST",
           "TOKEN_COUNTS", "decimal_text"]
