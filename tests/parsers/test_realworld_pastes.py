"""Real pastes from public issues (tests/fixtures/SOURCES.md, "More pastes from public issues") read the
way a user needs them: GPUs by name and bus id, driver and CUDA versions, memory, and what an error
message means. Each class was read wrong or refused before: rows pasted without the table header, a
single ERR! reading taken for a lost GPU, lost-GPU messages that name an index before the bus id, the
"detect" wording of the same message, "No devices were found" after lost GPUs, a MIG table alone."""

from __future__ import annotations

from gputk.models.gpu import ParseResult
from gputk.parsers.sniff import parse_any
from gputk.parsers.tool_errors import find_problems
from tests.conftest import FIXTURES


def read(kind: str, name: str) -> ParseResult:
    return parse_any((FIXTURES / kind / name).read_text(encoding="utf-8"), name)


def rows(r: ParseResult) -> list[tuple[object, ...]]:
    return [(g.index, g.name, g.pci_bus_id, g.memory_total_mib, g.lost) for g in r.gpus]


# -- nvidia-smi tables ----------------------------------------------------------------------------------


def test_rows_pasted_without_header_are_read_and_one_err_reading_is_not_a_lost_gpu() -> None:
    r = read("nvidia-smi-table", "ada-fan-err-rows-only.txt")
    assert r.format == "nvidia-smi-table"
    assert rows(r) == [
        (13, "NVIDIA RTX 4000 Ada Gene", "0000:c9:00.0", 20475, False),
        (14, "NVIDIA RTX 4000 Ada Gene", "0000:cc:00.0", 20475, False),
    ]
    gpu14 = r.gpus[1]
    assert (gpu14.temperature_c, gpu14.utilization_gpu_pct, gpu14.power_draw_w) == (68, 93, 99.0)
    assert "gpu-lost" not in r.problems
    assert any("GPU 14 (0000:cc:00.0) printed ERR!" in w for w in r.warnings)
    assert any("header line is missing" in w for w in r.warnings)


def test_azure_row_with_err_power_keeps_its_32_bit_domain_and_stays_healthy() -> None:
    r = read("nvidia-smi-table", "v100-azure-power-err-row-only.txt")
    assert rows(r) == [(1, "Tesla V100-PCIE", "8ed0:00:00.0", 16160, False)]
    g = r.gpus[0]
    assert (g.temperature_c, g.power_draw_w, g.power_limit_w) == (29, None, 250.0)
    assert r.problems == ()


def test_a_gpu_with_err_in_every_reading_is_lost() -> None:
    """The lost-GPU row shape, built from the real Azure row above with its readings turned to ERR!."""
    text = (FIXTURES / "nvidia-smi-table" / "v100-azure-power-err-row-only.txt").read_text(encoding="utf-8")
    text = text.replace("| N/A   29C    P0   ERR! / 250W |", "|ERR!  ERR!  ERR!   ERR! / ERR! |")
    r = parse_any(text)
    assert [(g.pci_bus_id, g.lost) for g in r.gpus] == [("8ed0:00:00.0", True)]
    assert r.problems == ("gpu-lost",)


def test_mig_devices_table_alone_lists_its_gpus_and_instances() -> None:
    r = read("nvidia-smi-table", "mig-devices-table-only.txt")
    assert [(g.index, g.mig_mode, g.name) for g in r.gpus] == [(1, True, None), (2, True, None)]
    assert [(m.gpu_instance_id, m.compute_instance_id, m.memory_total_mib) for m in r.gpus[0].mig_devices] == [
        (3, 0, 19968),
        (5, 0, 19968),
        (6, 0, 19968),
    ]
    assert [m.gpu_instance_id for m in r.gpus[1].mig_devices] == [3]


def test_wsl_table_with_cuda_err_and_a_windows_driver_version() -> None:
    """On WSL nvidia-smi (545.46) and the Windows driver (546.80) differ; the driver is the Windows one."""
    r = read("nvidia-smi-table", "wsl-545-smi-546-driver-cuda-err.txt")
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("546.80", None)
    assert rows(r) == [(0, "NVIDIA GeForce RTX 3060", "0000:01:00.0", 6144, False)]


def test_proxmox_table_with_cuda_na_and_root_prompt() -> None:
    r = read("nvidia-smi-table", "pve-550-cuda-na-root-prompt.txt")
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("550.54.10", None)
    assert rows(r) == [(0, "NVIDIA GeForce GTX 1660", "0000:03:00.0", 6144, False)]
    assert (r.gpus[0].memory_used_mib, r.gpus[0].persistence_mode) == (2079, True)


def test_indented_windows_table_cut_mid_row_keeps_both_gpus() -> None:
    r = read("nvidia-smi-table", "win-517-indented-two-gpus-cut.txt")
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("517.48", "11.7")
    assert [(g.pci_bus_id, g.memory_total_mib, g.display_mode) for g in r.gpus] == [
        ("0000:0a:00.0", 11264, "WDDM"),
        ("0000:43:00.0", 11264, "WDDM"),
    ]


def test_windows_table_under_an_unusual_prompt() -> None:
    r = read("nvidia-smi-table", "win-526-odd-prompt-cut.txt")
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("526.47", "12.0")
    assert [(g.pci_bus_id, g.memory_used_mib, g.memory_total_mib) for g in r.gpus] == [("0000:0b:00.0", 1619, 12288)]


def test_inline_backtick_exe_table_with_windows_processes() -> None:
    r = read("nvidia-smi-table", "wsl-460-inline-backtick-exe.txt")
    assert r.driver is not None and r.driver.version == "460.15"
    (g,) = r.gpus
    assert (g.name, g.pci_bus_id, g.memory_total_mib) == ("GeForce RTX 207", "0000:01:00.0", 8192)
    assert [(p.pid, p.type) for p in g.processes] == [(1752, "C+G"), (2424, "C+G")]


def test_container_banner_then_table_cut_at_its_header() -> None:
    r = read("nvidia-smi-table", "container-banner-cut-at-header.txt")
    assert r.format == "nvidia-smi-table" and r.gpus == ()
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("525.85.12", "12.0")


# -- messages -------------------------------------------------------------------------------------------


def test_indexed_lost_gpu_messages_name_both_gpus_and_no_devices_is_not_no_gpu() -> None:
    r = read("errors", "wsl-tcc-handles-indexed-no-devices.txt")
    assert [(g.index, g.pci_bus_id, g.lost) for g in r.gpus] == [(0, "0000:c1:00.0", True), (1, "0000:e1:00.0", True)]
    assert r.problems == ("gpu-lost",)  # "No devices were found" follows from the lost handles


def test_no_devices_alone_still_means_zero_gpus() -> None:
    assert find_problems("No devices were found\n") == ("no-devices",)


def test_lost_gpu_message_variants() -> None:
    spaced = read("errors", "lost-handle-space-root-prompt.txt")
    assert [(g.pci_bus_id, g.lost) for g in spaced.gpus] == [("0000:0b:00.0", True)]
    detect = read("errors", "lost-handle-detect-wording-backticks.txt")
    assert detect.problems == ("gpu-lost",)
    assert [(g.pci_bus_id, g.vendor) for g in detect.gpus] == [("0000:b1:00.0", "nvidia")]
    masked = read("errors", "lost-handle-masked-bus.txt")  # "GPU 000:BA:80.0": no bus id is invented
    assert masked.problems == ("gpu-lost",) and masked.gpus == ()


def test_driver_not_loaded_with_the_shutdown_line_of_wsl() -> None:
    r = read("errors", "wsl-driver-not-loaded-shutdown-line.txt")
    assert r.problems == ("driver-not-loaded",) and r.gpus == ()


# -- CSV ------------------------------------------------------------------------------------------------


def test_windows_csv_with_an_unknown_error_cell() -> None:
    r = read("nvidia-smi-csv", "win-442-unknown-error-cell.txt")
    (g,) = r.gpus
    assert (g.name, g.utilization_gpu_pct, g.temperature_c) == ("GeForce RTX 2080 Ti", 100, 56)
    assert (g.power_draw_w, g.power_limit_w) == (228.82, 210.0)


# -- nvidia-smi -q --------------------------------------------------------------------------------------


def test_q_pci_section_pasted_alone_is_one_gpu_named_from_the_table() -> None:
    r = read("nvidia-smi-q", "titanv-pci-section-fragment.txt")
    assert r.format == "nvidia-smi-q"
    (g,) = r.gpus
    assert (g.pci_bus_id, g.uuid, g.pci_device_id) == (
        "0000:82:00.0",
        "GPU-e2336a65-b527-8ba6-c005-209ebc071c78",
        "1d81",
    )
    assert any("without its header" in w for w in r.warnings)
    from gputk.probes.merge import merge_records

    (merged,) = merge_records(r.gpus)
    assert (merged.record.name, merged.record.compute_capability) == ("TITAN V", "7.0")


def test_q_logs_of_r410_and_wsl_r510() -> None:
    old = read("nvidia-smi-q", "gtx960m-410-a-fence-cut.txt")
    assert old.driver is not None and (old.driver.version, old.driver.cuda_driver_version) == ("410.72", "10.0")
    assert [(g.name, g.pci_bus_id, g.uuid) for g in old.gpus] == [
        ("GeForce GTX 960M", "0000:01:00.0", "GPU-101b1cf0-fdf7-b374-a62c-76b25134fcf2")
    ]
    wsl = read("nvidia-smi-q", "wsl-510-gtx1650ti-maxq-a-cut.txt")
    assert wsl.driver is not None and (wsl.driver.version, wsl.driver.cuda_driver_version) == ("510.06", "11.6")
    (g,) = wsl.gpus
    assert (g.name, g.display_mode, g.pci_bus_id) == (
        "NVIDIA GeForce GTX 1650 Ti with Max-Q Design",
        "WDDM",
        "0000:01:00.0",
    )


# -- lspci ----------------------------------------------------------------------------------------------


def test_lspci_unnamed_device_with_unknown_header_is_not_called_device() -> None:
    r = read("lspci", "gt650m-vvnn-unknown-header-rev-ff.txt")
    (g,) = r.gpus
    assert (g.vendor, g.name, g.pci_device_id, g.kernel_driver) == ("nvidia", None, "0fd1", "nvidia")
    assert any("rev ff" in w for w in r.warnings)


def test_lspci_rev_glued_to_ids_and_two_commands() -> None:
    r = read("lspci", "gtx560ti-vnn-rev-glued-two-commands.txt")
    assert [(g.name, g.pci_bus_id, g.pci_device_id) for g in r.gpus] == [("GeForce GTX 560 Ti", "0000:01:00.0", "1200")]


def test_wsl_lspci_names_the_paravirtual_device_not_a_gpu_on_the_bus() -> None:
    for name, bus in (("wsl-basic-render-driver.txt", "fe50:00:00.0"), ("wsl-device-008e-grep.txt", "8756:00:00.0")):
        r = read("lspci", name)
        assert [(g.pci_bus_id, g.vendor) for g in r.gpus] == [(bus, "other")]
        assert any(f"{bus} is WSL2's GPU paravirtualisation device" in w for w in r.warnings), r.warnings


def test_vgpu_type_list_then_a_table_whose_timestamp_follows_a_prompt() -> None:
    r = read("nvidia-smi-table", "pve-vgpu-list-then-table-prompt-timestamp.txt")
    assert r.format == "nvidia-smi-table"
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("460.32.04", None)
    assert [(g.name, g.pci_bus_id, g.memory_total_mib, g.utilization_gpu_pct) for g in r.gpus] == [
        ("Quadro P400", "0000:01:00.0", 2047, 100)
    ]


def test_nvml_unknown_error_in_a_container_is_not_called_a_missing_driver() -> None:
    for name in ("container-nvml-unknown-after-daemon-reload.txt", "container-root-prompt-nvml-unknown.txt"):
        r = read("errors", name)
        assert (r.format, r.problems, r.gpus) == ("tool-error", ("nvml-unknown-error",), ()), name
    assert find_problems("Failed to initialize NVML: Driver Not Loaded") == ("driver-not-loaded",)


def test_r610_q_header_with_deprecated_names_gives_clean_versions() -> None:
    r = read("nvidia-smi-q", "r610-deprecated-version-header.txt")
    assert r.driver is not None and (r.driver.version, r.driver.cuda_driver_version) == ("610.47", "13.3")
    assert r.gpus == () and any("1 GPUs attached, 0 listed" in w for w in r.warnings)


# -- lshw, inxi -----------------------------------------------------------------------------------------


def test_lshw_unclaimed_gpu_cut_inside_its_name_says_no_driver_is_bound() -> None:
    r = read("lshw", "unclaimed-gtx1050ti-mobile-cut.txt")
    assert [(g.vendor, g.name, g.kernel_driver) for g in r.gpus] == [("nvidia", "GeForce GTX 1050 Ti Mobile", None)]
    assert r.warnings == (
        "lshw: GeForce GTX 1050 Ti Mobile is UNCLAIMED: no kernel driver is bound to it (the NVIDIA driver is not "
        "loaded, or does not support it)",
    )


def test_lshw_json_claimed_false_is_unclaimed() -> None:
    text = (
        '[{"id": "display", "class": "display", "claimed": false, "product": "GA100 [A100 PCIe 40GB]", '
        '"vendor": "NVIDIA Corporation", "businfo": "pci@0000:17:00.0", "configuration": {"latency": "0"}}]'
    )
    r = parse_any(text)
    assert [(g.name, g.pci_bus_id) for g in r.gpus] == [("A100 PCIe 40GB", "0000:17:00.0")]
    assert len(r.warnings) == 1 and "(0000:17:00.0) is UNCLAIMED" in r.warnings[0]


def test_inxi_vertical_y1_layout() -> None:
    r = read("inxi", "pinxi-gay1-vertical-radeon.txt")
    assert [(g.vendor, g.name, g.pci_bus_id, g.pci_device_id, g.kernel_driver) for g in r.gpus] == [
        ("amd", "Radeon HD 5000/6000/7350/8350 Series", "0000:0a:00.0", "68f9", "radeon")
    ]


def test_gpu_is_lost_message_inside_markdown_bold_and_quotes() -> None:
    r = read("errors", "gpu-is-lost-reboot-bold-quotes.txt")
    assert r.problems == ("gpu-lost",)
    assert [(g.pci_bus_id, g.lost) for g in r.gpus] == [("0000:02:00.0", True)]


def test_a_listing_with_a_lost_gpu_line_beside_it_keeps_both_gpus() -> None:
    """nvidia-smi -L leaves a lost GPU out and prints the handle error instead: the listed GPU and the
    lost one are two GPUs (built from the real -L paste and a real error line)."""
    listing = (FIXTURES / "nvidia-smi-L" / "a100-80gb-mig-1g10gb-x7-prompt.txt").read_text(encoding="utf-8")
    lost = (FIXTURES / "errors" / "lost-handle-space-root-prompt.txt").read_text(encoding="utf-8")
    r = parse_any(listing + "\n" + lost.replace("```", ""))
    assert r.format == "nvidia-smi-L" and r.problems == ("gpu-lost",)
    assert [(g.index, g.pci_bus_id, g.lost) for g in r.gpus] == [(0, None, False), (None, "0000:0b:00.0", True)]
    from gputk.probes.merge import merge_records

    merged = merge_records(r.gpus)
    assert sorted((m.record.name or "", m.record.lost) for m in merged) == [
        ("", True),
        ("NVIDIA A100-SXM4-80GB", False),
    ]


def test_inxi2_card_under_a_box_drawing_prompt() -> None:
    r = read("inxi", "inxi2-card-oland-box-prompt.txt")
    assert [(g.vendor, g.name, g.pci_bus_id) for g in r.gpus] == [
        ("amd", "Radeon HD 8570 / R7 240/340 OEM", "0000:01:00.0")
    ]


def test_container_cuda_requirement_errors() -> None:
    r = read("errors", "container-requires-cuda-11-docker.txt")
    assert (r.format, r.problems, r.extra) == (
        "tool-error",
        ("container-cuda-too-new",),
        {"container_requires_cuda": "11.0"},
    )
    both = read("nvidia-smi-table", "container-requires-cuda-12.8-then-host-table-cut.txt")
    assert both.format == "nvidia-smi-table" and both.problems == ("container-cuda-too-new",)
    assert both.driver is not None and both.driver.version == "551.78"
    assert "the container image requires CUDA 12.8; the driver in this output supports CUDA 12.4" in both.warnings
