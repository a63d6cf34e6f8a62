"""``gputk env``: shell code that selects one CUDA toolkit, safe to source twice.

The toolkit comes from :mod:`gputk.probes.cuda` (the same discovery the doctor
uses). The generated code puts ``<toolkit>/bin`` first on PATH (moving it to
the front when it is already there further back, so a distro ``/usr/bin/nvcc``
stops winning), its lib dir first on LD_LIBRARY_PATH, and sets CUDA_HOME. It
works when a variable is unset or empty (no stray ``:``; an empty entry would
mean "the current directory") and gives the same values when sourced again.

``auto`` rule (AUTO_RULE): the newest installed toolkit whose CUDA major the
detected driver runs (the minor-version-compatibility floors of
:mod:`gputk.compat.cuda`); with no driver detected, the newest.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gputk.compat import cuda as cuda_compat
from gputk.compat.drivers import find_driver_version
from gputk.compat.version import Version, release_of
from gputk.errors import GputkError, InputError
from gputk.host import Host
from gputk.models.cuda import CudaHome, NvccInfo, PipCudaLib, Toolkit
from gputk.parsers.proc_driver import parse_proc_driver_version
from gputk.probes import cuda as cuda_probe

Shell = Literal["bash", "zsh", "fish", "sh"]
SHELLS: tuple[Shell, ...] = ("bash", "zsh", "fish", "sh")
END_MARKER = "# <<< gputk env <<<"


AUTO_RULE = (
    "auto = the newest installed toolkit whose CUDA major the driver runs "
    f"({cuda_compat.mvc_floors_text()}), or the newest when no driver is detected"
)
_KIND_RANK = {"local": 3, "conda": 2, "distro": 1, "pip": 0}
# Directories the loader searches anyway; listing them in LD_LIBRARY_PATH only reorders the search.
_SYSTEM_LIB_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64")


def begin_marker(release: str) -> str:
    return f"# >>> gputk env (cuda {release or 'unknown'}) >>>"


def default_shell(env_shell: str | None) -> Shell:
    """The shell named by ``$SHELL`` (``/bin/zsh`` -> zsh; dash, ksh, ash -> sh); bash when unset."""
    name = posixpath.basename(env_shell or "") or "bash"
    if name in ("bash", "zsh", "fish"):
        return name  # type: ignore[return-value]
    return "sh" if name in ("sh", "dash", "ksh", "mksh", "ash", "busybox") else "bash"


def default_rc_file(shell: Shell, env: Mapping[str, str]) -> str:
    """~/.bashrc, ${ZDOTDIR:-~}/.zshrc, ${XDG_CONFIG_HOME:-~/.config}/fish/config.fish, ~/.profile."""
    home = env.get("HOME") or posixpath.expanduser("~")
    if shell == "zsh":
        return posixpath.join(env.get("ZDOTDIR") or home, ".zshrc")
    if shell == "fish":
        return posixpath.join(
            env.get("XDG_CONFIG_HOME") or posixpath.join(home, ".config"), "fish", "config.fish"
        )
    return posixpath.join(home, ".profile" if shell == "sh" else ".bashrc")


def driver_version(host: Host) -> str | None:
    """The loaded NVIDIA kernel module's version (``cat /sys/module/nvidia/version``, else
    ``/proc/driver/nvidia/version``), decided by :func:`gputk.compat.drivers.find_driver_version`."""
    proc = parse_proc_driver_version(host.read_text("/proc/driver/nvidia/version") or "")
    found = find_driver_version(
        sys_module=host.read_text("/sys/module/nvidia/version"),
        proc_version=proc.version if proc else None,
    )
    return str(found) if found else None


def _driver_runs(driver: str | None, version: str) -> bool | None:
    """Does ``driver`` run toolkit ``version`` (its major's minor-version-compatibility floor)?"""
    d, v = Version.parse(driver), Version.parse(version, strict=True)
    floor = cuda_compat.mvc_floor(v.major) if v else None
    if d is None or floor is None:
        return None
    return d >= floor


@dataclass(frozen=True)
class Choice:
    """The toolkit picked, or the one planned when it is not installed."""

    version: str
    root: str
    bin_dir: str
    lib_dir: str | None
    installed: bool
    reason: str
    toolkit: Toolkit | None = None


def _from_toolkit(tk: Toolkit, reason: str) -> Choice:
    return Choice(tk.version, tk.root, tk.bin_dir, tk.lib_dir, True, reason, tk)


def _installed_list(toolkits: list[Toolkit]) -> str:
    return ", ".join(f"{t.version or '?'} ({t.root})" for t in toolkits) or "none"


def choose_toolkit(
    toolkits: list[Toolkit],
    wanted: str,
    driver: str | None,
    prefix: str | None = None,
    allow_missing: bool = False,
    prefix_toolkit: Toolkit | None = None,
) -> Choice:
    """Pick a toolkit for ``--cuda WANTED`` (``12``, ``12.3``, ``12.3.2`` or ``auto``)."""
    if wanted != "auto" and not Version.parse(wanted, strict=True):
        raise InputError(f"--cuda {wanted!r}: expected a version like 12, 12.3, 12.3.2, or auto")
    if prefix is not None:
        if prefix_toolkit is not None:
            return _from_toolkit(prefix_toolkit, f"--prefix {prefix}")
        if not allow_missing:
            raise GputkError(
                f"--prefix {prefix}: no CUDA toolkit there", "pass --allow-missing to prepare it anyway"
            )
        version = "" if wanted == "auto" else wanted
        lib = posixpath.join(prefix, "lib64")
        return Choice(
            version,
            prefix,
            posixpath.join(prefix, "bin"),
            lib,
            False,
            f"--prefix {prefix}, not installed yet",
        )
    usable = [t for t in toolkits if t.version and t.nvcc]
    if wanted == "auto":
        if not usable:
            raise GputkError(
                "no CUDA toolkit with nvcc is installed",
                "install one, or name it with --cuda X.Y --allow-missing",
            )
        fits = [t for t in usable if _driver_runs(driver, t.version) is not False]
        pool = fits or usable
        best = max(pool, key=lambda t: (t.sort_key()[0], _KIND_RANK[t.kind]))
        why = f"driver {driver}" if driver else "no driver detected"
        if driver and not fits:
            need = best.min_driver()
            why += f" is older than every toolkit's minimum; newest taken (needs {need.describe() if need else 'a newer driver'})"
        return _from_toolkit(best, f"{AUTO_RULE}; {why}")
    matches = [t for t in toolkits if t.matches(wanted)]
    if matches:
        best = max(matches, key=lambda t: (t.sort_key()[0], _KIND_RANK[t.kind], bool(t.nvcc)))
        return _from_toolkit(best, f"--cuda {wanted}")
    if not allow_missing:
        raise GputkError(
            f"CUDA {wanted} is not installed; installed: {_installed_list(toolkits)}",
            "pick an installed version, name a root with --prefix DIR, or pass --allow-missing",
        )
    root = f"/usr/local/cuda-{release_of(wanted) if '.' in wanted else wanted}"
    return Choice(
        wanted,
        root,
        f"{root}/bin",
        f"{root}/lib64",
        False,
        f"--cuda {wanted} --allow-missing: not installed yet",
    )


def cudnn_lib_dir(host: Host, path: str) -> str:
    """The directory holding ``libcudnn.so*`` under a cuDNN install (``PATH/lib64``, ``PATH/lib``, ``PATH``)."""
    for cand in (posixpath.join(path, "lib64"), posixpath.join(path, "lib"), path):
        if host.glob(posixpath.join(cand, "libcudnn.so*")):
            return posixpath.normpath(cand)
    raise InputError(f"--cudnn {path}: no libcudnn.so* in {path}, {path}/lib or {path}/lib64")


# -- rendering ---------------------------------------------------------------------


def _posix_front(var: str, directory: str) -> list[str]:
    """POSIX sh that moves ``directory`` to the front of ``$var`` (added once; no empty entries added)."""
    d = shlex.quote(directory)
    return [
        f'case ":${{{var}-}}:" in',
        f"  :{d}:*) ;;",
        f'  *) _gputk_v=":${{{var}-}}:"',
        f'     while case "$_gputk_v" in *:{d}:*) true ;; *) false ;; esac; do',
        f"       _gputk_v=${{_gputk_v%%:{d}:*}}:${{_gputk_v#*:{d}:}}",
        "     done",
        "     _gputk_v=${_gputk_v#:}; _gputk_v=${_gputk_v%:}",
        f'     {var}={d}"${{_gputk_v:+:$_gputk_v}}"',
        "     unset _gputk_v ;;",
        "esac",
        f"export {var}",
    ]


def _fish_front(var: str, directory: str) -> list[str]:
    """fish: drop an empty value, remove every copy (``contains -i``), then put it first."""
    d = shlex.quote(directory)
    return [
        f'test -z "${var}"; and set -e {var}',
        f"while contains -- {d} ${var}",
        f"    set -e {var}[(contains -i -- {d} ${var})]",
        "end",
        f"set -gx {var} {d} ${var}",
    ]


@dataclass
class EnvPlan:
    """What ``gputk env`` decided, and the code for one shell."""

    shell: Shell
    choice: Choice
    path_dirs: list[str]
    ld_dirs: list[str]
    ld_library_path: bool
    pip_wheels: list[PipCudaLib]
    driver: str | None
    comments: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    code: str = ""

    @property
    def release(self) -> str:
        return release_of(self.choice.version) or self.choice.version

    def to_dict(self) -> dict[str, Any]:
        c = self.choice
        return {
            "shell": self.shell,
            "cuda": {
                "version": c.version,
                "release": self.release,
                "root": c.root,
                "installed": c.installed,
                "kind": c.toolkit.kind if c.toolkit else None,
                "reason": c.reason,
            },
            "variables": {
                "CUDA_HOME": c.root,
                "PATH": {"prepend": self.path_dirs},
                "LD_LIBRARY_PATH": {"prepend": self.ld_dirs} if self.ld_library_path else None,
            },
            "ld_library_path": self.ld_library_path,
            "driver": self.driver,
            "pip_wheels": [w.to_dict() for w in self.pip_wheels],
            "warnings": self.warnings,
            "code": self.code,
        }


def render(plan: EnvPlan) -> str:
    """The marker-wrapped block for ``plan.shell``."""
    front = _fish_front if plan.shell == "fish" else _posix_front
    c = plan.choice
    lines = [begin_marker(plan.release)]
    lines.append(
        f"# CUDA {c.version or '(version unknown)'} at {c.root}; `gputk env --remove` takes this out"
    )
    lines += [f"# {text}" for text in plan.comments]
    if plan.shell == "fish":
        lines.append(f"set -gx CUDA_HOME {shlex.quote(c.root)}")
    else:
        lines.append(f"export CUDA_HOME={shlex.quote(c.root)}")
    for d in reversed(plan.path_dirs):
        lines += front("PATH", d)
    if plan.ld_library_path:
        for d in reversed(plan.ld_dirs):
            lines += front("LD_LIBRARY_PATH", d)
    lines.append(f"# chosen by: {c.reason}")
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def plan_env(
    host: Host,
    wanted: str = "auto",
    shell: Shell = "bash",
    prefix: str | None = None,
    allow_missing: bool = False,
    cudnn: str | None = None,
    ld_library_path: bool = True,
) -> EnvPlan:
    """Decide the toolkit and render the code (see module docstring for the rules)."""
    sites = cuda_probe.target_site_packages(host)
    toolkits = cuda_probe.find_toolkits(host, sites)
    prefix_tk = None
    if prefix is not None:
        prefix = posixpath.normpath(prefix)
        real = host.realpath(prefix)
        prefix_tk = next((t for t in toolkits if host.realpath(t.root) == real), None)
        prefix_tk = prefix_tk or cuda_probe.toolkit_at(host, prefix)
    driver = driver_version(host)
    choice = choose_toolkit(toolkits, wanted, driver, prefix, allow_missing, prefix_tk)
    plan = EnvPlan(
        shell, choice, [choice.bin_dir], [], ld_library_path, cuda_probe.pip_cuda_wheels(host, sites), driver
    )
    if prefix_tk and wanted != "auto" and not prefix_tk.matches(wanted):
        plan.warnings.append(f"--prefix {prefix} holds CUDA {prefix_tk.version or '?'}, not {wanted}")
    if not choice.installed:
        plan.warnings.append(f"{choice.root} does not exist yet; the code is for after the install")
        plan.comments.append(f"{choice.root} was not installed when this was written ({choice.reason})")
    lib_dirs = [choice.lib_dir] if choice.lib_dir and not _is_system_lib(choice.lib_dir) else []
    if cudnn:
        lib_dirs.append(cudnn_lib_dir(host, cudnn))
    plan.ld_dirs = lib_dirs
    _explain_ld(plan)
    plan.code = render(plan)
    return plan


def _is_system_lib(path: str) -> bool:
    p = path.rstrip("/")
    return p in _SYSTEM_LIB_DIRS or bool(re.match(r"^(/usr)?/lib/[^/]+-linux-gnu[^/]*$", p))


def _explain_ld(plan: EnvPlan) -> None:
    wheels = plan.pip_wheels
    comps = ", ".join(sorted({w.component for w in wheels}))
    where = wheels[0].site_packages if wheels else ""
    if not plan.ld_library_path:
        why = "LD_LIBRARY_PATH left alone (--no-ld-library-path)"
        if wheels:
            why += f": pip nvidia-* wheels in {where} ({comps}) bring their own CUDA libraries"
            why += ", and a system lib dir listed first would shadow them"
        plan.comments.append(why)
        return
    if not plan.ld_dirs:
        plan.comments.append("LD_LIBRARY_PATH left alone: the loader already searches this toolkit's lib dir")
        return
    if wheels:
        plan.warnings.append(
            f"pip nvidia-* wheels found in {where} ({comps}): putting {plan.ld_dirs[0]} first on LD_LIBRARY_PATH "
            "can shadow them and break torch/TensorFlow/JAX; pass --no-ld-library-path to leave it alone"
        )
        plan.comments.append(
            f"LD_LIBRARY_PATH gets {plan.ld_dirs[0]} though pip nvidia-* wheels ({comps}) are in {where}: "
            "it can shadow them; use --no-ld-library-path if a framework breaks"
        )


@dataclass(frozen=True)
class Listing:
    """``gputk env --list``: the toolkits, which nvcc is active, CUDA_HOME, the driver."""

    toolkits: list[Toolkit]
    nvcc: NvccInfo
    cuda_home: CudaHome
    driver: str | None

    def active(self, tk: Toolkit) -> bool:
        return self.nvcc.toolkit_root == tk.root

    def to_dict(self) -> dict[str, Any]:
        return {
            "toolkits": [{**t.to_dict(), "active": self.active(t)} for t in self.toolkits],
            "nvcc": self.nvcc.to_dict(),
            "cuda_home": self.cuda_home.to_dict(),
            "driver": self.driver,
        }


def list_toolkits(host: Host) -> Listing:
    toolkits = cuda_probe.find_toolkits(host)
    return Listing(
        toolkits,
        cuda_probe.active_nvcc(host, toolkits),
        cuda_probe.cuda_home(host, toolkits),
        driver_version(host),
    )
