"""CUDA error codes in a framework's message -> what they mean and which layer causes them
(gputk/doctor/data/cuda_errors.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

# "Error 802", "code=802", "cuda runtime error (802)", numba's "CudaAPIError: [34]"
_CODE = re.compile(r"(?:[Ee]rror|code=|CUDA error:?)(?::[ \t]*\[|[ \t]*\(?)(\d{1,4})[)\]]?")
# the runtime's and the driver API's names: "cudaErrorNoDevice", "CUDA_ERROR_NOT_INITIALIZED"
_NAME = re.compile(r"\b(cudaError[A-Za-z]{2,48}|CUDA_ERROR_[A-Z_]{2,48})\b")


@dataclass(frozen=True)
class CudaError:
    code: int | None  # None: a framework's own message with no CUDA error behind it
    name: str
    text: str
    layer: str
    fix: str

    def describe(self) -> str:
        if self.code is None:
            return f"{self.name} failed ('{self.text}'), caused at the {self.layer} layer"
        return f"CUDA error {self.code} ({self.name}, '{self.text}'), caused at the {self.layer} layer"


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = (Path(__file__).resolve().parent / "data" / "cuda_errors.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def table() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in _data().items() if not k.startswith("_")}


def _messages() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in _data()["_messages"].items() if not k.startswith("_")}


def _entry(code: str) -> CudaError:
    e = table()[code]
    return CudaError(int(code), e["name"], e["text"], e["layer"], e["fix"])


def explain(message: str | None) -> CudaError | None:
    """The first known CUDA error in ``message``: a framework's own wording of one ("Found no NVIDIA
    driver on your system"), its name ("cudaErrorNoDevice", "CUDA_ERROR_NOT_INITIALIZED"), its number
    ("Error 802", "code=802", "cuda runtime error (802)") or its text ("system not yet initialized")."""
    if not message:
        return None
    for phrase, e in _messages().items():
        if phrase in message:
            return CudaError(e["code"], e["name"], e["text"], e["layer"], e["fix"])
    t = table()
    by_name = {e["name"]: c for c, e in t.items()} | {e["cu_name"]: c for c, e in t.items() if "cu_name" in e}
    code = next((by_name[n] for n in _NAME.findall(message) if n in by_name), None)
    if code is None:
        code = next((c for c in (m.group(1) for m in _CODE.finditer(message)) if c in t), None)
    if code is None:
        low = message.lower()
        code = next(
            (c for c, e in t.items() if any(w.lower() in low for w in (e["text"], *e.get("also", ())))), None
        )
    return None if code is None else _entry(code)
