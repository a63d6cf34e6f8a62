"""CUDA toolkits on a host: where they are, which version, which nvcc wins.

Places looked at (shell equivalents)::

    ls -d /usr/local/cuda /usr/local/cuda-* /opt/cuda*      # NVIDIA runfile/deb/rpm, Arch
    ls /usr/bin/nvcc /usr/lib/nvidia-cuda-toolkit            # Debian/Ubuntu nvidia-cuda-toolkit
    ls $CONDA_PREFIX/bin/nvcc $CONDA_PREFIX/targets          # conda cuda-nvcc / cuda-toolkit
    ls <site-packages>/nvidia/cuda_nvcc <site-packages>/nvidia/cu13/bin   # pip nvidia-cuda-nvcc
    echo $CUDA_HOME $CUDA_PATH

A toolkit's version is read, first hit wins, from ``version.json`` (CUDA >= 11.1:
``{"cuda": {"name": "CUDA SDK", "version": "12.3.2"}}``), ``version.txt``
(``CUDA Version 10.2.89``), the wheel or conda metadata naming ``cuda-nvcc``
(``nvidia_cuda_nvcc_cu12-12.4.131.dist-info``, ``conda-meta/cuda-nvcc-12.4.131-0.json``;
read before running anything), ``<bin>/nvcc --version``, and finally the
directory name (``cuda-11.8``). Everything goes through the Host, so a snapshot
answers exactly as this machine does.
"""

from __future__ import annotations

import posixpath
import re

from gputk.host import Host
from gputk.models.cuda import CudaHome, NvccInfo, PipCudaLib, Toolkit, ToolkitKind
from gputk.parsers.cuda_version import parse_version_json, parse_version_txt
from gputk.parsers.nvcc import parse_nvcc_version
from gputk.probes.capture import Capture
from gputk.probes.python_env import python_env

NVCC_TIMEOUT_S = 20.0
ACTIVE_NVCC_ARGV = ("nvcc", "--version")  # the nvcc first on PATH (a snapshot records exactly this)

_DIR_VERSION = re.compile(r"cuda-?(\d+(?:\.\d+)*)$")
_META_VERSION = re.compile(r"^(?:nvidia[_-]cuda[_-]nvcc(?:[_-]cu\d+)?|cuda-nvcc)-(\d+(?:\.\d+)+)")
_WHEEL_MAJOR = re.compile(r"^nvidia[_-](.+?)[_-]cu(\d+)-\d")
# starts only where a path can start (not inside one), so a long path-like line is read once
_WRAPPER_TARGET = re.compile(r"(?<![^\s\"'$;|&=])(/[^\s\"'$;|&]*/bin/nvcc)\b")
_SO_SUFFIX = re.compile(r"(?:\.\d+)*")


def _lib_dir(host: Host, root: str) -> str | None:
    if host.is_dir(posixpath.join(root, "lib64")):
        return posixpath.join(root, "lib64")
    for cand in host.glob(posixpath.join(root, "targets", "*-linux", "lib")):
        return cand
    lib = posixpath.join(root, "lib")
    return lib if host.is_dir(lib) else None


def _nvcc_version(host: Host, nvcc: str) -> str | None:
    res = host.run([nvcc, "--version"], timeout=NVCC_TIMEOUT_S)
    parsed = parse_nvcc_version(res.stdout) if res.ok else None
    return parsed.full if parsed else None


def _read_version(host: Host, root: str, nvcc: str | None, meta_globs: tuple[str, ...]) -> tuple[str, str]:
    """(version, evidence) for a toolkit root; ``("", "")`` when nothing tells."""
    for name, parse in (("version.json", parse_version_json), ("version.txt", parse_version_txt)):
        path = posixpath.join(root, name)
        text = host.read_text(path, max_bytes=256 * 1024)
        version = parse(text) if text else None
        if version:
            return version, path
    for pattern in meta_globs:
        for path in host.glob(pattern):
            m = _META_VERSION.match(posixpath.basename(path))
            if m:
                return m.group(1), path
    if nvcc:
        version = _nvcc_version(host, nvcc)
        if version:
            return version, f"{nvcc} --version"
    m = _DIR_VERSION.search(root.rstrip("/"))
    if m:
        return m.group(1), f"directory name {root}"
    return "", ""


def _toolkit(
    host: Host,
    root: str,
    kind: ToolkitKind,
    bin_dir: str | None = None,
    lib_dir: str | None = None,
    meta_globs: tuple[str, ...] = (),
) -> Toolkit:
    bin_dir = bin_dir or posixpath.join(root, "bin")
    nvcc_path = posixpath.join(bin_dir, "nvcc")
    nvcc = nvcc_path if host.is_file(nvcc_path) else None
    metas = (posixpath.join(root, "dist-info", "nvidia_cuda_nvcc*.dist-info"), *meta_globs)
    version, evidence = _read_version(host, root, nvcc, metas)
    return Toolkit(
        version=version,
        root=root,
        bin_dir=bin_dir,
        lib_dir=lib_dir if lib_dir is not None else _lib_dir(host, root),
        nvcc=nvcc,
        kind=kind,
        evidence=evidence,
    )


def _looks_like_toolkit(host: Host, root: str) -> bool:
    return host.is_dir(root) and any(
        host.exists(posixpath.join(root, p)) for p in ("bin/nvcc", "version.json", "version.txt", "targets")
    )


def toolkit_at(host: Host, root: str) -> Toolkit | None:
    """The toolkit rooted at ``root`` (``--prefix``), None when nothing there looks like one."""
    return _toolkit(host, root, "local") if _looks_like_toolkit(host, root) else None


def _multiarch(host: Host) -> str:
    machine = host.uname().get("machine") or "x86_64"
    return {"arm64": "aarch64"}.get(machine, machine) + "-linux-gnu"


def find_toolkits(host: Host, site_packages: list[str] | None = None) -> list[Toolkit]:
    """Every CUDA toolkit on the host, each once (links folded into ``links``), oldest first.

    ``site_packages`` (from :func:`target_site_packages`) saves asking the target interpreter again.
    """
    found: dict[str, Toolkit] = {}  # realpath of root -> toolkit
    aliases: dict[str, list[str]] = {}

    candidates = ["/usr/local/cuda", *host.glob("/usr/local/cuda-*"), *host.glob("/opt/cuda*")]
    env = host.env
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            candidates.append(posixpath.normpath(env[var]))
    # Real directories first so the toolkit gets its own name as root, links second.
    candidates.sort(key=lambda p: (host.readlink(p) is not None, p))
    for path in dict.fromkeys(candidates):
        if not _looks_like_toolkit(host, path):
            continue
        real = host.realpath(path)
        if real != path:
            aliases.setdefault(real, []).append(path)
        if real not in found:
            found[real] = _toolkit(host, real, "local")

    if host.is_file("/usr/bin/nvcc") and toolkit_of(host, "/usr/bin/nvcc", list(found.values())) is None:
        distro_root = "/usr/lib/nvidia-cuda-toolkit"
        root = distro_root if host.is_dir(distro_root) else "/usr"
        if host.realpath(root) not in found:
            found[host.realpath(root)] = _toolkit(
                host, root, "distro", bin_dir="/usr/bin", lib_dir=posixpath.join("/usr/lib", _multiarch(host))
            )

    prefix = env.get("CONDA_PREFIX")
    if prefix and (
        host.is_file(posixpath.join(prefix, "bin", "nvcc")) or host.is_dir(posixpath.join(prefix, "targets"))
    ):
        real = host.realpath(prefix)
        if real not in found:
            metas = (posixpath.join(prefix, "conda-meta", "cuda-nvcc-*.json"),)
            found[real] = _toolkit(host, prefix, "conda", meta_globs=metas)

    for site in site_packages if site_packages is not None else target_site_packages(host):
        for bin_dir, meta in (
            (posixpath.join(site, "nvidia", "cuda_nvcc", "bin"), "nvidia_cuda_nvcc_cu*.dist-info"),
            (posixpath.join(site, "nvidia", "cu13", "bin"), "nvidia_cuda_nvcc-*.dist-info"),
        ):
            if not host.is_file(posixpath.join(bin_dir, "nvcc")):
                continue
            root = posixpath.dirname(bin_dir)
            if host.realpath(root) in found:
                continue
            lib = posixpath.join(root, "lib")
            found[host.realpath(root)] = _toolkit(
                host,
                root,
                "pip",
                lib_dir=lib if host.is_dir(lib) else None,
                meta_globs=(posixpath.join(site, meta),),
            )

    result = []
    for real, tk in found.items():
        links = tuple(sorted(a for a in dict.fromkeys(aliases.get(real, [])) if a != tk.root))
        result.append(Toolkit(**{**tk.__dict__, "links": links}))
    return sorted(result, key=Toolkit.sort_key)


def target_site_packages(host: Host) -> list[str]:
    """The target interpreter's site-packages (see :mod:`gputk.probes.python_env`); [] when unknown."""
    info = python_env(host)
    paths = info.get("site_packages") if isinstance(info, dict) else None
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


def _wrapper_target(host: Host, path: str) -> str | None:
    """The nvcc a small wrapper script execs (``exec /usr/local/cuda-13.0/bin/nvcc "$@"``)."""
    head = host.read_bytes(path, max_bytes=4096)
    if not head or not head.startswith(b"#!"):
        return None
    m = _WRAPPER_TARGET.search(head.decode("utf-8", errors="replace"))
    return m.group(1) if m else None


def toolkit_of(host: Host, nvcc_path: str, toolkits: list[Toolkit]) -> Toolkit | None:
    """The toolkit an nvcc path belongs to: its real bin dir, or the nvcc its wrapper script runs."""
    paths = [nvcc_path]
    target = _wrapper_target(host, nvcc_path)
    if target:
        paths.append(target)
    for p in paths:
        real_dir = posixpath.dirname(host.realpath(p))
        for tk in toolkits:
            if host.realpath(tk.bin_dir) == real_dir and tk.nvcc:
                return tk
    return None


def active_nvcc(host: Host, toolkits: list[Toolkit] | None = None) -> NvccInfo:
    """Which nvcc a shell runs (``command -v nvcc``), its version and toolkit.

    The version comes from ``nvcc --version`` (argv exactly ``["nvcc", "--version"]``
    so recorded snapshots replay), else from the toolkit whose bin holds it.
    """
    path = host.which("nvcc")
    if path is None:
        return NvccInfo(status="not-found")
    toolkits = find_toolkits(host) if toolkits is None else toolkits
    tk = toolkit_of(host, path, toolkits)
    winner = host.realpath(path)
    shadowed = [
        cand
        for cand in dict.fromkeys(posixpath.join(d, "nvcc") for d in host.env.get("PATH", "").split(":") if d)
        if host.is_file(cand) and host.realpath(cand) != winner
    ]
    res = host.run(ACTIVE_NVCC_ARGV, timeout=NVCC_TIMEOUT_S)
    parsed = parse_nvcc_version(res.stdout) if res.ok else None
    if parsed:
        version, evidence = parsed.full, "nvcc --version"
    elif tk and tk.version:
        version, evidence = tk.version, f"{res.describe()}; version of its toolkit ({tk.evidence})"
    else:
        version, evidence = "", res.describe()
    if tk is None and version:
        same = [t for t in toolkits if t.version == version and t.nvcc]
        tk = same[0] if len(same) == 1 else None
    return NvccInfo(
        status="ok" if version else "unknown-version",
        path=path,
        realpath=winner,
        version=version,
        toolkit_root=tk.root if tk else None,
        evidence=evidence,
        shadowed=tuple(shadowed),
    )


def cuda_home(host: Host, toolkits: list[Toolkit] | None = None) -> CudaHome:
    """``$CUDA_HOME`` (else ``$CUDA_PATH``), whether it exists and holds ``bin/nvcc``."""
    env = host.env
    set_vars = [(v, env[v]) for v in ("CUDA_HOME", "CUDA_PATH") if env.get(v)]
    if not set_vars:
        return CudaHome(variable=None, path=None)
    var, path = set_vars[0]
    nvcc = posixpath.join(path, "bin", "nvcc")
    real = host.realpath(path)
    toolkits = find_toolkits(host) if toolkits is None else toolkits
    root = next((t.root for t in toolkits if host.realpath(t.root) == real), None)
    return CudaHome(
        variable=var,
        path=path,
        exists=host.is_dir(path),
        nvcc=nvcc if host.is_file(nvcc) else None,
        toolkit_root=root,
        others=tuple(set_vars[1:]),
    )


def _is_soname(name: str) -> bool:
    """``libcublas.so.12`` / ``libcudart.so.12.4.127``: ``lib...`` then ``.so`` then only ``.N`` parts."""
    stem, sep, suffix = name.rpartition(".so")
    return bool(sep) and len(stem) > 3 and stem.startswith("lib") and _SO_SUFFIX.fullmatch(suffix) is not None


def pip_cuda_wheels(host: Host, site_packages: list[str] | None = None) -> list[PipCudaLib]:
    """pip ``nvidia-*`` wheel library dirs in the target env (``ls site-packages/nvidia/*/lib``)."""
    libs = []
    for site in site_packages if site_packages is not None else target_site_packages(host):
        majors: dict[str, int] = {}
        for dist in host.glob(posixpath.join(site, "nvidia_*.dist-info")):
            m = _WHEEL_MAJOR.match(posixpath.basename(dist))
            if m:
                majors[m.group(1).replace("-", "_")] = int(m.group(2))
        for lib_dir in host.glob(posixpath.join(site, "nvidia", "*", "lib")):
            component = posixpath.basename(posixpath.dirname(lib_dir))
            sonames = tuple(n for n in host.listdir(lib_dir) if _is_soname(n) and ".so." in n)
            if not sonames:
                continue
            major = 13 if component == "cu13" else majors.get(component)
            libs.append(PipCudaLib(component, lib_dir, sonames, major, site))
    return libs


CAPTURE = Capture(
    "cuda",
    commands=((("nvcc", "--version"), 10.0),),
    files=("/usr/local/cuda*/version.json", "/usr/local/cuda*/version.txt", "/opt/cuda*/version.json"),
    names=(
        "/usr/local/cuda*",
        "/usr/local/cuda*/bin/nvcc",
        "/usr/local/cuda*/lib64/lib*.so*",
        "/usr/local/cuda*/targets/*/lib/lib*.so*",
        "/opt/cuda*",
        "/usr/bin/nvcc",
        "/usr/lib/*-linux-gnu/libcudart.so*",
    ),
    tools=("nvcc", "conda"),
    entries=(find_toolkits, active_nvcc, pip_cuda_wheels),
)
