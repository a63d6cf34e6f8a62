"""``/etc/os-release``: ``KEY=value`` lines (quotes stripped)."""

from __future__ import annotations


def parse_os_release(text: str) -> dict[str, str]:
    """``ID=ubuntu`` / ``VERSION_ID="22.04"`` lines -> dict (quotes stripped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"').strip("'")
    return out
