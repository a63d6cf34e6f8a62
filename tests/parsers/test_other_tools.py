"""lshw, inxi, hwinfo, tool error messages and the content sniffer: exact facts from real outputs."""

from __future__ import annotations

import pytest

from gputk.parsers.hwinfo import parse_hwinfo
from gputk.parsers.inxi import parse_inxi
from gputk.parsers.lshw import parse_lshw
from gputk.parsers.sniff import identify, parse_any
from gputk.parsers.tool_errors import parse_tool_errors
from tests.conftest import FIXTURES


def _read(kind: str, name: str) -> str:
    return (FIXTURES / kind / name).read_text()


def _facts(result):
    return [
        (g.pci_bus_id, g.vendor, g.name, g.pci_vendor_id, g.pci_device_id, g.pci_class, g.kernel_driver)
        for g in result.gpus
    ]


def test_lshw_json_list_and_single_object() -> None:
    r = parse_lshw(_read("lshw", "researchcloud-cirrus-rtx2080ti.json"))
    assert r.format == "lshw-json"
    assert _facts(r) == [
        ("0000:00:02.0", "other", "GD 5446", None, None, "0300", None),
        ("0000:00:06.0", "nvidia", "GeForce RTX 2080 Ti", None, None, "0300", "nvidia"),
    ]
    r = parse_lshw(_read("lshw", "whiskeylake-numeric-single-object.json"))
    assert _facts(r) == [
        ("0000:00:02.0", "intel", "UHD Graphics 620 (Whiskey Lake)", "8086", "3ea0", "0300", "i915")
    ]


def test_lshw_json_old_comma_separated_objects() -> None:
    text = _read("lshw", "researchcloud-cirrus-rtx2080ti.json").strip()
    old_style = text.removeprefix("[").removesuffix("]").strip()  # lshw B.02.18 printed no brackets
    assert [g.name for g in parse_lshw(old_style).gpus] == ["GD 5446", "GeForce RTX 2080 Ti"]


def test_lshw_text_variants() -> None:
    assert _facts(parse_lshw(_read("lshw", "gt710-sudo-prompt.txt"))) == [
        ("0000:06:00.0", "nvidia", "GeForce GT 710", None, None, "0300", "nvidia")
    ]
    assert _facts(parse_lshw(_read("lshw", "optimus-gt620m-nested.txt"))) == [
        (
            "0000:01:00.0",
            "nvidia",
            "GeForce 610M/710M / GT 620M/625M/630M/720M",
            None,
            None,
            "0302",
            "nvidia",
        ),
        ("0000:00:02.0", "intel", "3rd Gen Core processor Graphics Controller", None, None, "0300", "i915"),
    ]
    (g,) = parse_lshw(_read("lshw", "c51-2008-no-domain.txt")).gpus
    assert (g.pci_bus_id, g.memory_total_mib, g.kernel_driver) == ("0000:00:05.0", None, "nvidia")


def test_inxi_variants() -> None:
    (g,) = parse_inxi(_read("inxi", "gtx1080ti-nouveau-x.txt")).gpus
    assert (g.name, g.pci_bus_id, g.pci_vendor_id, g.pci_device_id, g.kernel_driver, g.driver_version) == (
        "GeForce GTX 1080 Ti",
        "0000:01:00.0",
        "10de",
        "1b06",
        "nouveau",
        None,
    )
    (g,) = parse_inxi(_read("inxi", "gtx1660-usb-camera.txt")).gpus  # the USB camera is not a GPU
    assert (g.name, g.kernel_driver, g.driver_version) == ("GeForce GTX 1660", "nvidia", "460.32.03")
    r = parse_inxi(_read("inxi", "gt710-amd-cezanne-mail-quote.txt"))
    assert [(g.vendor, g.name, g.kernel_driver, g.driver_version) for g in r.gpus] == [
        ("nvidia", "GeForce GT 710", "nvidia", "470.74"),
        ("amd", "Cezanne", None, None),
    ]
    (g,) = parse_inxi(_read("inxi", "quadro-fx880m-card-old.txt")).gpus
    assert (g.vendor, g.name) == ("nvidia", "Quadro FX 880M")


def test_hwinfo_amd_intel_nvidia() -> None:
    rows = {
        "radeon-hd7550m.txt": (
            "0000:01:00.0",
            "amd",
            "Radeon HD 7550M/7570M/7650M",
            "1002",
            "6841",
            "0300",
            "radeon",
        ),
        "intel-arc-56a0-display.txt": ("0000:2d:00.0", "intel", None, "8086", "56a0", "0300", "i915"),
        "geforce-7800gt-hal.txt": (
            "0000:04:00.0",
            "nvidia",
            "GeForce 7800 GT",
            "10de",
            "0092",
            "0300",
            "nvidia",
        ),
    }
    for name, expected in rows.items():
        assert _facts(parse_hwinfo(_read("hwinfo", name))) == [expected], name
    assert parse_hwinfo(_read("hwinfo", "radeon-hd7550m.txt")).gpus[0].pci_subsystem_id == "103c:179d"


@pytest.mark.parametrize(
    ("name", "problems", "nvml"),
    [
        ("mismatch-550.txt", ("driver-library-mismatch",), "550.144"),
        ("mismatch-570-open-p2p.txt", ("driver-library-mismatch",), "570.124"),
        ("mismatch-no-nvml-line.txt", ("driver-library-mismatch",), None),
        ("driver-not-loaded.txt", ("driver-not-loaded",), None),
        ("no-devices.txt", ("no-devices",), None),
        ("command-not-found.txt", ("command-not-found",), None),
    ],
)
def test_tool_errors(name: str, problems: tuple[str, ...], nvml: str | None) -> None:
    r = parse_tool_errors(_read("errors", name))
    assert r.format == "tool-error"
    assert r.problems == problems
    assert (r.driver.nvml_version if r.driver else None) == nvml
    assert identify(_read("errors", name)) == "tool-error"


def test_lost_gpu_message_names_the_bus_id() -> None:
    r = parse_tool_errors("Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error\n")
    assert r.problems == ("gpu-lost",)
    assert [(g.pci_bus_id, g.lost) for g in r.gpus] == [("0000:3b:00.0", True)]


EXPECTED_FORMATS = {
    "nvidia-smi-xml": "nvidia-smi-xml",
    "nvidia-smi-table": "nvidia-smi-table",
    "nvidia-smi-L": "nvidia-smi-L",
    "proc-driver-version": "proc-driver-version",
    "hwinfo": "hwinfo",
    "inxi": "inxi",
    "errors": "tool-error",
}


@pytest.mark.parametrize(
    "path", sorted(p for p in FIXTURES.glob("*/*") if p.parent.name != "snapshots"), ids=str
)
def test_every_fixture_is_recognised_by_content(path) -> None:
    kind = path.parent.name
    fmt = identify(path.read_text())
    if kind == "lspci":
        assert fmt in ("lspci", "lspci-mm", "lspci-vmm")
    elif kind == "lshw":
        assert fmt == ("lshw-json" if path.suffix == ".json" else "lshw")
    elif kind in EXPECTED_FORMATS:
        assert fmt == EXPECTED_FORMATS[kind]


def test_parse_any_nvcc_and_proc_version_and_unknown() -> None:
    nvcc = (
        "nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2023 NVIDIA Corporation\n"
        "Built on Tue_Aug_15_22:02:13_PDT_2023\nCuda compilation tools, release 12.2, V12.2.140\n"
        "Build cuda_12.2.r12.2/compiler.33191640_0\n"
    )
    r = parse_any(nvcc)
    assert (r.format, r.toolkit_version) == ("nvcc", "12.2")
    r = parse_any(_read("proc-driver-version", "open-570-ubuntu.txt"))
    assert r.driver is not None and (r.driver.version, r.driver.kernel_module) == ("570.195.03", "open")
    assert r.extra["arch"] == "x86_64"
    r = parse_any("just some notes\n", name="notes.txt")
    assert r.format is None
    assert r.warnings == ("notes.txt: not a GPU tool output gputk can read",)


def test_table_pasted_after_an_error_keeps_both() -> None:
    text = "Unable to determine the device handle for GPU 0000:61:00.0: Unknown Error\n" + _read(
        "nvidia-smi-table", "a100-pcie-x6-460-mig.txt"
    )
    r = parse_any(text)
    assert r.format == "nvidia-smi-table"
    assert r.problems == ("gpu-lost",)
    assert len(r.gpus) == 6
