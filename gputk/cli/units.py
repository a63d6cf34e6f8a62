"""Human units for measured figures, chosen per column: one number format everywhere.

A column of times is shown in the one unit (us, ms or s) that suits its median, a column of rates in
GB/s or TB/s, TFLOP/s or GFLOP/s; every number has three significant digits without exponents.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def num(x: float | None) -> str:
    """Three significant digits, no exponent, thousands separated: 0.123, 1.23, 12.3, 123, 1,234."""
    if x is None:
        return "-"
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    if ax >= 0.001:
        return f"{x:.3f}".rstrip("0").rstrip(".") if ax < 0.01 else f"{x:.3f}"
    return f"{x:.1e}"


def time_unit(ms_values: Sequence[float]) -> tuple[str, float]:
    """(unit, factor from ms) for a column of milliseconds."""
    vals = [v for v in ms_values if v and v > 0]
    med = statistics.median(vals) if vals else 1.0
    if med < 1.0:
        return "us", 1e3
    if med < 1000.0:
        return "ms", 1.0
    return "s", 1e-3


def rate_unit(unit: str, values: Sequence[float]) -> tuple[str, float]:
    """(unit, factor) for a column of GB/s or TFLOP/s figures."""
    vals = [v for v in values if v and v > 0]
    med = statistics.median(vals) if vals else 1.0
    if unit == "GB/s" and med >= 1000:
        return "TB/s", 1e-3
    if unit == "TFLOP/s" and med < 1.0:
        return "GFLOP/s", 1e3
    return unit, 1.0


def elements(n: int) -> str:
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= size and n % size == 0:
            return f"{n // size:,}{suffix}"
    return f"{n:,}"


def nbytes(n: float) -> str:
    for size, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= size:
            return f"{num(n / size)} {suffix}"
    return f"{n:.0f} B"
