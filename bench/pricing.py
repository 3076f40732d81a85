"""Time the bulk Pricer on one batch of 50,000 spans (four models):
the median and the best of 7 calls. Run it on two commits to compare, e.g.
`python bench/pricing.py`, then the same in a worktree of the older commit."""

import sys
import time

import numpy as np

from tierscope.collector.pricing.prices import Pricer

N = 50_000
pricer = Pricer()
model = ["gpt-4o", "claude-sonnet-4-5", "gpt-4o-mini", "gemini-2.5-pro"] * (N // 4)
provider = ["openai", "anthropic", "openai", "google"] * (N // 4)
# From 2026-11-18: `--spread S` seconds between spans (1: a backfill over 14 h, 3,336 minute groups;
# 0.001, the default: live traffic, 50 s, one or two minutes).
spread = float(sys.argv[sys.argv.index("--spread") + 1]) if "--spread" in sys.argv else 0.001
start = np.full(N, 1_795_000_000_000_000_000) + (np.arange(N) * spread * 1e9).astype(np.int64)
rng = np.random.default_rng(0)
inputs, outputs = rng.integers(100, 200_000, N), rng.integers(1, 2_000, N)
times = []
for _ in range(7):
    began = time.perf_counter()
    pricer.price(model, provider, start, inputs, outputs, inputs // 3, np.zeros(N, int), [""] * N, [""] * N)
    times.append(time.perf_counter() - began)
label = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "pricer"
print(f"{label}: {N:,} spans, median {sorted(times)[3] * 1000:.1f} ms, best {min(times) * 1000:.1f} ms")
