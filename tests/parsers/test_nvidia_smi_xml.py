"""nvidia-smi -q -x: exact facts from recorded logs of every schema generation."""

from __future__ import annotations

from gputk.parsers.nvidia_smi_xml import parse_nvidia_smi_xml
from tests.conftest import FIXTURES

XML = FIXTURES / "nvidia-smi-xml"


def _parse(name: str):
    return parse_nvidia_smi_xml((XML / name).read_text())


def test_a100_mig_v12() -> None:
    r = _parse("a100-sxm4-80gb-mig-v12.xml")
    assert r.format == "nvidia-smi-xml"
    assert r.extra["schema"] == "v12"
    assert r.driver is not None
    assert (r.driver.version, r.driver.cuda_driver_version) == ("535.54.03", "12.2")
    (g,) = r.gpus
    assert g.name == "NVIDIA A100-SXM4-80GB"
    assert g.pci_bus_id == "0000:01:00.0"
    assert (g.pci_vendor_id, g.pci_device_id, g.pci_subsystem_id) == ("10de", "20b2", "10de:147f")
    assert g.vendor == "nvidia"
    assert g.uuid == "GPU-513536b6-7d19-9063-b049-1e69664bb298"
    assert g.serial == "1650522003820"
    assert (g.memory_total_mib, g.memory_used_mib) == (81920, 50)
    assert g.architecture == "Ampere"
    assert g.vbios_version == "92.00.36.00.02"
    assert g.utilization_gpu_pct is None  # N/A under MIG
    assert g.temperature_c == 27
    assert (g.power_draw_w, g.power_limit_w) == (67.03, 500.0)
    assert g.persistence_mode is False
    assert g.compute_mode == "Default"
    assert g.mig_mode is True
    assert g.virtualization_mode == "None"
    assert (g.pcie_gen_current, g.pcie_gen_max, g.pcie_width_current, g.pcie_width_max) == (4, 4, 16, 16)
    assert [
        (m.index, m.gpu_instance_id, m.compute_instance_id, m.memory_total_mib) for m in g.mig_devices
    ] == [
        (0, 3, 0, 19968),
        (1, 4, 0, 19968),
        (2, 5, 0, 19968),
        (3, 6, 0, 19968),
    ]
    assert g.processes == ()
    assert g.lost is False
    assert r.problems == ()
    # the recorded log was cut to one GPU of four; that is said, not warned
    assert r.extra["attached_gpus"] == "4"


def test_v10_trimmed_log_without_driver_version() -> None:
    r = _parse("gtx-1070-ti-v10-trimmed.xml")
    assert r.extra["schema"] == "v10"
    assert r.driver is None
    (g,) = r.gpus
    assert g.name == "GeForce GTX 1070 Ti"
    assert g.pci_bus_id == "0000:01:00.0"  # from <gpu id=...> when <pci_bus_id> is absent
    assert g.memory_total_mib == 4096
    assert g.power_draw_w is None
    assert (g.temperature_c, g.utilization_gpu_pct, g.pcie_gen_current, g.pcie_width_current) == (
        39,
        0,
        1,
        16,
    )


def test_not_xml_is_unrecognised() -> None:
    assert parse_nvidia_smi_xml("hello").format is None
    assert parse_nvidia_smi_xml("<html><body/></html>").format is None


def test_entities_are_refused_not_expanded() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE nvidia_smi_log [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><nvidia_smi_log><driver_version>&b;</driver_version>'
        "</nvidia_smi_log>"
    )
    r = parse_nvidia_smi_xml(bomb)
    assert r.format == "nvidia-smi-xml"
    assert r.gpus == ()
    assert "refused" in r.warnings[0]


def test_truncated_log_keeps_complete_gpus() -> None:
    text = (XML / "a100-sxm4-80gb-mig-v12.xml").read_text()
    cut = text.replace("</nvidia_smi_log>", "") + text[text.index("<gpu ") : text.index("<gpu ") + 500]
    r = parse_nvidia_smi_xml(cut)
    assert r.format == "nvidia-smi-xml"
    # the complete GPU, then the cut-off copy with the fields it still has
    assert [g.name for g in r.gpus] == ["NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB"]
    assert r.gpus[1].pci_bus_id == "0000:01:00.0"
    assert r.gpus[1].memory_total_mib is None
    assert r.driver is not None and r.driver.version == "535.54.03"
    assert any("damaged" in w for w in r.warnings)
    assert any("cut off" in w for w in r.warnings)


def test_stderr_before_xml_is_read_for_problems() -> None:
    text = (
        "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error\n"
        + (XML / "gtx-1070-ti-v10-trimmed.xml").read_text()
    )
    r = parse_nvidia_smi_xml(text)
    assert r.problems == ("gpu-lost",)
    assert len(r.gpus) == 1


def test_p100_pair_v8_without_cuda_version() -> None:
    r = _parse("tesla-p100-x2-v8.xml")
    assert r.extra["schema"] == "v8"
    assert r.driver is not None
    assert (r.driver.version, r.driver.cuda_driver_version) == ("375.66", None)
    facts = [
        (
            g.index,
            g.name,
            g.pci_bus_id,
            g.pci_device_id,
            g.memory_total_mib,
            g.memory_used_mib,
            g.utilization_gpu_pct,
            g.temperature_c,
            g.power_draw_w,
            g.power_limit_w,
            g.uuid,
        )
        for g in r.gpus
    ]
    assert facts == [
        (
            0,
            "Tesla P100-PCIE-12GB",
            "0000:04:00.0",
            "15f7",
            11567,
            11400,
            33,
            31,
            24.84,
            250.0,
            "GPU-28604e81-21ec-cc48-6759-bf2648b22e16",
        ),
        (
            1,
            "Tesla P100-PCIE-12GB_2",
            "0000:82:00.0",
            "15f7",
            12290,
            11800,
            10,
            34,
            25.54,
            250.0,
            "GPU-46915a82-3fd2-8e11-ae26-a80b607c04f3",
        ),
    ]
    assert all(g.architecture is None and g.mig_mode is None for g in r.gpus)


def test_v13_instant_power_and_deprecated_values() -> None:
    r = _parse("rtx-a5000-v13-trimmed.xml")
    assert r.extra["schema"] == "v13"
    assert r.driver is not None
    assert (r.driver.version, r.driver.cuda_driver_version) == ("590.44.01", "13.1")
    (g,) = r.gpus
    assert (g.name, g.pci_bus_id, g.pci_device_id, g.pci_subsystem_id) == (
        "NVIDIA RTX A5000",
        "0000:81:00.0",
        "2231",
        "10de:147e",
    )
    assert (g.power_draw_w, g.power_limit_w) == (6.52, 230.0)
    assert g.display_mode is None  # "Requested functionality has been deprecated"
    assert g.mig_mode is None and g.mig_devices == ()
    assert g.persistence_mode is True
    assert (g.memory_total_mib, g.memory_used_mib, g.temperature_c) == (24564, 22437, 13)
    assert (g.pcie_gen_current, g.pcie_gen_max) == (1, 4)


def test_driver_270_log_without_schema_version_cut_off() -> None:
    r = _parse("geforce-9800gtx-270-truncated.xml")
    assert r.extra["schema"] == "none"
    assert r.driver is not None and r.driver.version == "270.41.06"
    (g,) = r.gpus
    assert g.name == "GeForce 9800 GTX/9800 GTX+"
    assert g.pci_bus_id == "0000:01:00.0"  # from the old id form "0:1:0"
    assert g.uuid is None and g.serial is None
    assert len(r.warnings) == 2
