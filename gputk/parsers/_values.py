"""Value helpers shared by the parsers: NVIDIA's "not available" spellings, numbers with units.

nvidia-smi writes a missing value in several ways depending on the tool and the
driver: ``N/A`` (XML, table), ``[N/A]`` and ``[Not Supported]`` (CSV query),
``Not Supported`` / ``[Insufficient Permissions]`` / ``Unknown Error`` (XML on
odd boards), ``Requested functionality has been deprecated`` (R580+ XML).
Each of them becomes ``None`` here, never an exception.
"""

from __future__ import annotations

import re

_NA = {
    "",
    "n/a",
    "[n/a]",
    "na",
    "not supported",
    "[not supported]",
    "notsupported",
    "[insufficient permissions]",
    "insufficient permissions",
    "unknown error",
    "[unknown error]",
    "[gpu is lost]",
    "gpu is lost",
    "[gpu requires reset]",
    "requested functionality has been deprecated",
    "-",
}

_LOST = {"unknown error", "[unknown error]", "[gpu is lost]", "gpu is lost", "[gpu requires reset]"}

_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([A-Za-z%/]*)")
_MIB_PER = {"": 1.0, "mib": 1.0, "mb": 1.0, "gib": 1024.0, "gb": 1024.0, "kib": 1 / 1024, "kb": 1 / 1024}


def clean(value: str | None) -> str | None:
    """Strip a value; the "not available" spellings become None."""
    if value is None:
        return None
    s = " ".join(value.split())
    if s.lower() in _NA:
        return None
    return s


def is_lost_marker(value: str | None) -> bool:
    """``Unknown Error`` / ``[GPU is lost]`` / ``[GPU requires reset]``: the GPU stopped answering."""
    return value is not None and value.strip().lower() in _LOST


def _number(value: str | None) -> tuple[float, str] | None:
    """``"81920 MiB"`` -> (81920.0, ``"MiB"``); None when there is no leading number."""
    s = clean(value)
    if s is None:
        return None
    m = _NUMBER.match(s)
    if not m:
        return None
    return float(m.group(1)), m.group(2)


def to_float(value: str | None) -> float | None:
    """``"67.03 W"`` -> 67.03; ``"27 C"`` -> 27.0; ``"N/A"`` -> None."""
    n = _number(value)
    return None if n is None else n[0]


def to_int(value: str | None) -> int | None:
    """``"16x"`` -> 16; ``"0 %"`` -> 0; ``"4"`` -> 4; a fraction is rounded."""
    f = to_float(value)
    return None if f is None else round(f)


def to_mib(value: str | None, default_unit: str = "mib") -> int | None:
    """``"81920 MiB"`` -> 81920; ``"80 GiB"`` -> 81920; a bare number is in ``default_unit``."""
    n = _number(value)
    if n is None:
        return None
    factor = _MIB_PER.get((n[1] or default_unit).lower())
    return None if factor is None else round(n[0] * factor)


def to_bool(value: str | None) -> bool | None:
    """``Enabled``/``Disabled``, ``On``/``Off``, ``Yes``/``No``, ``True``/``False``; else None."""
    s = clean(value)
    if s is None:
        return None
    s = s.lower()
    if s in ("enabled", "on", "yes", "true", "1"):
        return True
    if s in ("disabled", "off", "no", "false", "0"):
        return False
    return None


def split_pci_id(combined: str | None) -> tuple[str | None, str | None]:
    """nvidia-smi's ``0x20B210DE`` (device then vendor) -> (``"10de"``, ``"20b2"``)."""
    s = clean(combined)
    if s is None:
        return None, None
    s = s.lower().removeprefix("0x")
    if len(s) != 8 or not all(c in "0123456789abcdef" for c in s):
        return None, None
    return s[4:], s[:4]
