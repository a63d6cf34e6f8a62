"""nvidia-smi's text outputs (table, -L, CSV query) and /proc/driver/nvidia/version: exact facts."""

from __future__ import annotations

from gputk.parsers.nvidia_smi_csv import parse_nvidia_smi_csv
from gputk.parsers.nvidia_smi_list import parse_nvidia_smi_list
from gputk.parsers.nvidia_smi_table import parse_nvidia_smi_table
from gputk.parsers.proc_driver import parse_nvrm, parse_proc_driver_version
from tests.conftest import FIXTURES


def _read(kind: str, name: str) -> str:
    return (FIXTURES / kind / name).read_text()


def test_table_8x_h100_with_processes() -> None:
    r = parse_nvidia_smi_table(_read("nvidia-smi-table", "h100x8-535-processes.txt"))
    assert r.format == "nvidia-smi-table"
    assert r.driver is not None
    assert (r.driver.version, r.driver.cuda_driver_version) == ("535.129.03", "12.2")
    assert [g.pci_bus_id for g in r.gpus] == [
        "0000:1b:00.0",
        "0000:43:00.0",
        "0000:52:00.0",
        "0000:61:00.0",
        "0000:9d:00.0",
        "0000:c3:00.0",
        "0000:d1:00.0",
        "0000:df:00.0",
    ]
    g0 = r.gpus[0]
    assert (g0.index, g0.name, g0.persistence_mode, g0.temperature_c) == (
        0,
        "NVIDIA H100 80GB HBM3",
        True,
        36,
    )
    assert (g0.power_draw_w, g0.power_limit_w, g0.memory_used_mib, g0.memory_total_mib) == (
        259.0,
        700.0,
        18449,
        81559,
    )
    assert (g0.utilization_gpu_pct, g0.compute_mode, g0.mig_mode) == (25, "Default", False)
    assert [(p.pid, p.name, p.used_memory_mib, p.type) for p in g0.processes] == [
        (3375095, "/usr/bin/python", 18430, "C")
    ]
    assert r.gpus[7].processes[0].pid == 3375102
    assert r.warnings == () and r.problems == ()


def test_table_old_layout_with_mig_devices() -> None:
    r = parse_nvidia_smi_table(_read("nvidia-smi-table", "a100-pcie-x6-460-mig.txt"))
    assert r.driver is not None
    assert (r.driver.version, r.driver.cuda_driver_version) == ("460.91.03", "11.2")
    assert len(r.gpus) == 6
    g2 = r.gpus[2]
    assert (g2.name, g2.pci_bus_id, g2.mig_mode, g2.utilization_gpu_pct, g2.persistence_mode) == (
        "A100-PCIE-40GB",
        "0000:61:00.0",
        True,
        None,
        True,
    )
    assert [
        (m.index, m.gpu_instance_id, m.compute_instance_id, m.memory_total_mib) for m in g2.mig_devices
    ] == [
        (0, 1, 0, 20096),
        (1, 2, 0, 20096),
    ]
    assert [g.mig_mode for g in r.gpus] == [False, False, True, False, False, False]
    assert r.gpus[1].memory_used_mib == 6318


def test_table_mig_enabled_without_instances() -> None:
    r = parse_nvidia_smi_table(_read("nvidia-smi-table", "a100-sxm4-80gb-535-mig-enabled-empty.txt"))
    (g,) = r.gpus
    assert (g.name, g.pci_bus_id, g.mig_mode, g.mig_devices, g.processes) == (
        "NVIDIA A100-SXM4-80GB",
        "0000:00:05.0",
        True,
        (),
        (),
    )


def test_table_windows_wddm_old_process_layout() -> None:
    r = parse_nvidia_smi_table(_read("nvidia-smi-table", "win-rtx2060-442-wddm-processes.txt"))
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("442.50", "10.2")
    (g,) = r.gpus
    # nvidia-smi cut the name; the cut is kept without its dots
    assert (g.name, g.display_mode, g.persistence_mode, g.pci_bus_id) == (
        "GeForce RTX 206",
        "WDDM",
        None,
        "0000:09:00.0",
    )
    assert (g.temperature_c, g.power_draw_w, g.power_limit_w, g.memory_used_mib, g.memory_total_mib) == (
        38,
        17.0,
        215.0,
        616,
        8192,
    )
    assert len(g.processes) == 11
    assert (g.processes[0].pid, g.processes[0].name, g.processes[0].used_memory_mib) == (1532, None, None)
    assert g.processes[7].name == "C:\\Windows\\explorer.exe"


def test_table_windows_new_layout_and_na_power_cap() -> None:
    r = parse_nvidia_smi_table(_read("nvidia-smi-table", "win-rtx3050-531-new-layout.txt"))
    (g,) = r.gpus
    assert (g.name, g.display_mode, g.power_draw_w, g.power_limit_w, g.memory_total_mib) == (
        "NVIDIA GeForce RTX 3050 4",
        "WDDM",
        8.0,
        None,
        4096,
    )
    r = parse_nvidia_smi_table(_read("nvidia-smi-table", "win-quadro-t1000-471.txt"))
    (g,) = r.gpus
    assert (g.name, g.display_mode, g.temperature_c, g.memory_used_mib) == ("Quadro T1000", "WDDM", 52, 287)


def test_list_with_r460_mig_uuids() -> None:
    r = parse_nvidia_smi_list(_read("nvidia-smi-L", "a100-pcie-x6-460-mig.txt"))
    assert r.format == "nvidia-smi-L"
    assert [(g.index, g.name, g.uuid) for g in r.gpus][:2] == [
        (0, "A100-PCIE-40GB", "GPU-66ad7319-313a-6b24-503f-863dffa1e8cf"),
        (1, "A100-PCIE-40GB", "GPU-11107e51-6363-81fc-8a73-0fd446a734f5"),
    ]
    g4 = r.gpus[4]
    assert g4.mig_mode is True
    assert [(m.index, m.profile, m.gpu_instance_id, m.compute_instance_id) for m in g4.mig_devices] == [
        (0, "3g.20gb", 1, 0),
        (1, "3g.20gb", 2, 0),
    ]
    assert g4.mig_devices[0].uuid == "MIG-GPU-fb8bbc70-d551-45f9-43d4-9734f9cddb2c/1/0"
    assert r.gpus[0].mig_devices == () and r.gpus[0].mig_mode is None


def test_list_r470_mig_uuid_form() -> None:
    text = (
        "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-7f94c45d-05a3-7734-7353-7903e2de1dbe)\n"
        "  MIG 1g.5gb      Device  0: (UUID: MIG-0f6c4e38-fd8c-5b9d-a3b8-44d9c8e1ed3e)\n"
    )
    (g,) = parse_nvidia_smi_list(text).gpus
    assert [(m.profile, m.uuid, m.gpu_instance_id) for m in g.mig_devices] == [
        ("1g.5gb", "MIG-0f6c4e38-fd8c-5b9d-a3b8-44d9c8e1ed3e", None)
    ]


def test_csv_header_with_units_in_header_and_values() -> None:
    text = "name, pci.bus_id, driver_version, memory.total [MiB], compute_cap\nNVIDIA H100 80GB HBM3, 00000000:18:00.0, 550.54.15, 81559 MiB, 9.0\n"
    (g,) = parse_nvidia_smi_csv(text).gpus
    assert (g.name, g.pci_bus_id, g.driver_version, g.memory_total_mib, g.compute_capability) == (
        "NVIDIA H100 80GB HBM3",
        "0000:18:00.0",
        "550.54.15",
        81559,
        "9.0",
    )
    nounits = "index, memory.total [MiB], power.draw [W]\n0, 40960, 55.12\n1, 40960, [N/A]\n"
    r = parse_nvidia_smi_csv(nounits)
    assert [(g.index, g.memory_total_mib, g.power_draw_w) for g in r.gpus] == [
        (0, 40960, 55.12),
        (1, 40960, None),
    ]


def test_csv_without_header_given_fields_or_guessed() -> None:
    text = "NVIDIA GeForce RTX 3090, 24576, 535.104.05\n"
    (g,) = parse_nvidia_smi_csv(text, fields=["name", "memory.total", "driver_version"]).gpus
    assert (g.name, g.memory_total_mib, g.driver_version) == ("NVIDIA GeForce RTX 3090", 24576, "535.104.05")
    guessed = parse_nvidia_smi_csv("0, NVIDIA H100 80GB HBM3, 00000000:18:00.0, 81559 MiB, 12 %\n")
    (g,) = guessed.gpus
    assert (g.index, g.name, g.pci_bus_id, g.memory_total_mib) == (
        0,
        "NVIDIA H100 80GB HBM3",
        "0000:18:00.0",
        81559,
    )
    assert guessed.warnings == (
        "nvidia-smi CSV without header: columns 5 not identified (pass the --query-gpu field list)",
    )
    assert parse_nvidia_smi_csv("hello, world\n").format is None
    assert parse_nvidia_smi_csv("name\nTesla T4\n").gpus[0].name == "Tesla T4"


def test_proc_driver_version_flavours() -> None:
    cases = {
        "open-555-fedora.txt": ("555.58.02", "open", "x86_64", "14.2.1"),
        "open-570-ubuntu.txt": ("570.195.03", "open", "x86_64", "12.3.0"),
        "proprietary-535.txt": ("535.216.03", "proprietary", "x86_64", None),
        "proprietary-aarch64-550.txt": ("550.120", "proprietary", "aarch64", None),
        "open-aarch64-550-cut.txt": ("550.144.03", "open", "aarch64", None),
    }
    for name, expected in cases.items():
        nvrm = parse_nvrm(_read("proc-driver-version", name))
        assert nvrm is not None, name
        assert (nvrm.version, nvrm.kernel_module, nvrm.arch, nvrm.gcc_version) == expected, name
    info = parse_proc_driver_version(_read("proc-driver-version", "proprietary-535.txt"))
    assert info is not None and (info.version, info.kernel_module) == ("535.216.03", "proprietary")
    jetson = parse_nvrm(
        "NVRM version: NVIDIA UNIX Kernel Module for aarch64  34.1.1  Release Build  (buildbrain@mobile)\n"
    )
    assert jetson is not None and (jetson.version, jetson.arch) == ("34.1.1", "aarch64")
    assert parse_proc_driver_version("GCC version: 12\n") is None
