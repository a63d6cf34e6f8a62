"""``gputk env``: shell code for one CUDA toolkit; ``--list``; ``--write`` into an rc file."""

from __future__ import annotations

import os
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
--write edits the shell's rc file in place (backup, atomic, locked); --remove takes the block out.
auto = the newest installed toolkit whose CUDA major the driver runs, or the newest when no driver
is detected.

Examples:

\b
    gputk env --cuda 12.3 >> ~/.bashrc
    eval "$(gputk env --cuda 12)"
    gputk env --cuda auto --write            # edits ~/.bashrc (or the rc file of $SHELL)
    gputk env --remove ~/.zshrc
    gputk env --list
    gputk env --cuda 12.4 --no-ld-library-path --shell fish
"""


def env(
    file: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Argument(help="With --write/--remove: the rc file (default: the shell's).", show_default=False),
    ] = None,
    cuda: Annotated[str, typer.Option("--cuda", help=_AUTO_HELP, metavar="VERSION")] = "auto",
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
        bool, typer.Option("--write", help="Edit FILE (default: the shell's rc file) instead of printing.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="With --write: take the gputk block out of FILE.")
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
    from gputk.errors import InputError
    from gputk.services import env as svc

    if remove and not write:
        write = True
    if file is not None and not write:
        raise InputError(f"unexpected argument {file}: an rc file is only taken with --write or --remove")
    host = make_host(snapshot)
    if list_:
        listing = svc.list_toolkits(host)
        if json_out:
            ui.print_json("env", listing.to_dict())
        else:
            _print_listing(listing)
        return 0
    sh = _shell(shell, os.environ.get("SHELL") if snapshot is None else host.env.get("SHELL"))
    if write and remove:
        return _remove(svc.default_rc_file(sh, os.environ) if file is None else str(file), json_out)
    plan = svc.plan_env(host, cuda, sh, prefix, allow_missing, cudnn, not no_ld)
    for w in plan.warnings:
        ui.warn(w)
    if write:
        if snapshot is not None:
            raise InputError("--write edits this machine's rc file; it does not combine with --snapshot")
        from gputk.services import rcfile

        change = rcfile.write_block(
            svc.default_rc_file(sh, os.environ) if file is None else str(file), plan.code
        )
        _report(change, json_out, plan.to_dict())
        return 0
    if json_out:
        ui.print_json("env", plan.to_dict())
    else:
        ui.note(f"CUDA {plan.choice.version or '?'} at {plan.choice.root} ({plan.choice.reason})")
        sys.stdout.write(plan.code)
    return 0


def _shell(name: str | None, env_shell: str | None) -> Shell:
    from gputk.errors import InputError
    from gputk.services.env import SHELLS, default_shell

    if name is None:
        return default_shell(env_shell)
    for s in SHELLS:
        if s == name:
            return s
    raise InputError(f"--shell {name!r}: expected one of {', '.join(SHELLS)}")


def _remove(path: str, json_out: bool) -> int:
    from gputk.services import rcfile

    _report(rcfile.remove_block(path), json_out, {})
    return 0


def _report(change: RcChange, json_out: bool, extra: dict[str, object]) -> None:
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
    header = ("version", "kind", "path", "nvcc", "links", "min driver", "active")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        sys.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")
    nv = listing.nvcc
    if nv.status == "not-found":
        ui.note("no nvcc on PATH")
    else:
        ui.note(f"nvcc on PATH: {nv.path} ({nv.version or 'version unknown'})")
        for other in nv.shadowed:
            ui.note(f"  shadowed: {other}")


def register(app: typer.Typer) -> None:
    app.command("env", help=HELP)(env)
