"""``nvcc --version`` output.

Sample::

    nvcc: NVIDIA (R) Cuda compiler driver
    Copyright (c) 2005-2025 NVIDIA Corporation
    Built on Wed_Jul_16_07:30:01_PM_PDT_2025
    Cuda compilation tools, release 13.0, V13.0.48
    Build cuda_13.0.r13.0/compiler.36260728_0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RELEASE = re.compile(r"Cuda compilation tools,\s*release\s+(\d+\.\d+)\s*,\s*V(\d+(?:\.\d+)+)")
_BUILD = re.compile(r"^Build\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class NvccVersion:
    release: str  # "13.0"
    full: str  # "13.0.48"
    build: str | None


def parse_nvcc_version(text: str) -> NvccVersion | None:
    """The toolkit release nvcc reports, or None when the text is not nvcc's."""
    m = _RELEASE.search(text)
    if not m:
        return None
    b = _BUILD.search(text)
    return NvccVersion(release=m.group(1), full=m.group(2), build=b.group(1) if b else None)
