"""The merge of GPU records lives in :mod:`gputk.probes.merge` so detect and doctor share it."""

from __future__ import annotations

from gputk.probes.merge import MergedGpu, merge_records, source_rank

__all__ = ["MergedGpu", "merge_records", "source_rank"]
