"""``gputk env``: shell code for one CUDA toolkit; ``--list``; ``--write`` into an rc file."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gputk.cli.common import JsonOpt, SnapshotOpt, make_host

if TYPE_CHECKING:
    from gputk.services.env import Listing, Shell
    from gputk.services.rcfile import RcChange

_AUTO_HELP = (
    "Toolkit version: 12, 12.3, 12.3.2, or auto. auto = the newest installed toolkit whose CUDA major "
    "the driver runs (its minor-version-compatibility floor; --list shows each toolkit's minimum driver), "
    "or the newest when no driver is detected."
)


HELP = """Print shell code that selects a CUDA toolkit: PATH, LD_LIBRARY_PATH, CUDA_HOME.

Only shell code goes to stdout (messages go to stderr); sourcing it twice changes nothing.
--write puts it into the shell's rc file (or FILE) in place, with a backup; --remove takes it
out again, byte for byte. Both print the `source` line to run next.
auto = the newest installed toolkit whose CUDA major the driver runs, or the newest when no driver
is detected.

Examples:

\b
    gputk env --cuda 12.3 >> ~/.bashrc
    eval "$(gputk env --cuda 12)"
    gputk env --cuda auto --write     # ~/.bashrc
    gputk env --remove ~/.zshrc
    gputk env --list
    gputk env --cuda 12.4 --shell fish
"""

_VERSION = re.compile(r"auto|\d{1,3}(\.\d{1,4}){0,2}")


def _cuda_value(value: str) -> str:
    """--cuda is checked before anything runs: a version of at most three short numbers, or auto."""
    if not _VERSION.fullmatch(value):
        shown = value if len(value) <= 24 else f"{value[:20]}... ({len(value)} characters)"
        raise typer.BadParameter(f"{shown!r}: expected a version like 12, 12.3, 12.3.2, or auto")
    return value


def env(
    file: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Argument(
            help="With --write/--remove: the rc file (default: the shell's).", show_default=False, metavar="FILE"
        ),
    ] = None,
    cuda: Annotated[
        str, typer.Option("--cuda", help=_AUTO_HELP, metavar="VERSION", callback=_cuda_value)
    ] = "auto",
    prefix: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--prefix",
            help="Use the toolkit rooted at DIR (may be absent with --allow-missing).",
            metavar="DIR",
        ),
    ] = None,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="Write the code even if the toolkit is not installed yet.")
    ] = False,
    shell: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--shell", help="bash, zsh, fish or sh (default: from $SHELL).", metavar="SHELL"),
    ] = None,
    cudnn: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--cudnn", help="A cuDNN install outside the toolkit (its root or lib dir).", metavar="PATH"
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the installed toolkits and which is active.")
    ] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Put the code into FILE (default: the shell's rc file) instead of printing it.")
    ] = False,
    remove: Annotated[
        bool,
        typer.Option("--remove", help="Take the gputk block out of FILE (default: the shell's rc file)."),
    ] = False,
    no_ld: Annotated[
        bool,
        typer.Option(
            "--no-ld-library-path",
            help="Leave LD_LIBRARY_PATH alone (when pip nvidia-* wheels must not be shadowed).",
        ),
    ] = False,
    json_out: JsonOpt = False,
    snapshot: SnapshotOpt = None,
) -> int:
    """``gputk env`` (see HELP): a thin adapter over gputk.services.env and gputk.services.rcfile."""
    from gputk import ui
    from gputk.services import env as svc

    _check_combination(file, list_, write, remove, snapshot)
    host = make_host(snapshot)
    if list_:
        listing = svc.list_toolkits(host)
        if json_out:
            ui.print_json("env", listing.to_dict())
        else:
            _print_listing(listing)
        return 0
    sh = _shell(shell, os.environ.get("SHELL") if snapshot is None else host.env.get("SHELL"))
    rc_file = str(file) if file is not None else svc.default_rc_file(sh, os.environ)
    if remove:
        from gputk.services import rcfile

        _report(rcfile.remove_block(rc_file), json_out, {}, sh)
        return 0
    plan = svc.plan_env(host, cuda, sh, prefix, allow_missing, cudnn, not no_ld)
    for w in plan.warnings:
        ui.warn(w)
    if write:
        from gputk.services import rcfile

        _report(rcfile.write_block(rc_file, plan.code), json_out, plan.to_dict(), sh)
        return 0
    if json_out:
        ui.print_json("env", plan.to_dict())
    else:
        ui.note(f"CUDA {plan.choice.version or '?'} at {plan.choice.root} ({plan.choice.reason})")
        sys.stdout.write(plan.code)
    return 0


def _check_combination(
    file: Path | None, list_: bool, write: bool, remove: bool, snapshot: Path | None
) -> None:
    """Flags that cannot go together are a usage error (exit 2), before anything is read."""
    from gputk.errors import UsageError

    if list_ and (write or remove or file is not None):
        raise UsageError("--list does not combine with --write, --remove or a FILE")
    if file is not None and not (write or remove):
        raise UsageError(
            f"unexpected argument {file}: an rc file is only taken with --write or --remove",
            f"gputk env --write {file}",
        )
    if snapshot is not None and (write or remove):
        raise UsageError("--write and --remove edit this machine's rc file; they do not combine with --snapshot")


def _shell(name: str | None, env_shell: str | None) -> Shell:
    from gputk.errors import UsageError
    from gputk.services.env import SHELLS, default_shell

    if name is None:
        return default_shell(env_shell)
    for s in SHELLS:
        if s == name:
            return s
    raise UsageError(f"--shell {name!r}: expected one of {', '.join(SHELLS)}")


def _report(change: RcChange, json_out: bool, extra: dict[str, object], shell: Shell) -> None:
    from gputk import ui

    if json_out:
        ui.print_json("env", {**extra, "rc_file": change.to_dict()})
    where = change.path if change.path == change.target else f"{change.path} -> {change.target}"
    words = {
        "created": "created with the gputk block",
        "appended": "gputk block appended",
        "replaced": "gputk block replaced",
        "unchanged": "already up to date; nothing changed",
        "removed": "gputk block removed",
        "absent": "no gputk block; nothing changed",
    }
    ui.action(change.action if change.changed else "skip", f"{where}: {words[change.action]}")
    if change.removed_duplicates:
        ui.note(f"removed {change.removed_duplicates} extra gputk block(s)")
    if change.backup:
        ui.note(f"previous content kept in {change.backup}")
    if change.action == "absent":
        return
    if change.action == "removed":
        ui.note("open a new terminal: this one keeps the CUDA settings it already has")
        return
    ui.note(f"next, to use it in this terminal: {source_line(shell, change.path)}")


def source_line(shell: Shell, path: str) -> str:
    """The command that reads ``path`` into the running shell: ``source ~/.bashrc``, ``. ~/.profile``."""
    import shlex

    home = os.path.expanduser("~").rstrip("/")
    path = os.path.abspath(path)
    rest = path[len(home) + 1 :] if home and path.startswith(home + "/") else ""
    shown = "~/" + rest if rest and shlex.quote(rest) == rest else shlex.quote(path)
    return f"{'.' if shell == 'sh' else 'source'} {shown}"


def _print_listing(listing: Listing) -> None:
    from gputk import ui

    rows = [
        (
            t.version or "?",
            t.kind,
            t.root,
            t.nvcc or "-",
            ", ".join(t.links) or "-",
            str(t.min_driver() or "?"),
            "yes" if listing.active(t) else "",
        )
        for t in listing.toolkits
    ]
    if not rows:
        ui.note("no CUDA toolkit found")
        return
    # Plain aligned columns, not a rich table: paths must not be folded (they get copy-pasted).
    # When the columns do not fit the width, one block per toolkit instead, a field per line.
    header = ("version", "kind", "path", "nvcc", "links", "min driver", "active")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    if sum(widths) + 2 * (len(widths) - 1) <= ui.out().width:
        for r in (header, *rows):
            sys.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")
    else:
        for i, (version, kind, path, nvcc, links, min_driver, active) in enumerate(rows):
            sys.stdout.write(("\n" if i else "") + f"{version}  {kind}" + ("  active" if active else "") + "\n")
            for label, value in (("path", path), ("nvcc", nvcc), ("links", links), ("driver", f">= {min_driver}")):
                sys.stdout.write(f"  {label + ':':<8}{value}\n")
    nv = listing.nvcc
    if nv.status == "not-found":
        ui.note("no nvcc on PATH")
    else:
        ui.note(f"nvcc on PATH: {nv.path} ({nv.version or 'version unknown'})")
        for other in nv.shadowed:
            ui.note(f"  shadowed: {other}")


def register(app: typer.Typer) -> None:
    app.command("env", help=HELP)(env)
