"""A CUDA toolkit's own version files: ``version.json`` (CUDA >= 11.1) and ``version.txt`` (older).

Samples::

    {"cuda": {"name": "CUDA SDK", "version": "12.3.2"}, ...}      version.json
    CUDA Version 10.2.89                                           version.txt
"""

from __future__ import annotations

import json
import re

from gputk.compat.version import Version

_VERSION_TXT = re.compile(r"CUDA Version[ \t]+(\d+(?:\.\d+)+)")


def parse_version_json(text: str) -> str | None:
    """``{"cuda": {"name": "CUDA SDK", "version": "12.3.2"}, ...}`` -> ``"12.3.2"``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested brackets
        return None
    cuda = data.get("cuda") if isinstance(data, dict) else None
    version = cuda.get("version") if isinstance(cuda, dict) else None
    return version if isinstance(version, str) and Version.parse(version, strict=True) else None


def parse_version_txt(text: str) -> str | None:
    """``CUDA Version 10.2.89`` -> ``"10.2.89"``."""
    m = _VERSION_TXT.search(text)
    return m.group(1) if m else None
