"""detect_from_files on real saved outputs (tests/fixtures, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputk.errors import InputError
from gputk.services.detect import detect_from_files
from tests.conftest import FIXTURES


def test_xml_and_lspci_of_the_same_machine_merge_by_bus_id(tmp_path: Path) -> None:
    xml = FIXTURES / "nvidia-smi-xml" / "tesla-p100-x2-v8.xml"
    lspci = tmp_path / "lspci.txt"
    lspci.write_text(
        "04:00.0 3D controller [0302]: NVIDIA Corporation GP100GL [Tesla P100 PCIe 12GB] [10de:15f7] (rev a1)\n"
        "\tKernel driver in use: nvidia\n"
        "82:00.0 3D controller [0302]: NVIDIA Corporation GP100GL [Tesla P100 PCIe 12GB] [10de:15f7] (rev a1)\n"
        "\tKernel driver in use: nvidia\n",
        encoding="utf-8",
    )
    res = detect_from_files([xml, lspci])

    assert [g.record.pci_bus_id for g in res.gpus] == ["0000:04:00.0", "0000:82:00.0"]
    first = res.gpus[0]
    assert first.record.name == "Tesla P100-PCIE-12GB"  # nvidia-smi's name ranks above lspci's
    assert first.record.kernel_driver == "nvidia"
    assert first.sources == ("nvidia-smi-xml", "lspci")
    assert (first.record.compute_capability, first.record.architecture, first.cc_source) == (
        "6.0",
        "Pascal",
        "table",
    )
    assert res.driver.version == "375.66"
    assert first.record.driver_version == "375.66"
    assert set(res.sources) == {"tesla-p100-x2-v8.xml", "lspci.txt"}
    assert res.sources["lspci.txt"].detail == "read as lspci: 2 GPUs"


def test_half_broken_file_gives_what_it_could_and_a_warning() -> None:
    res = detect_from_files([FIXTURES / "nvidia-smi-xml" / "geforce-9800gtx-270-truncated.xml"])

    [gpu] = res.gpus
    assert gpu.record.name == "GeForce 9800 GTX/9800 GTX+"
    assert res.warnings
    assert all(w.startswith("geforce-9800gtx-270-truncated.xml: ") for w in res.warnings)


def test_grep_filtered_lspci_of_an_azure_k80() -> None:
    res = detect_from_files([FIXTURES / "lspci" / "azure-k80-grep-nvidia.txt"])

    assert [g.record.pci_bus_id for g in res.gpus] == ["61f0:00:00.0", "b63b:00:00.0"]
    assert {(g.record.name, g.record.compute_capability, g.record.architecture) for g in res.gpus} == {
        ("Tesla K80", "3.7", "Kepler")
    }
    assert res.messages == ()  # plain lspci shows no driver; that alone is not a missing driver


def test_unrecognised_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    f = tmp_path / "shopping.txt"
    f.write_text("eggs\nmilk\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"shopping\.txt: not a GPU tool output"):
        detect_from_files([f])
