"""On a GPU host: `gputk detect --json` agrees with `nvidia-smi -q -x` (read here with ElementTree)."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from gputk.cli.app import run_cli

pytestmark = pytest.mark.gpu


def _smi() -> ET.Element:
    out = subprocess.run(["nvidia-smi", "-q", "-x"], capture_output=True, text=True, timeout=60, check=True)
    return ET.fromstring(out.stdout)


def _bus(raw: str) -> str:
    # nvidia-smi prints an 8-digit domain: 00000000:18:00.0 -> 0000:18:00.0
    domain, rest = raw.split(":", 1)
    return f"{int(domain, 16):04x}:{rest.lower()}"


def test_detect_agrees_with_nvidia_smi(capsys: pytest.CaptureFixture[str]) -> None:
    root = _smi()
    assert run_cli(["detect", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    nvidia = [g for g in data["gpus"] if g["vendor"] == "nvidia"]
    smi_gpus = root.findall("gpu")

    assert len(nvidia) == len(smi_gpus)
    assert data["sources"]["nvml"]["status"] == "ok"
    assert data["driver"]["version"] == root.findtext("driver_version")
    for ours, theirs in zip(
        sorted(nvidia, key=lambda g: g["pci_bus_id"]),
        sorted(smi_gpus, key=lambda g: _bus(g.get("id", ""))),
        strict=True,
    ):
        assert ours["pci_bus_id"] == _bus(theirs.get("id", ""))
        assert ours["name"] == theirs.findtext("product_name")
        assert ours["uuid"] == theirs.findtext("uuid")
        total = theirs.findtext("fb_memory_usage/total") or ""
        assert ours["memory_total_mib"] == int(total.split()[0])
        assert ours["driver_version"] == root.findtext("driver_version")
        assert ours["cuda_driver_version"] == root.findtext("cuda_version")
        assert ours["compute_capability"] is not None
        assert ours["architecture"] is not None
        assert "nvml" in ours["sources"] and "nvidia-smi-xml" in ours["sources"]
