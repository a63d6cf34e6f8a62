"""One test per answer the compatibility API gives (and the user sees through doctor, env, detect)."""

from __future__ import annotations

import pytest

from gputk.compat import cuda, drivers, frameworks, gpus
from gputk.compat.version import Version, release_of


@pytest.mark.parametrize(
    ("text", "parts", "shown"),
    [
        ("550.54.14", (550, 54, 14), "550.54.14"),
        ("560.28.03", (560, 28, 3), "560.28.03"),  # driver versions keep their zeros
        ("2.5.1+cu124", (2, 5, 1), "2.5.1"),
        ("v13.0", (13, 0), "13.0"),
        ("0.4.36.dev20260101", (0, 4, 36), "0.4.36"),
    ],
)
def test_version_parses_what_tools_print(text: str, parts: tuple[int, ...], shown: str) -> None:
    v = Version.of(text)
    assert (v.parts[: len(parts)], str(v)) == (parts, shown)


def test_version_order_ignores_trailing_zeros_and_strict_mode_refuses_text() -> None:
    assert Version.of("12.4") == Version.of("12.4.0") and hash(Version.of("12.4")) == hash(
        Version.of("12.4.0")
    )
    assert Version.of("570.26") < Version.of("570.26.1") < Version.of("570.124.06")
    assert Version.parse("12.4 (local)", strict=True) is None and Version.parse("", strict=False) is None
    assert release_of("12.3.2") == "12.3" and release_of("nope") == ""


@pytest.mark.parametrize(
    ("cuda_version", "driver", "kind"),
    [
        ("12.4", "550.54.14", "toolkit"),
        ("12.4.1", "550.54.15", "toolkit"),
        ("12.0.1", "525.85.12", "toolkit"),
        ("12.6.1", "560.35.03", "toolkit"),
        ("12.6.2", "560.35.03", "toolkit"),
        ("11.8", "520.61.05", "toolkit"),
        ("13.0", "580.65.06", "toolkit"),
        ("13.0.1", "580.82.07", "toolkit"),
        ("13.0.2", "580.95.05", "toolkit"),
        ("13.1", "590.44.01", "toolkit"),
        ("13.1.1", "590.48.01", "toolkit"),
        ("13.2", "595.45.04", "toolkit"),
        ("13.2.1", "595.58.03", "toolkit"),
        ("13.3", "610.43.02", "toolkit"),
        ("13.3.1", "610.43.02", "toolkit"),  # an update missing from the table: at least its GA's
        ("13.4", "580", "mvc"),  # not verified: the CUDA 13 floor, and it says so
        ("13.5", "580", "mvc"),
        ("13.9", "580", "mvc"),  # newer than the table
    ],
)
def test_min_driver_linux(cuda_version: str, driver: str, kind: str) -> None:
    need = cuda.min_driver(cuda_version)
    assert need is not None and (str(need), need.kind) == (driver, kind)


def test_min_driver_windows_and_unknowns() -> None:
    assert str(cuda.min_driver("12.4", windows=True)) == "551.61"
    assert str(cuda.min_driver("13.0", windows=True)) == "580"  # CUDA 13 bundles no Windows driver
    assert cuda.min_driver("12.7") is None  # never released
    assert cuda.min_driver("not a version") is None
    assert "minor-version-compatibility floor" in cuda.min_driver("13.5").describe()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("major", "linux", "windows"),
    [(11, "450.80.02", "452.39"), (12, "525.60.13", "527.41"), (13, "580", "580")],
)
def test_mvc_floors(major: int, linux: str, windows: str) -> None:
    assert (str(cuda.mvc_floor(major)), str(cuda.mvc_floor(major, windows=True))) == (linux, windows)
    assert cuda.mvc_floors_text() == "11.x >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580"


@pytest.mark.parametrize(
    ("driver", "newest"),
    [
        ("535.104.05", "12.2"),
        ("550.54.15", "12.4"),
        ("470.82.01", "11.4"),
        ("580.95.05", "13.0"),
        ("610.43.02", "13.3"),
        ("300.1", None),
    ],
)
def test_newest_cuda_a_driver_runs(driver: str, newest: str | None) -> None:
    got = cuda.newest_cuda(driver)
    assert (str(got) if got else None) == newest


def test_runtime_vs_driver_decisions() -> None:
    assert cuda.runtime_vs_driver("12.2", "535.104.05", "12.2").kind == "ok"
    assert cuda.runtime_vs_driver("12.6", "535.104.05", "12.2").kind == "mvc"
    assert cuda.runtime_vs_driver("12.6", "520.61.05", "11.8").kind == "too-old"
    assert cuda.runtime_vs_driver("13.0", "575.57.08", "12.9").kind == "too-old"
    assert cuda.runtime_vs_driver("13.2", "580.65.06", "13.0").kind == "mvc"
    assert cuda.runtime_vs_driver("12.0", None, None).kind == "unknown"


def test_architectures_each_cuda_can_target() -> None:
    assert cuda.can_target("7.0", "13.0") is False and cuda.can_target("7.0", "12.9") is True
    assert cuda.can_target("6.1", "13.5") is False and cuda.can_target("5.0", "12.0") is True
    assert cuda.can_target("12.0", "12.6") is False and cuda.can_target("12.0", "12.8") is True
    assert cuda.can_target("3.5", "12.0") is False and cuda.can_target("3.5", "11.8") is True
    assert cuda.can_target("4.2", "12.0") is None
    assert cuda.targets("13.0")[0] == "7.5" and "5.0" in cuda.targets("12.9")
    assert str(cuda.newest_cuda_for("6.1")) == "12.9" and str(cuda.newest_cuda_for("3.7")) == "11.8"
    assert cuda.newest_cuda_for("8.6") is None and str(cuda.first_cuda_for("12.0")) == "12.8"


@pytest.mark.parametrize(
    ("pci_id", "name", "cc", "arch"),
    [
        ("10de:2204", None, "8.6", "Ampere"),
        ("233010DE", None, "9.0", "Hopper"),  # nvidia-smi's <pci_device_id>
        ("0x1b80", None, "6.1", "Pascal"),
        (None, "NVIDIA GeForce RTX 2050", "8.6", "Ampere"),  # GA107, not Turing
        (None, "NVIDIA GeForce RTX 2080 Ti", "7.5", "Turing"),
        (None, "GeForce GTX TITAN X", "5.2", "Maxwell"),  # must not be taken for the Pascal TITAN X
        (None, "NVIDIA TITAN Xp", "6.1", "Pascal"),
        (None, "NVIDIA TITAN X (Pascal)", "6.1", "Pascal"),
        (None, "Tesla K80", "3.7", "Kepler"),
        (None, "Tesla V100-SXM2-16GB", "7.0", "Volta"),
        (None, "NVIDIA A100-SXM4-80GB", "8.0", "Ampere"),
        (None, "NVIDIA H100 80GB HBM3", "9.0", "Hopper"),
        (None, "NVIDIA B200", "10.0", "Blackwell"),
        (None, "NVIDIA GB300", "10.3", "Blackwell"),
        (None, "NVIDIA GeForce RTX 5090", "12.0", "Blackwell"),
        (None, "NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "12.0", "Blackwell"),
        (None, "NVIDIA RTX 6000 Ada Generation", "8.9", "Ada"),
        (None, "NVIDIA RTX A4000", "8.6", "Ampere"),
        (None, "Quadro RTX 5000", "7.5", "Turing"),
        (None, "Quadro P2000", "6.1", "Pascal"),
        (None, "NVIDIA GeForce GTX 1650 Ti with Max-Q Design", "7.5", "Turing"),
        (None, "NVIDIA GeForce MX550", "7.5", "Turing"),
        (None, "GeForce GTX 1080 Ti", "6.1", "Pascal"),
        (None, "GeForce GTX 970", "5.2", "Maxwell"),
        (None, "GeForce GTX 750 Ti", "5.0", "Maxwell"),
        (None, "GeForce 940MX", "5.0", "Maxwell"),
        (None, "NVIDIA GeForce RTX 4060 Laptop GPU", "8.9", "Ada"),
        (None, "Orin (nvgpu)", "8.7", "Ampere"),
        (None, "NVIDIA Jetson AGX Thor", "11.0", "Blackwell"),
        (None, "NVIDIA GB10", "12.1", "Blackwell"),
        (None, "NVIDIA L40S", "8.9", "Ada"),
        (None, "Tesla T4", "7.5", "Turing"),
        (None, "NVIDIA GeForce RTX 3050 A Laptop GPU", "8.9", "Ada"),  # AD106/AD107, not the Ampere 3050
        (None, "NVIDIA RTX 4000 SFF Ada Generation", "8.9", "Ada"),
        (None, "NVIDIA RTX 2000E Ada Generation", "8.9", "Ada"),
        (None, "NVIDIA RTX 6000D", "12.0", "Blackwell"),
        (None, "NVIDIA RTX PRO 500 Blackwell Generation Laptop GPU", "12.0", "Blackwell"),
        ("10de:2822", None, "8.9", "Ada"),
        ("10de:2d83", None, "12.0", "Blackwell"),  # GeForce RTX 5050
        ("10de:31c2", None, "10.3", "Blackwell"),  # GB300
        (None, "Matrox G200", None, None),
    ],
)
def test_gpu_table_lookup(pci_id: str | None, name: str | None, cc: str | None, arch: str | None) -> None:
    assert gpus.lookup(pci_id, name) == (cc, arch)


def test_gpu_table_by_id_and_by_name_objects() -> None:
    hit = gpus.by_pci_id("10de:2330")
    assert hit is not None and (hit.name, hit.matched) == ("GH100 [H100 SXM5 80GB]", "pci-id")
    named = gpus.by_name("NVIDIA GeForce RTX 3090")
    assert named is not None and (named.cc, named.matched) == ("8.6", "name")
    assert gpus.by_pci_id("zzzz") is None and gpus.by_name("") is None


def test_find_driver_version_takes_evidence_in_order() -> None:
    got = drivers.find_driver_version(nvml="550.54.14", nvidia_smi="550.54.15", proc_version="550.54.15")
    assert got is not None and (str(got), got.source) == ("550.54.14", "NVML nvmlSystemGetDriverVersion")
    got = drivers.find_driver_version(sys_module="535.104.05\n", proc_version="535.104.05")
    assert got is not None and got.source == "/sys/module/nvidia/version"
    got = drivers.find_driver_version(sys_module="garbage", proc_version="535.104.05")
    assert got is not None and got.source == "/proc/driver/nvidia/version"
    got = drivers.find_driver_version(user_space=["550.54.14"])
    assert got is not None and str(got) == "550.54.14"
    assert drivers.find_driver_version(user_space=["550.54.14", "535.104.05"]) is None  # which one? unknown
    assert drivers.find_driver_version() is None


@pytest.mark.parametrize(
    ("cc", "last_branch", "newest_toolkit", "module"),
    [
        ("3.7", 470, "11.8", "unsupported"),
        ("5.2", 580, "12.9", "unsupported"),
        ("6.1", 580, "12.9", "unsupported"),
        ("7.0", 580, "12.9", "unsupported"),
        ("7.5", None, None, "supported"),
        ("9.0", None, None, "supported"),
        ("12.0", None, None, "required"),
    ],
)
def test_the_drivers_a_gpu_generation_can_run(
    cc: str, last_branch: int | None, newest_toolkit: str | None, module: str
) -> None:
    lim = drivers.driver_limit(cc)
    assert lim is not None
    got = (lim.last_branch, str(lim.newest_target_cuda) if lim.newest_target_cuda else None, lim.open_module)
    assert got == (last_branch, newest_toolkit, module)
    if last_branch:
        assert lim.allows(f"{last_branch}.100.01") and not lim.allows(f"{last_branch + 10}.10.01")


def test_open_vs_proprietary_module_per_generation() -> None:
    assert drivers.module_fits("6.1", "open") is False and drivers.module_fits("6.1", "proprietary") is True
    assert drivers.module_fits("8.6", "open") is True and drivers.module_fits("8.6", "proprietary") is True
    assert drivers.module_fits("12.0", "open") is True and drivers.module_fits("12.0", "proprietary") is False
    assert drivers.module_fits("4.0", "open") is None


def test_driver_branches_and_end_of_life() -> None:
    assert [b.branch for b in drivers.branches() if "LTSB" in b.designation] == [535, 580, 620]
    assert drivers.branch_ended("535.288.01", "2026-11") and drivers.branch_ended("610.43.02", "2026-11")
    assert not drivers.branch_ended("580.95.05", "2026-11") and not drivers.branch_ended(
        "620.10.01", "2026-11"
    )


def test_arch_coverage_rules() -> None:
    assert frameworks.arch_covers("8.9", ["sm_80", "sm_86"]) is True  # sm_86 SASS runs on 8.9
    assert frameworks.arch_covers("12.0", ["sm_80", "sm_90"]) is False
    assert frameworks.arch_covers("12.0", ["sm_80", "compute_90"]) is True  # PTX JIT forward
    assert frameworks.arch_covers("7.0", ["sm_75", "sm_80"]) is False
    assert frameworks.arch_covers("9.0", ["sm_90a"]) is True
    assert frameworks.arch_covers("12.0", ["8.6", "9.0+PTX"]) is True  # TORCH_CUDA_ARCH_LIST style
    assert frameworks.arch_covers("9.0", []) is None


def test_cudnn_fit_rule() -> None:
    assert frameworks.cudnn_fits("9.3", "9.10.2") is True
    assert frameworks.cudnn_fits("9.3.0", "9.1.0") is False
    assert frameworks.cudnn_fits("9.3", "8.9.7") is False
    assert frameworks.cudnn_fits(None, "9.1") is None


def test_tensorflow_builds() -> None:
    b = frameworks.tf_build("2.21.0")
    assert b is not None and (str(b.cuda), str(b.cudnn)) == ("12.5", "9.3")
    b = frameworks.tf_build("2.9.1")
    assert b is not None and str(b.cuda) == "11.2"
    assert frameworks.tf_build("3.0.0") is None
    assert frameworks.tf_has_cuda13() is False


@pytest.mark.parametrize(
    ("driver", "cc", "major"),
    [
        ("580.95.05", "6.1", 12),
        ("575.57.08", "8.6", 12),
        ("590.44.01", "12.0", 13),
        ("570.86.10", "12.0", 12),
        (None, None, 13),
        ("535.104.05", None, 12),
    ],
)
def test_cuda_flavour_for_pip_packages(driver: str | None, cc: str | None, major: int) -> None:
    assert frameworks.cuda_flavour(driver, cc) == major
    assert frameworks.install_spec("cupy", major) == f"cupy-cuda{major}x"
    assert frameworks.install_spec("numba", major) == f"numba-cuda[cu{major}]"
    assert frameworks.install_spec("jax", major) == f"jax[cuda{major}]"
    assert frameworks.gputk_extra(major) == f"gputk[gpu-cu{major}]"


def test_pip_layout_per_cuda_major() -> None:
    assert frameworks.pip_lib_dir(13) == "nvidia/cu13/lib"
    assert frameworks.pip_lib_dir(12, "cublas") == "nvidia/cublas/lib"


@pytest.mark.parametrize(
    ("cc", "driver", "dcuda", "requirement", "tag"),
    [
        ("6.1", "580.95.05", "13.0", "torch==2.14.*", "cu126"),  # Pascal: the last cu126 release
        ("12.0", "590.44.01", "13.1", "torch==2.15.*", "cu130"),
        ("12.0", "570.124.06", "12.8", "torch==2.11.*", "cu128"),  # Blackwell on a 570 driver
        ("8.6", "535.104.05", "12.2", "torch==2.14.*", "cu126"),  # CUDA 12 wheels by MVC
    ],
)
def test_torch_pins(cc: str, driver: str, dcuda: str, requirement: str, tag: str) -> None:
    pin = frameworks.pin_for("torch", cc, driver, dcuda)
    assert pin is not None and (pin.requirement, pin.index_url) == (
        requirement,
        f"https://download.pytorch.org/whl/{tag}",
    )


def test_tensorflow_pins() -> None:
    pin = frameworks.pin_for(
        "tensorflow", "5.2", "580.95.05", "13.0"
    )  # Maxwell: 2.17 was the last with sm_50
    assert pin is not None and pin.requirement == "tensorflow[and-cuda]==2.17.*"
    pin = frameworks.pin_for("tensorflow", "6.1", "580.95.05", "13.0")
    assert pin is not None and pin.requirement == "tensorflow[and-cuda]==2.21.*"
    assert frameworks.pin_for("tensorflow", "3.7", "470.82.01", "11.4") is None  # no row covers Kepler


def test_flavour_pins_refuse_gpus_older_than_every_flavour() -> None:
    assert frameworks.pin_for("cupy", "3.7", "470.82.01", "11.4") is None
    assert frameworks.pin_for("jax", "5.0", "580.95.05", "13.0") is None  # jax[cuda12] starts at 5.2
    pin = frameworks.pin_for("numba", "6.1", "580.95.05", "13.0")
    assert pin is not None and pin.requirement == "numba-cuda[cu12]"


def test_torch_release_variants() -> None:
    assert frameworks.torch_release_variants("2.15.0+cu130") == ["cu130"]
    assert "cu126" in frameworks.torch_release_variants("2.14.1")
