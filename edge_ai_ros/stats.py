"""The one latency summary every benchmark and report uses: count, mean, p50, p90, p99, max.

One set of key names everywhere (tables, JSON, diagnostics): a number called ``p99`` means
the same thing in every file this package writes. Percentiles are numpy's default (linear
interpolation between the closest ranks). Values keep the unit of the samples, times
``scale`` (e.g. ``scale=1e3`` turns seconds into milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

KEYS = ("count", "mean", "p50", "p90", "p99", "max")


@dataclass(frozen=True, kw_only=True)
class LatencySummary:
    """Summary of one set of samples; every value is NaN when there are none (count 0)."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    def to_dict(self) -> dict[str, float]:
        """The summary under the shared key names (count as a number like the rest)."""
        return {key: float(value) for key, value in asdict(self).items()}

    @property
    def empty(self) -> bool:
        return self.count == 0


EMPTY = LatencySummary(count=0, mean=math.nan, p50=math.nan, p90=math.nan, p99=math.nan, max=math.nan)


def summarize(samples: Iterable[float], *, scale: float = 1.0) -> LatencySummary:
    """count, mean, p50, p90, p99 and max of ``samples`` times ``scale``."""
    values = np.fromiter(samples, dtype=np.float64) * scale
    if values.size == 0:
        return EMPTY
    p50, p90, p99 = (float(v) for v in np.percentile(values, (50, 90, 99)))
    return LatencySummary(count=int(values.size), mean=float(values.mean()), p50=p50, p90=p90, p99=p99,
                          max=float(values.max()))
