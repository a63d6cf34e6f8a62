"""Toolkit discovery on snapshot trees and on this machine."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from gputk.host import LiveHost
from gputk.parsers.cuda_version import parse_version_json, parse_version_txt
from gputk.probes.cuda import (
    active_nvcc,
    cuda_home,
    find_toolkits,
    pip_cuda_wheels,
)
from gputk.snapshot import SnapshotWriter

NVCC_115 = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2021 NVIDIA Corporation
Built on Thu_Nov_18_09:45:30_PST_2021
Cuda compilation tools, release 11.5, V11.5.119
Build cuda_11.5.r11.5/compiler.30672275_0
"""
SITE = "/home/user/venv/lib/python3.11/site-packages"


def version_json(version: str) -> str:
    return json.dumps({"cuda": {"name": "CUDA SDK", "version": version}, "cuda_cudart": {"version": version}})


def add_local_toolkit(snap: SnapshotWriter, root: str, version: str | None, lib: str = "lib64") -> None:
    snap.add_file(f"{root}/bin/nvcc", "#!ELF")
    snap.add_file(f"{root}/{lib}/libcudart.so.12", "")
    if version:
        snap.add_file(f"{root}/version.json", version_json(version))


@pytest.fixture
def multi(snap: SnapshotWriter) -> SnapshotWriter:
    """cuda-11.8 (version.txt style), cuda-12.3, /usr/local/cuda -> cuda-12.3, cuda-12 -> cuda-12.3."""
    add_local_toolkit(snap, "/usr/local/cuda-11.8", None)
    snap.add_file("/usr/local/cuda-11.8/version.txt", "CUDA Version 11.8.89\n")
    add_local_toolkit(snap, "/usr/local/cuda-12.3", "12.3.2")
    snap.add_symlink("/usr/local/cuda", "/usr/local/cuda-12.3")
    snap.add_symlink("/usr/local/cuda-12", "cuda-12.3")
    return snap


def test_version_file_parsers() -> None:
    assert parse_version_json(version_json("12.3.2")) == "12.3.2"
    assert parse_version_json('{"cuda": {"version": "weird"}}') is None
    assert parse_version_json("not json") is None
    assert parse_version_txt("CUDA Version 10.2.89\n") == "10.2.89"
    assert parse_version_txt("nothing") is None


def test_several_toolkits_each_once_with_links(multi: SnapshotWriter) -> None:
    tks = find_toolkits(multi.host())
    assert [(t.version, t.root, t.kind) for t in tks] == [
        ("11.8.89", "/usr/local/cuda-11.8", "local"),
        ("12.3.2", "/usr/local/cuda-12.3", "local"),
    ]
    old, new = tks
    assert old.evidence == "/usr/local/cuda-11.8/version.txt"
    assert new.evidence == "/usr/local/cuda-12.3/version.json"
    assert new.links == ("/usr/local/cuda", "/usr/local/cuda-12")
    assert old.links == ()
    assert new.release == "12.3"
    assert new.bin_dir == "/usr/local/cuda-12.3/bin"
    assert new.lib_dir == "/usr/local/cuda-12.3/lib64"
    assert new.nvcc == "/usr/local/cuda-12.3/bin/nvcc"
    # the toolkit's own minimum (the same answer the doctor gives), and its major's MVC floor
    assert (new.to_dict()["min_driver"], new.to_dict()["mvc_floor"]) == ("545.23.08", "525.60.13")


def test_version_from_nvcc_then_directory_name(snap: SnapshotWriter) -> None:
    add_local_toolkit(snap, "/usr/local/cuda-11.5", None, lib="targets/x86_64-linux/lib")
    snap.add_command(["/usr/local/cuda-11.5/bin/nvcc", "--version"], NVCC_115)
    snap.add_dir("/opt/cuda-10.1/targets")  # no nvcc, no version file: the name says it
    tks = {t.root: t for t in find_toolkits(snap.host())}
    assert tks["/usr/local/cuda-11.5"].version == "11.5.119"
    assert tks["/usr/local/cuda-11.5"].evidence == "/usr/local/cuda-11.5/bin/nvcc --version"
    assert tks["/usr/local/cuda-11.5"].lib_dir == "/usr/local/cuda-11.5/targets/x86_64-linux/lib"
    assert tks["/opt/cuda-10.1"].version == "10.1"
    assert tks["/opt/cuda-10.1"].evidence == "directory name /opt/cuda-10.1"
    assert tks["/opt/cuda-10.1"].nvcc is None


def test_distro_nvcc_shadows_usr_local_cuda(multi: SnapshotWriter) -> None:
    multi.add_file("/usr/bin/nvcc", '#!/bin/sh\nexec /usr/lib/nvidia-cuda-toolkit/bin/nvcc "$@"\n')
    multi.add_file("/usr/lib/nvidia-cuda-toolkit/bin/nvcc", "#!ELF")
    multi.add_command(["/usr/bin/nvcc", "--version"], NVCC_115)
    multi.add_command(["nvcc", "--version"], NVCC_115)
    multi.set_env({"PATH": "/usr/bin:/usr/local/cuda/bin:/bin", "HOME": "/home/user"})
    host = multi.host()
    tks = find_toolkits(host)
    distro = next(t for t in tks if t.kind == "distro")
    assert (distro.version, distro.root, distro.bin_dir) == (
        "11.5.119",
        "/usr/lib/nvidia-cuda-toolkit",
        "/usr/bin",
    )
    assert distro.lib_dir == "/usr/lib/x86_64-linux-gnu"
    nv = active_nvcc(host, tks)
    assert (nv.status, nv.path, nv.version, nv.release) == ("ok", "/usr/bin/nvcc", "11.5.119", "11.5")
    assert nv.toolkit_root == "/usr/lib/nvidia-cuda-toolkit"
    assert nv.shadowed == ("/usr/local/cuda/bin/nvcc",)


def test_active_nvcc_falls_back_to_its_toolkit(multi: SnapshotWriter) -> None:
    multi.set_env({"PATH": "/usr/local/cuda/bin:/usr/bin", "HOME": "/home/user"})
    nv = active_nvcc(multi.host())  # `nvcc --version` was not captured
    assert (nv.status, nv.version, nv.toolkit_root) == ("ok", "12.3.2", "/usr/local/cuda-12.3")
    assert nv.realpath == "/usr/local/cuda-12.3/bin/nvcc"
    assert "not captured" in nv.evidence


def test_no_nvcc(snap: SnapshotWriter) -> None:
    host = snap.host()
    assert find_toolkits(host) == []
    assert active_nvcc(host).status == "not-found"
    assert cuda_home(host).variable is None


def test_conda_and_pip_toolkits(snap: SnapshotWriter) -> None:
    env = "/home/user/miniconda3/envs/dl"
    snap.add_file(f"{env}/bin/nvcc", "#!ELF")
    snap.add_file(f"{env}/targets/x86_64-linux/lib/libcudart.so.12", "")
    snap.add_file(f"{env}/conda-meta/cuda-nvcc-12.4.131-0.json", "{}")
    snap.add_file(f"{SITE}/nvidia/cuda_nvcc/bin/nvcc", "#!ELF")
    snap.add_dir(f"{SITE}/nvidia_cuda_nvcc_cu12-12.6.85.dist-info")
    snap.add_file(f"{SITE}/nvidia/cu13/bin/nvcc", "#!ELF")
    snap.add_file(f"{SITE}/nvidia/cu13/lib/libcublas.so.13", "")
    snap.add_dir(f"{SITE}/nvidia_cuda_nvcc-13.0.88.dist-info")
    snap.set_env({"PATH": "/usr/bin", "HOME": "/home/user", "CONDA_PREFIX": env})
    snap.set_probe("python", {"status": "ok", "site_packages": [SITE]})
    tks = find_toolkits(snap.host())
    got = [(t.kind, t.version, t.root, t.lib_dir, t.evidence.rsplit("/", 1)[-1]) for t in tks]
    assert got == [
        ("conda", "12.4.131", env, f"{env}/targets/x86_64-linux/lib", "cuda-nvcc-12.4.131-0.json"),
        ("pip", "12.6.85", f"{SITE}/nvidia/cuda_nvcc", None, "nvidia_cuda_nvcc_cu12-12.6.85.dist-info"),
        (
            "pip",
            "13.0.88",
            f"{SITE}/nvidia/cu13",
            f"{SITE}/nvidia/cu13/lib",
            "nvidia_cuda_nvcc-13.0.88.dist-info",
        ),
    ]


def test_cuda_home_and_path_targets(multi: SnapshotWriter) -> None:
    add_local_toolkit(multi, "/opt/nvidia/hpc_sdk/cuda/12.4", "12.4.1")
    multi.set_env({"PATH": "/usr/bin", "CUDA_HOME": "/opt/nvidia/hpc_sdk/cuda/12.4", "CUDA_PATH": "/nope"})
    host = multi.host()
    tks = find_toolkits(host)
    assert [t.root for t in tks][-1] == "/opt/nvidia/hpc_sdk/cuda/12.4"
    home = cuda_home(host, tks)
    assert (home.variable, home.exists, home.toolkit_root) == (
        "CUDA_HOME",
        True,
        "/opt/nvidia/hpc_sdk/cuda/12.4",
    )
    assert home.nvcc == "/opt/nvidia/hpc_sdk/cuda/12.4/bin/nvcc"
    assert home.others == (("CUDA_PATH", "/nope"),)
    multi.set_env({"PATH": "/usr/bin", "CUDA_PATH": "/nope"})
    missing = cuda_home(multi.host())
    assert (missing.variable, missing.path, missing.exists, missing.nvcc) == (
        "CUDA_PATH",
        "/nope",
        False,
        None,
    )


def test_pip_cuda_wheels(snap: SnapshotWriter) -> None:
    snap.add_file(f"{SITE}/nvidia/cublas/lib/libcublas.so.12", "")
    snap.add_file(f"{SITE}/nvidia/cublas/lib/libcublasLt.so.12", "")
    snap.add_file(f"{SITE}/nvidia/cublas/lib/__init__.py", "")
    snap.add_dir(f"{SITE}/nvidia_cublas_cu12-12.4.5.8.dist-info")
    snap.add_file(f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9", "")
    snap.add_dir(f"{SITE}/nvidia_cudnn_cu12-9.1.0.70.dist-info")
    snap.add_file(f"{SITE}/nvidia/cu13/lib/libcudart.so.13", "")
    snap.add_file(f"{SITE}/nvidia/cuda_nvcc/include/cuda.h", "")  # no lib dir: not listed
    snap.set_probe("python", {"status": "ok", "site_packages": [SITE]})
    libs = pip_cuda_wheels(snap.host())
    assert [(x.component, x.sonames, x.cuda_major) for x in libs] == [
        ("cu13", ("libcudart.so.13",), 13),
        ("cublas", ("libcublas.so.12", "libcublasLt.so.12"), 12),
        ("cudnn", ("libcudnn.so.9",), 12),
    ]
    assert libs[1].lib_dir == f"{SITE}/nvidia/cublas/lib"


@pytest.mark.live
@pytest.mark.skipif(
    not os.path.isdir("/usr/local/cuda-13.0"), reason="needs the CUDA 13.0 toolkit of the dev machine"
)
def test_this_machine_cuda_13() -> None:
    host = LiveHost()
    tks = find_toolkits(host)
    tk = next(t for t in tks if t.root == "/usr/local/cuda-13.0")
    # This toolkit was assembled from NVIDIA's wheels: it has no version.json, so the
    # version comes from its dist-info metadata; `nvcc --version` must agree.
    if os.path.exists("/usr/local/cuda-13.0/version.json"):
        assert tk.evidence == "/usr/local/cuda-13.0/version.json"
    assert tk.version == "13.0.88"
    assert tk.release == "13.0"
    assert tk.links == ("/usr/local/cuda",)
    assert [t.root for t in tks].count("/usr/local/cuda-13.0") == 1
    if shutil.which("nvcc"):
        nv = active_nvcc(host, tks)
        assert (nv.version, nv.toolkit_root) == ("13.0.88", "/usr/local/cuda-13.0")
