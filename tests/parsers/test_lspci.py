"""lspci in all its shapes: display controllers only, exact facts."""

from __future__ import annotations

from gputk.parsers.lspci import parse_lspci
from tests.conftest import FIXTURES

LSPCI = FIXTURES / "lspci"


def _facts(name: str):
    r = parse_lspci((LSPCI / name).read_text())
    return r, [
        (
            g.pci_bus_id,
            g.vendor,
            g.name,
            g.pci_vendor_id,
            g.pci_device_id,
            g.pci_class,
            g.kernel_driver,
            g.pci_subsystem_id,
        )
        for g in r.gpus
    ]


def test_nnk_laptop_intel_and_nvidia() -> None:
    r, facts = _facts("xps15-9570-nnk.txt")
    assert r.format == "lspci"
    assert facts == [
        ("0000:00:02.0", "intel", "UHD Graphics 630 (Mobile)", "8086", "3e9b", "0300", "i915", "1028:087c"),
        (
            "0000:01:00.0",
            "nvidia",
            "GeForce GTX 1050 Ti Mobile",
            "10de",
            "1c8c",
            "0302",
            "nvidia",
            "1028:087c",
        ),
    ]
    assert r.warnings == ()


def test_vnn_grep_piece_with_hyperv_vga_and_domain() -> None:
    _, facts = _facts("azure-k80-vnn-grep-vga.txt")
    assert facts == [
        ("0000:00:08.0", "other", "Hyper-V virtual VGA", "1414", "5353", "0300", "hyperv_fb", None),
        ("61f0:00:00.0", "nvidia", "Tesla K80", "10de", "102d", "0302", None, "10de:106c"),
    ]


def test_plain_grep_nvidia() -> None:
    _, facts = _facts("azure-k80-grep-nvidia.txt")
    assert facts == [
        ("61f0:00:00.0", "nvidia", "Tesla K80", None, None, "0302", None, None),
        ("b63b:00:00.0", "nvidia", "Tesla K80", None, None, "0302", None, None),
    ]


def test_mm() -> None:
    r, facts = _facts("azure-m60-mm.txt")
    assert r.format == "lspci-mm"
    assert facts == [
        ("0000:00:08.0", "other", "Hyper-V virtual VGA", None, None, "0300", None, None),
        ("0001:00:00.0", "nvidia", "Tesla M60", None, None, "0300", None, None),
    ]


def test_vmmk_with_shell_prompt_and_nouveau() -> None:
    r, facts = _facts("gigabyte-p34w-gtx970m-vmmk.txt")
    assert r.format == "lspci-vmm"
    assert facts == [
        ("0000:00:02.0", "intel", "Broadwell-U Integrated Graphics", None, None, "0300", "i915", None),
        ("0000:01:00.0", "nvidia", "GeForce GTX 970M", None, None, "0302", "nouveau", None),
    ]


def test_vmm_powered_off_gpu_is_listed_with_warning() -> None:
    r, facts = _facts("xps15-9570-vmm-gpu-off.txt")
    assert [f[0] for f in facts] == ["0000:00:02.0", "0000:01:00.0"]
    assert r.warnings == (
        "lspci: 0000:01:00.0 reads rev ff: the device does not answer (powered off or off the bus)",
    )


def test_vmm_nn_k_D_as_gputk_report_captures() -> None:
    text = (
        "Slot:\t0000:17:00.0\nClass:\t3D controller [0302]\nVendor:\tNVIDIA Corporation [10de]\n"
        "Device:\tGA100 [A100 PCIe 40GB] [20f1]\nSVendor:\tNVIDIA Corporation [10de]\nSDevice:\tDevice [145f]\n"
        "Rev:\ta1\nDriver:\tvfio-pci\nModule:\tnvidiafb\nModule:\tnouveau\nIOMMUGroup:\t31\n"
    )
    r = parse_lspci(text)
    (g,) = r.gpus
    assert (
        g.pci_bus_id,
        g.name,
        g.pci_vendor_id,
        g.pci_device_id,
        g.pci_class,
        g.kernel_driver,
        g.pci_subsystem_id,
    ) == (
        "0000:17:00.0",
        "A100 PCIe 40GB",
        "10de",
        "20f1",
        "0302",
        "vfio-pci",
        "10de:145f",
    )


def test_numeric_n_and_non_display_devices_skipped() -> None:
    r = parse_lspci("00:1f.3 0403: 8086:a348 (rev 10)\n01:00.0 0300: 1002:73bf (rev c1)\n")
    (g,) = r.gpus
    assert (g.pci_bus_id, g.vendor, g.pci_vendor_id, g.pci_device_id, g.name) == (
        "0000:01:00.0",
        "amd",
        "1002",
        "73bf",
        None,
    )


def test_text_without_lspci_lines_is_unrecognised() -> None:
    assert parse_lspci("no pci here\n").format is None
    assert parse_lspci("").format is None
