"""Merging what several sources say about the same GPUs into one record per GPU.

Records are grouped by PCI bus id (normalised to ``0000:01:00.0``); a record
without a bus id joins the group with the same UUID, else the NVIDIA group with
the same driver index, else starts its own. Within a group each field takes the
first known value in source priority order (NVML, then nvidia-smi XML, then
the other nvidia-smi forms, then sysfs/lspci, then lshw and the rest), except
the bound kernel driver, which the PCI layer knows best.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gputk.compat.gpus import arch_name, lookup, pci_name
from gputk.models.gpu import GpuRecord, normalize_bus_id
from gputk.parsers.pci_ids import product_name

_PRIORITY = (
    ("nvml", 0),
    ("nvidia-smi-xml", 1),
    ("nvidia-smi", 2),
    ("sysfs", 5),
    ("lspci", 6),
    ("lshw", 7),
)
_DRIVER_PRIORITY = ("sysfs", "lspci", "lshw")
_SKIP = {"source", "lost", "mig_devices", "processes", "kernel_driver", "vendor"}
_FIELDS = [f.name for f in dataclasses.fields(GpuRecord) if f.name not in _SKIP]


def source_rank(source: str) -> int:
    for prefix, rank in _PRIORITY:
        if source.startswith(prefix):
            return rank
    return 8


@dataclass(frozen=True)
class MergedGpu:
    """One GPU as all sources together describe it.

    ``record.source`` is ``"merged"``; ``sources`` names every source that saw
    this GPU, best first; ``cc_source`` says where the compute capability came
    from (a source name, ``"table"`` for the GPU table in gputk/compat/data/gpus.json, or None).
    """

    record: GpuRecord
    sources: tuple[str, ...]
    cc_source: str | None = None


def _key_of(rec: GpuRecord) -> str | None:
    return normalize_bus_id(rec.pci_bus_id) if rec.pci_bus_id else None


def _group(records: Iterable[GpuRecord]) -> list[list[GpuRecord]]:
    groups: list[list[GpuRecord]] = []
    by_bus: dict[str, list[GpuRecord]] = {}
    by_uuid: dict[str, list[GpuRecord]] = {}
    for rec in sorted(records, key=lambda r: source_rank(r.source)):
        bus = _key_of(rec)
        group = by_bus.get(bus) if bus else None
        if group is None and rec.uuid:
            group = by_uuid.get(rec.uuid)
            # Two different bus ids cannot be the same GPU.
            if group is not None and bus and any(_key_of(r) not in (None, bus) for r in group):
                group = None
        if group is None and bus is None and rec.index is not None:
            group = next(
                (g for g in groups if any(r.index == rec.index and r.vendor in (None, "nvidia") for r in g)),
                None,
            )
        if group is None:
            group = []
            groups.append(group)
        group.append(rec)
        if bus:
            by_bus.setdefault(bus, group)
        if rec.uuid:
            by_uuid.setdefault(rec.uuid, group)
    return _pair_orphan(groups)


def _pair_orphan(groups: list[list[GpuRecord]]) -> list[list[GpuRecord]]:
    """A driver record without bus id (NVML could not get a handle) and one NVIDIA PCI record
    the driver did not list are the same GPU: the lost one. Paired only when that is unambiguous."""
    orphans = [
        g for g in groups if all(_key_of(r) is None for r in g) and any(r.vendor == "nvidia" for r in g)
    ]
    unclaimed = [
        g
        for g in groups
        if any(_key_of(r) for r in g)
        and all(r.index is None for r in g)
        and any(r.vendor == "nvidia" for r in g)
    ]
    if len(orphans) == 1 and len(unclaimed) == 1:
        if any(r.lost for r in unclaimed[0]) and not any(r.lost for r in orphans[0]):
            # an error line names a lost GPU by bus id; the listing without bus ids shows the GPUs
            # that still answer (nvidia-smi -L leaves the lost one out): two GPUs, not one
            return groups
        unclaimed[0][:0] = orphans[0]
        groups.remove(orphans[0])
    return groups


def _merge_group(group: Sequence[GpuRecord]) -> MergedGpu:
    values: dict[str, object] = {}
    for name in _FIELDS:
        values[name] = next((getattr(r, name) for r in group if getattr(r, name) is not None), None)
    values["pci_bus_id"] = next((_key_of(r) for r in group if _key_of(r)), None)
    vendors = [r.vendor for r in group if r.vendor]
    values["vendor"] = next((v for v in vendors if v != "other"), vendors[0] if vendors else None)
    by_driver_rank = sorted(group, key=lambda r: (r.source not in _DRIVER_PRIORITY, source_rank(r.source)))
    values["kernel_driver"] = next((r.kernel_driver for r in by_driver_rank if r.kernel_driver), None)
    values["lost"] = any(r.lost for r in group)
    values["mig_devices"] = next((r.mig_devices for r in group if r.mig_devices), ())
    values["processes"] = next((r.processes for r in group if r.processes), ())
    cc_source = next((r.source for r in group if r.compute_capability), None)
    merged = GpuRecord(source="merged", **values)  # type: ignore[arg-type]
    if merged.vendor == "nvidia" and merged.compute_capability is None:
        cc, arch = lookup(merged.pci_device_id, merged.name)
        if cc:
            merged = dataclasses.replace(
                merged, compute_capability=cc, architecture=merged.architecture or arch
            )
            cc_source = "table"
    if merged.compute_capability and not merged.architecture:
        merged = dataclasses.replace(merged, architecture=arch_name(merged.compute_capability))
    table_name = pci_name(merged.pci_device_id) if merged.name is None and merged.vendor == "nvidia" else None
    if table_name:  # a source that gave only the device id (lspci "Device [10de:1d81]", part of an -q log)
        merged = dataclasses.replace(merged, name=product_name(table_name))
    sources = tuple(dict.fromkeys(r.source for r in group))
    return MergedGpu(merged, sources, cc_source)


def merge_records(records: Iterable[GpuRecord]) -> list[MergedGpu]:
    """One :class:`MergedGpu` per GPU, NVIDIA GPUs in driver index order first, then by bus id."""
    merged = [_merge_group(g) for g in _group(records)]

    def order(m: MergedGpu) -> tuple[int, int, str]:
        r = m.record
        return (0 if r.index is not None else 1, r.index if r.index is not None else 0, r.pci_bus_id or "~")

    return sorted(merged, key=order)
