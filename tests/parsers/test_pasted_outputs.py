"""Outputs as people paste them, read right (real pastes from public issues, see fixtures/SOURCES.md).

Each test names the class of paste it covers: nvidia-smi -q text, R610+ headers, old 3xx
tables, Jetson, Windows, prompts, code fences, quote marks, CRLF, tabs, trailing spaces,
cut-off tables, CSV whose columns come from the pasted command line, and the messages that
mean "no GPU" or "no driver".
"""

from __future__ import annotations

from gputk.parsers.nvidia_smi_q import parse_nvidia_smi_q
from gputk.parsers.nvidia_smi_xml import parse_nvidia_smi_xml
from gputk.parsers.paste import clean_paste
from gputk.parsers.sniff import parse_any
from tests.conftest import FIXTURES


def _any(kind: str, name: str):
    return parse_any((FIXTURES / kind / name).read_text(), name)


def _row(g):
    return (
        g.index,
        g.vendor,
        g.name,
        g.pci_bus_id,
        g.memory_total_mib,
        g.driver_version,
        g.cuda_driver_version,
    )


# -- nvidia-smi -q (plain text) ----------------------------------------------------------------


def test_q_text_a10_every_fact_by_its_path() -> None:
    r = _any("nvidia-smi-q", "a10-550-passthrough-trimmed.txt")
    assert r.format == "nvidia-smi-q"
    [g] = r.gpus
    assert _row(g) == (0, "nvidia", "NVIDIA A10", "0000:06:00.0", 23028, "550.127.05", "12.4")
    assert (g.pci_device_id, g.pci_subsystem_id, g.uuid, g.architecture) == (
        "2236",
        "10de:1482",
        "GPU-51ae0086-e1ac-4a20-f062-9caa44e4df6d",
        "Ampere",
    )
    assert (g.temperature_c, g.power_draw_w, g.power_limit_w, g.utilization_gpu_pct) == (33, 21.3, 150.0, 0)
    assert (g.memory_used_mib, g.virtualization_mode, g.pcie_gen_max, g.pcie_width_current) == (
        1,
        "Pass-Through",
        4,
        16,
    )
    assert g.mig_mode is None and g.processes == ()


def test_q_text_mig_device_memory_before_the_gpus_own_is_not_the_gpus() -> None:
    # The real A10 log with a MIG Device block (NVIDIA's -q layout) placed before the GPU's own
    # "FB Memory Usage", as MIG-enabled GPUs print it.
    text = (FIXTURES / "nvidia-smi-q" / "a10-550-passthrough-trimmed.txt").read_text()
    mig = (
        "    MIG Device\n"
        "        Index                             : 0\n"
        "        GPU Instance ID                   : 1\n"
        "        Compute Instance ID               : 0\n"
        "        FB Memory Usage\n"
        "            Total                         : 9856 MiB\n"
        "            Used                          : 13 MiB\n"
    )
    text = text.replace("    GPU UUID ", mig + "    GPU UUID ", 1).replace(
        "    MIG Mode\n        Current                           : N/A",
        "    MIG Mode\n        Current                           : Enabled",
    )
    [g] = parse_nvidia_smi_q(text).gpus
    assert g.memory_total_mib == 23028
    assert g.mig_mode is True
    assert [
        (m.index, m.gpu_instance_id, m.compute_instance_id, m.memory_total_mib) for m in g.mig_devices
    ] == [(0, 1, 0, 9856)]


def test_q_text_windows_wddm_in_a_fence_with_its_prompt() -> None:
    r = _any("nvidia-smi-q", "win-rtx4070-laptop-566-wddm-trimmed.txt")
    [g] = r.gpus
    assert _row(g) == (
        0,
        "nvidia",
        "NVIDIA GeForce RTX 4070 Laptop GPU",
        "0000:01:00.0",
        8188,
        "566.36",
        "12.7",
    )
    assert (g.display_mode, g.pci_device_id, g.compute_capability) == ("WDDM", "2860", None)


def test_q_text_cut_off_and_old_drivers() -> None:
    [g] = _any("nvidia-smi-q", "gtx1650-440-fence-cut.txt").gpus
    assert _row(g) == (0, "nvidia", "GeForce GTX 1650", "0000:01:00.0", None, "440.82", "10.2")
    [g] = _any("nvidia-smi-q", "gtx780-450-tilde-prompt-cut.txt").gpus
    assert (g.name, g.uuid, g.persistence_mode) == (
        "GeForce GTX 780",
        "GPU-a230e637-c9e1-1b61-3830-a437b874d88d",
        False,
    )
    # Azure (Hyper-V) prints a 32-bit PCI domain; the K80 log has no CUDA Version line (R396)
    r = _any("nvidia-smi-q", "k80-azure-396-root-prompt-cut.txt")
    [g] = r.gpus
    assert _row(g) == (0, "nvidia", "Tesla K80", "3e3f8e05:00:00.0", None, "396.37", None)
    assert g.serial == "0324616218410"


def test_q_text_of_one_section_inside_inline_backticks() -> None:
    r = _any("nvidia-smi-q", "r375-memory-inline-backtick.txt")
    [g] = r.gpus
    assert (g.pci_bus_id, g.memory_total_mib, g.memory_used_mib, g.utilization_gpu_pct, g.name) == (
        "0000:01:00.0",
        1995,
        1934,
        47,
        None,
    )
    assert r.driver is not None and r.driver.version == "375.66"


# -- the default table: headers old and new, Jetson, Windows -----------------------------------


def test_r610_headers_kmd_and_cuda_umd_version() -> None:
    r = _any("nvidia-smi-table", "r610-kmd-b200-x2-cut.txt")
    assert [_row(g) for g in r.gpus] == [
        (0, "nvidia", "NVIDIA B200", "0000:63:00.0", 183359, "610.43.02", "13.3"),
        (1, "nvidia", "NVIDIA B200", "0000:68:00.0", 183359, "610.43.02", "13.3"),
    ]
    assert [(g.power_draw_w, g.power_limit_w, g.mig_mode) for g in r.gpus] == [
        (139.0, 1000.0, False),
        (142.0, 1000.0, False),
    ]
    [g] = _any("nvidia-smi-table", "r610-kmd-rtx5070-fence.txt").gpus
    assert _row(g) == (0, "nvidia", "NVIDIA GeForce RTX 5070", "0000:02:00.0", 12227, "610.43.02", "13.3")


def test_jetson_orin_table_without_bus_or_memory() -> None:
    [g] = _any("nvidia-smi-table", "jetson-orin-540-nvgpu-prompt.txt").gpus
    assert _row(g) == (0, "nvidia", "Orin (nvgpu)", None, None, "540.4.0", "12.6")
    assert (g.temperature_c, g.power_draw_w, g.utilization_gpu_pct) == (None, None, None)


def test_old_3xx_tables_without_cuda_version() -> None:
    r = _any("nvidia-smi-table", "r331-gtx680-x3-prompt-cut.txt")
    assert [(_row(g), g.temperature_c) for g in r.gpus] == [
        ((0, "nvidia", "GeForce GTX 680", "0000:03:00.0", 4095, "331.62", None), 35),
        ((1, "nvidia", "GeForce GTX 680", "0000:04:00.0", 4095, "331.62", None), 35),
        ((2, "nvidia", "GeForce GTX 680", "0000:83:00.0", 4095, "331.62", None), 34),
    ]
    r = _any("nvidia-smi-table", "r375-gtx460-x2-root-prompt.txt")
    assert [(g.name, g.memory_used_mib, g.memory_total_mib) for g in r.gpus] == [
        ("GeForce GTX 460", 457, 993),
        ("GeForce GTX 460", 74, 993),
    ]


def test_windows_tables_tcc_with_a_list_number_and_wddm_after_a_hash_prompt() -> None:
    [g] = _any("nvidia-smi-table", "win-l40s-555-tcc-numbered.txt").gpus
    assert (_row(g), g.display_mode) == (
        (0, "nvidia", "NVIDIA L40S", "0000:61:00.0", 46068, "555.85", "12.5"),
        "TCC",
    )
    [g] = _any("nvidia-smi-table", "win-gtx1060-536-wddm-hash-prompt.txt").gpus
    assert (g.name, g.display_mode, g.temperature_c) == ("NVIDIA GeForce GTX 1060 3GB", "WDDM", 41)


# -- pastes: the same real output through every layer a paste adds -----------------------------

_H100 = (FIXTURES / "nvidia-smi-table" / "h100x8-535-processes.txt").read_text()


def _facts(text: str):
    r = parse_any(text)
    return r.format, [_row(g) for g in r.gpus], [len(g.processes) for g in r.gpus]


def test_crlf_tabs_trailing_spaces_quotes_and_fences_read_as_the_plain_output() -> None:
    plain = _facts(_H100)
    assert plain[0] == "nvidia-smi-table" and len(plain[1]) == 8
    crlf = _H100.replace("\n", "\r\n")
    trailing = "\n".join(line + "   \t" for line in _H100.split("\n"))
    quoted = "".join(f"> {line}\n" for line in _H100.split("\n"))
    mail = "".join(f">> {line}\n" for line in _H100.split("\n"))
    fenced = "Here is my output:\n```console\n$ nvidia-smi\n" + _H100 + "```\n"
    coloured = "\x1b[1;32muser@gpu01\x1b[0m:~$ nvidia-smi\n" + _H100
    for variant in (crlf, trailing, quoted, mail, fenced, coloured):
        assert _facts(variant) == plain


def test_a_table_cut_in_the_middle_keeps_the_complete_gpu_rows() -> None:
    cut = _H100[: _H100.index("|   4  ")]
    fmt, rows, _ = _facts(cut)
    assert fmt == "nvidia-smi-table" and [r[0] for r in rows] == [0, 1, 2, 3]


def test_prompt_and_command_lines_are_dropped_and_kept_as_commands() -> None:
    p = clean_paste("(base) PS C:\\Users\\me> nvidia-smi -L\nGPU 0: NVIDIA GeForce RTX 3080 (UUID: GPU-1)\n")
    assert p.commands == ("nvidia-smi -L",)
    assert p.text.startswith("GPU 0:")


def test_csv_without_header_reads_its_columns_from_the_pasted_command_line() -> None:
    paste = (
        "$ nvidia-smi --query-gpu=index,name,pci.bus_id,memory.total,driver_version "
        "--format=csv,noheader,nounits\n"
        "0, NVIDIA GeForce RTX 3090, 00000000:01:00.0, 24576, 535.104.05\n"
        "1, NVIDIA GeForce RTX 3090, 00000000:21:00.0, 24576, 535.104.05\n"
    )
    r = parse_any(paste)
    assert r.format == "nvidia-smi-csv" and r.warnings == ()
    assert [(g.index, g.name, g.pci_bus_id, g.memory_total_mib, g.driver_version) for g in r.gpus] == [
        (0, "NVIDIA GeForce RTX 3090", "0000:01:00.0", 24576, "535.104.05"),
        (1, "NVIDIA GeForce RTX 3090", "0000:21:00.0", 24576, "535.104.05"),
    ]


def test_a_query_command_answered_by_an_error_is_the_error_not_a_gpu() -> None:
    r = parse_any("$ nvidia-smi --query-gpu=name --format=csv,noheader\nNo devices were found\n")
    assert (r.format, r.gpus, r.problems) == ("tool-error", (), ("no-devices",))


def test_nvidia_smi_L_mig_list_after_a_root_prompt_and_in_a_four_backtick_fence() -> None:
    [g] = _any("nvidia-smi-L", "a100-80gb-mig-1g10gb-x7-prompt.txt").gpus
    assert (g.name, g.uuid, g.mig_mode) == (
        "NVIDIA A100-SXM4-80GB",
        "GPU-7fdaf0a5-179b-f636-d15d-daf243e3ff16",
        True,
    )
    assert [m.profile for m in g.mig_devices] == ["1g.10gb"] * 7
    [g] = _any("nvidia-smi-L", "gtx1660ti-quad-fence-unclosed.txt").gpus
    assert (g.name, g.uuid) == ("GeForce GTX 1660 Ti", "GPU-e18afb8d-1627-f8ff-2ba3-c05c5a8e9e67")


# -- every GPU nvidia-smi lists is NVIDIA ------------------------------------------------------


def test_every_gpu_of_an_nvidia_smi_output_is_nvidia_whatever_its_name_or_ids_say() -> None:
    xml = (FIXTURES / "nvidia-smi-xml" / "tesla-p100-x2-v8.xml").read_text()
    # an A10G log with a vGPU's vendor bytes and a name without "NVIDIA"
    odd = xml.replace("Tesla P100-PCIE-12GB", "A10G").replace("15F710DE", "22371D0F")
    assert {g.vendor for g in parse_nvidia_smi_xml(odd).gpus} == {"nvidia"}


# -- inxi ----------------------------------------------------------------------------------------


def test_inxi_non_free_field_does_not_leak_into_the_driver_version() -> None:
    r = _any("inxi", "inxi3-non-free-515-gtx1660ti-mobile.txt")
    assert [
        (g.vendor, g.name, g.pci_bus_id, g.pci_device_id, g.kernel_driver, g.driver_version) for g in r.gpus
    ] == [
        ("intel", "UHD Graphics", "0000:00:02.0", "9bc4", "i915", None),
        ("nvidia", "GeForce GTX 1660 Ti Mobile", "0000:01:00.0", "2191", "nvidia", "515.43.04"),
    ]


def test_inxi_2x_cards_and_an_unnamed_device_id() -> None:
    r = _any("inxi", "inxi2-card-titanx-pascal-unnamed.txt")
    assert [(g.vendor, g.name, g.pci_device_id) for g in r.gpus] == [
        ("nvidia", "GeForce GT 630 Rev. 2", None),
        ("nvidia", None, "1b00"),
    ]
    r = parse_any("Graphics:  Card: NVIDIA GF108 [GeForce GT 430] bus-ID: 01:00.0 chip-ID: 10de:0de1\n")
    assert [(g.name, g.pci_bus_id, g.pci_device_id) for g in r.gpus] == [
        ("GeForce GT 430", "0000:01:00.0", "0de1")
    ]


def test_inxi_with_prompt_trailing_spaces_freebsd_and_colour_codes() -> None:
    [g] = _any("inxi", "inxi-gx-gtx1080-failed-prompt.txt").gpus
    assert (g.name, g.pci_bus_id, g.kernel_driver, g.driver_version) == (
        "GeForce GTX 1080",
        "0000:01:00.0",
        "nvidia",
        "430.40",
    )
    [g] = _any("inxi", "freebsd-inxi-b-radeon-vgapci.txt").gpus
    assert (g.vendor, g.name, g.kernel_driver) == ("amd", "Radeon HD 7550M/7570M/7650M", "vgapci")
    coloured = "\x1b[1;34mGraphics:\x1b[0m  \x1b[1;34mDevice-1:\x1b[0m NVIDIA TU116 [GeForce GTX 1660] \x1b[1;34mdriver:\x1b[0m nvidia \x1b[1;34mv:\x1b[0m 460.32.03\n"
    [g] = parse_any(coloured).gpus
    assert (g.name, g.kernel_driver, g.driver_version) == ("GeForce GTX 1660", "nvidia", "460.32.03")


# -- "no GPU" / "no driver" messages -----------------------------------------------------------


def test_messages_that_mean_no_gpu_or_no_driver() -> None:
    cases = {
        ("errors", "wsl-gpu-access-blocked.txt"): ("gpu-access-blocked",),
        ("errors", "jetpack5-command-not-found-prompt.txt"): ("command-not-found",),
        ("errors", "mismatch-rhel-prompt.txt"): ("driver-library-mismatch",),
    }
    for (kind, name), problems in cases.items():
        r = _any(kind, name)
        assert (r.format, r.problems, r.gpus) == ("tool-error", problems, ()), name
    said = {
        "$ cat /proc/driver/nvidia/version\ncat: /proc/driver/nvidia/version: No such file or directory\n": (
            "driver-not-loaded"
        ),
        "Graphics:  Message: No PCI device data found.\n": "no-pci-devices",
        "lspci: Cannot find any working access method.\n": "no-pci-devices",
        "modprobe: FATAL: Module nvidia not found in directory /lib/modules/6.8.0-45-generic\n": (
            "driver-not-installed"
        ),
        "nvidia-smi: error while loading shared libraries: libnvidia-ml.so.1: cannot open shared object file: "
        "No such file or directory\n": "nvml-library-not-found",
        "sh: 1: nvidia-smi: not found\n": "command-not-found",
        'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n': (
            "container-gpu-unavailable"
        ),
    }
    for text, problem in said.items():
        r = parse_any(text)
        assert problem in r.problems and r.gpus == (), text


def test_a_traceback_saying_nvidia_smi_is_missing_above_an_lshw_paste() -> None:
    r = _any("lshw", "proxmox-9300gs-nouveau-traceback.txt")
    assert r.format == "lshw" and r.problems == ("command-not-found",)
    assert [(g.name, g.pci_bus_id, g.kernel_driver) for g in r.gpus] == [
        ("GeForce 9300 GS", "0000:03:00.0", "nouveau")
    ]


def test_two_commands_in_one_paste_the_missing_driver_file_and_lspci() -> None:
    r = _any("lspci", "gtx750ti-nouveau-after-proc-version-missing.txt")
    assert r.problems == ("driver-not-loaded",)
    assert [(g.name, g.pci_bus_id, g.kernel_driver) for g in r.gpus] == [("GeForce GTX 750 Ti", "0000:02:00.0", "nouveau")]
    r = _any("lspci", "geforce-8800gt-2008-nvidia-lowercase-prompts.txt")  # "nVidia Corporation" (2008)
    assert [(g.vendor, g.name, g.pci_bus_id) for g in r.gpus] == [("nvidia", "GeForce 8800 GT", "0000:04:00.0")]
    assert r.problems == ("driver-not-loaded",)


def test_inxi_without_pci_data_and_a_module_that_is_not_installed() -> None:
    r = _any("inxi", "no-pci-device-data-headless.txt")
    assert (r.format, r.gpus, r.problems) == ("inxi", (), ("no-pci-devices",))
    r = _any("errors", "modprobe-fatal-smi-failed-ppc64le.txt")
    assert (r.gpus, r.problems) == ((), ("driver-not-installed", "driver-not-loaded"))
