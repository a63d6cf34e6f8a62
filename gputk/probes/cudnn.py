"""Every cuDNN on the machine: version from its header, sonames, where it came from.

Where cuDNN lives (docs/design.md)::

    /usr/local/cuda[-X.Y]/include/cudnn_version.h + lib64/libcudnn.so.N     tarball into a toolkit
    /usr/include/x86_64-linux-gnu/cudnn_version_v9.h + /usr/lib/x86_64-linux-gnu/libcudnn.so.9   deb
    /usr/include/cudnn_version.h, /usr/lib64/libcudnn.so.N                 rpm / older debs
    site-packages/nvidia/cudnn/{include/cudnn_version.h, lib/libcudnn.so.9} pip nvidia-cudnn-cu12
    $CONDA_PREFIX/{include,lib}                                              conda

The header's ``#define CUDNN_MAJOR`` lines are read by :mod:`gputk.parsers.cudnn`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from gputk.compat.version import Version
from gputk.host import Host
from gputk.parsers.cudnn import parse_cudnn_header
from gputk.probes.capture import Capture
from gputk.probes.python_env import python_env

_SONAME = re.compile(r"libcudnn\.so\.(\d+)(?:\.(\d+)\.(\d+))?$")
_DIST = re.compile(r"nvidia_cudnn_cu(\d+)-(\d+(?:\.\d+)+)\.dist-info$")
_DEB = re.compile(r"libcudnn(\d+)(?:-cuda-(\d+))?(?::[a-z0-9]+)?\.list$")
_TOOLKIT_DIR = re.compile(r"/cuda-(\d+)(?:\.\d+)?(?:/|$)")


@dataclass(frozen=True)
class CudnnInstall:
    version: str | None  # "9.1.0"; None when only a library was found
    source: str  # "toolkit" | "distro" | "pip" | "conda" | "ld-path"
    location: str  # the directory holding it
    header: str | None = None
    sonames: tuple[str, ...] = ()
    cuda_major: int | None = None  # what it was built for, when the name says (cu12, -cuda-12, cuda-12.4)
    evidence: str = ""

    @property
    def major(self) -> int | None:
        v = Version.parse(self.version)
        if v is not None:
            return v.major
        for s in self.sonames:
            m = _SONAME.search(s)
            if m:
                return int(m.group(1))
        return None


def _sonames(host: Host, lib_dirs: list[str]) -> tuple[str, ...]:
    names: set[str] = set()
    for d in lib_dirs:
        for p in host.glob(f"{d}/libcudnn.so.*"):
            if _SONAME.search(p):
                names.add(posixpath.basename(p))
    return tuple(sorted(names))


def _header_version(host: Host, include_dirs: list[str]) -> tuple[str | None, str | None]:
    for d in include_dirs:
        for name in ("cudnn_version.h", "cudnn_version_v9.h", "cudnn_version_v8.h", "cudnn.h"):
            path = f"{d}/{name}"
            text = host.read_text(path, max_bytes=256 * 1024)
            if text:
                version = parse_cudnn_header(text)
                if version:
                    return version, path
    return None, None


def _install(
    host: Host,
    source: str,
    location: str,
    include_dirs: list[str],
    lib_dirs: list[str],
    cuda_major: int | None,
) -> CudnnInstall | None:
    version, header = _header_version(host, include_dirs)
    sonames = _sonames(host, lib_dirs)
    if version is None and not sonames:
        return None
    if version is None:
        for s in sonames:
            m = _SONAME.search(s)
            if m and m.group(2):
                version = f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
                break
    evidence = header or f"{lib_dirs[0]}/{sonames[0]}"
    return CudnnInstall(version, source, location, header, sonames, cuda_major, evidence)


def find_cudnn(host: Host, site_packages: list[str] | None = None) -> list[CudnnInstall]:
    """Every cuDNN found, one entry per location, in the order above.

    ``site_packages`` defaults to the target interpreter's (:func:`python_env`).
    """
    if site_packages is None:
        site_packages = [str(p) for p in python_env(host).get("site_packages") or []]
    found: list[CudnnInstall] = []
    seen: set[str] = set()

    def add(inst: CudnnInstall | None) -> None:
        if inst is not None and host.realpath(inst.location) not in seen:
            seen.add(host.realpath(inst.location))
            found.append(inst)

    for root in sorted(set(host.glob("/usr/local/cuda-*") + host.glob("/usr/local/cuda"))):
        m = _TOOLKIT_DIR.search(host.realpath(root) + "/")
        major = int(m.group(1)) if m else None
        add(_install(host, "toolkit", root, [f"{root}/include"], [f"{root}/lib64", f"{root}/lib"], major))

    deb_major: int | None = None
    for info in host.glob("/var/lib/dpkg/info/libcudnn*.list"):
        m = _DEB.search(info)
        if m and m.group(2):
            deb_major = int(m.group(2))
    for arch in ("x86_64-linux-gnu", "aarch64-linux-gnu"):
        add(
            _install(
                host, "distro", f"/usr/lib/{arch}", [f"/usr/include/{arch}"], [f"/usr/lib/{arch}"], deb_major
            )
        )
    add(_install(host, "distro", "/usr/lib64", ["/usr/include"], ["/usr/lib64"], None))

    for sp in site_packages or []:
        base = f"{sp}/nvidia/cudnn"
        dist = next(
            (m for p in host.glob(f"{sp}/nvidia_cudnn_cu*.dist-info") if (m := _DIST.search(p))), None
        )
        major = int(dist.group(1)) if dist else None
        inst = _install(host, "pip", base, [f"{base}/include"], [f"{base}/lib"], major)
        if inst and inst.version is None and dist:
            inst = CudnnInstall(dist.group(2), "pip", base, None, inst.sonames, major, dist.string)
        add(inst)

    conda = host.env.get("CONDA_PREFIX")
    if conda:
        add(_install(host, "conda", conda, [f"{conda}/include"], [f"{conda}/lib"], None))
    for d in host.env.get("LD_LIBRARY_PATH", "").split(":"):
        if d:
            add(_install(host, "ld-path", d, [posixpath.join(posixpath.dirname(d), "include")], [d], None))
    return found


CAPTURE = Capture(
    "cudnn",
    files=(
        "/usr/local/cuda*/include/cudnn_version.h",
        "/usr/local/cuda*/include/cudnn.h",
        "/usr/include/cudnn_version*.h",
        "/usr/include/*-linux-gnu/cudnn_version*.h",
    ),
    names=("/usr/lib/*-linux-gnu/libcudnn*.so*", "/usr/lib64/libcudnn*.so*"),
    entries=(find_cudnn,),
)
