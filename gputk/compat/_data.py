"""Loading the data files under ``gputk/compat/data`` (read once, on first use)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=8)
def load(name: str) -> dict[str, Any]:
    """``load("cuda")`` -> the parsed ``data/cuda.json``."""
    text = (
        resources.files("gputk.compat").joinpath("data").joinpath(f"{name}.json").read_text(encoding="utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


DATA_FILES = ("cuda", "generations", "gpus", "frameworks")
