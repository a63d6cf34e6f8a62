"""Snapshots of 8-GPU machines for the fleet tests and the fleet benchmark.

Each machine is the doctor's healthy scenario machine (tests/doctor/scenarios.py) with
eight A100 GPUs whose ``nvidia-smi -q -x`` blocks are the real recorded A100 block
(tests/fixtures/nvidia-smi-xml/a100-sxm4-80gb-mig-v12.xml) at eight bus ids, and whose
NVML probe records each GPU's PCIe link. Variations change a few facts, as a real fleet's
odd machines do.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gputk.snapshot import SnapshotWriter, pack
from tests.doctor.scenarios import HEALTHY, Gpu, Machine, build, tf_ok, torch_ok

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia-smi-xml" / "a100-sxm4-80gb-mig-v12.xml"
A100 = "NVIDIA A100-SXM4-80GB"
BUSES = tuple(f"0000:{b:02x}:00.0" for b in (0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD))


def _gpu_block() -> str:
    text = FIXTURE.read_text(encoding="utf-8")
    start = text.index("<gpu id=")
    end = text.index("</gpu>", start) + len("</gpu>")
    return text[start:end]


_BLOCK = _gpu_block()


def eight_gpu_xml(driver: str, cuda: str, widths: tuple[int, ...]) -> str:
    blocks = []
    for i, bus in enumerate(BUSES):
        b = _BLOCK.replace("00000000:01:00.0", "0000" + bus).replace("GPU-513536b6", f"GPU-{i:08x}")
        b = re.sub(r"<current_link_width>\d+x<", f"<current_link_width>{widths[i]}x<", b)
        blocks.append(b)
    return (
        '<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n<nvidia_smi_log>\n'
        f"<driver_version>{driver}</driver_version>\n<cuda_version>{cuda}</cuda_version>\n"
        f"<attached_gpus>{len(BUSES)}</attached_gpus>\n" + "\n".join(blocks) + "\n</nvidia_smi_log>\n"
    )


def eight_gpu_machine(driver: str = "535.54.03", cuda: str = "12.2", **changes: Any) -> Machine:
    gpus = tuple(Gpu(name=A100, device_id="20b2", cc="8.0", bus=bus, uuid=f"GPU-{i:08x}") for i, bus in enumerate(BUSES))
    fw = {
        "torch": torch_ok(gpu_count=8, gpus=[A100] * 8, capabilities=["8.0"]),
        "tensorflow": tf_ok(gpu_count=8),
    }
    m = HEALTHY.but(gpus=gpus, module_loaded=driver, user_space=driver, cuda_driver=cuda, frameworks=fw, toolkits=("12.2.2",))
    return m.but(**changes)


def write_machine(
    dest: Path,
    machine: Machine,
    widths: tuple[int, ...] = (16,) * 8,
    as_tar: bool = True,
) -> Path:
    """Write ``machine`` as ``dest`` (``NAME.tar.gz`` when ``as_tar``, else a directory)."""
    work = Path(tempfile.mkdtemp(prefix="fleet-machine-", dir=dest.parent))
    try:
        w = SnapshotWriter(work / "snap")
        if machine.smi == "ok" and machine.smi_text is None:
            machine = machine.but(smi_text=eight_gpu_xml(machine.module_loaded or "", machine.cuda_driver, widths))
        build(w, machine)
        nvml = w.manifest["probes"].get("nvml")
        if isinstance(nvml, dict) and nvml.get("status") == "ok":
            for g, width in zip(nvml["gpus"], widths, strict=False):
                g.update(pcie_gen_current=4, pcie_gen_max=4, pcie_width_current=width, pcie_width_max=16)
        w.write_manifest()
        if as_tar:
            pack(work / "snap", dest)
        else:
            shutil.move(str(work / "snap"), str(dest))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest
