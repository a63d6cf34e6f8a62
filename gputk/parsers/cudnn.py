"""cuDNN version facts: the header's ``#define`` lines and the ``CUDNN_VERSION`` integer.

Header lines read (cuDNN >= 8 in ``cudnn_version.h``, <= 7 in ``cudnn.h``)::

    #define CUDNN_MAJOR 9
    #define CUDNN_MINOR 1
    #define CUDNN_PATCHLEVEL 0
"""

from __future__ import annotations

import re

_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+CUDNN_(MAJOR|MINOR|PATCHLEVEL)[ \t]+(\d+)", re.M)


def parse_cudnn_header(text: str) -> str | None:
    """``"9.1.0"`` from the three ``#define`` lines; None if they are not there."""
    found = dict(_DEFINE.findall(text))
    if "MAJOR" not in found or "MINOR" not in found:
        return None
    return f"{found['MAJOR']}.{found['MINOR']}.{found.get('PATCHLEVEL', '0')}"


def decode_cudnn_version(number: int | None) -> str | None:
    """A ``CUDNN_VERSION`` integer as a dotted version, in both encodings.

    cuDNN <= 8: ``MAJOR*1000 + MINOR*100 + PATCH`` (8.9.7 -> 8907); cuDNN >= 9:
    ``MAJOR*10000 + MINOR*100 + PATCH`` (9.10.0 -> 91000). What
    ``torch.backends.cudnn.version()`` and cupy ``cudnn.getVersion()`` return.
    """
    if number is None or number <= 0:
        return None
    if number >= 90000:
        return f"{number // 10000}.{(number % 10000) // 100}.{number % 100}"
    return f"{number // 1000}.{(number % 1000) // 100}.{number % 100}"
