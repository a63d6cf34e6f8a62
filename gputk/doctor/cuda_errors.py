"""CUDA error codes in a framework's message -> what they mean and which layer causes them
(gputk/doctor/data/cuda_errors.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

_CODE = re.compile(r"(?:[Ee]rror|code=|CUDA error:?)\s*\(?(\d{1,4})\)?")


@dataclass(frozen=True)
class CudaError:
    code: int
    name: str
    text: str
    layer: str
    fix: str

    def describe(self) -> str:
        return f"CUDA error {self.code} ({self.name}, '{self.text}'), caused at the {self.layer} layer"


@lru_cache(maxsize=1)
def table() -> dict[str, dict[str, Any]]:
    text = (Path(__file__).resolve().parent / "data" / "cuda_errors.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def explain(message: str | None) -> CudaError | None:
    """The first known CUDA error in ``message``, by number ("Error 802", "code=802",
    "cuda runtime error (802)") or by its text ("system not yet initialized")."""
    if not message:
        return None
    t = table()
    candidates = [m.group(1) for m in _CODE.finditer(message)]
    code = next((c for c in candidates if c in t), None)
    if code is None:
        low = message.lower()
        code = next((c for c, e in t.items() if e["text"].lower() in low), None)
    if code is None:
        return None
    e = t[code]
    return CudaError(int(code), e["name"], e["text"], e["layer"], e["fix"])
