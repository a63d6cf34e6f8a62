"""The root ``gputk`` app and the entry point with its error policy.

Exit codes (gputk.errors.ExitCode): 0 ok; 1 problems found or an explained
failure; 2 usage errors; 3 an unexpected internal error (one line on stderr,
the traceback in a log file); 130 on Ctrl-C. No raw traceback reaches the user.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from gputk import __version__
from gputk.errors import ExitCode, GputkError, OutputError


def _new_app() -> typer.Typer:
    new = typer.Typer(
        name="gputk",
        help="Set up, diagnose and exercise GPU machines for deep-learning work.\n\n"
        "Start with `gputk doctor`; attach `gputk report` to a bug report.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        # One help layout on a terminal and piped: click's plain formatter. It keeps \b example blocks
        # line by line, shows flags without a value, never reads `runs/<timestamp>/` as markup, prints
        # no escape codes, wraps at COLUMNS, and starts faster (no rich import).
        rich_markup_mode=None,
    )
    new.callback()(root)
    return new


# Command modules, each with ``register(app)``. Order is the order of --help.
COMMAND_MODULES = (
    "detect",
    "doctor",
    "env",
    "demo",
    "bench",
    "new",
    "train",
    "report",
    "fleet",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"gputk {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """Set up, diagnose and exercise GPU machines for deep-learning work."""


# One line per command in `gputk --help`, short enough not to be cut at 60 columns.
SHORT_HELP = {
    "detect": "List the GPUs, from every source.",
    "doctor": "Check the stack layer by layer, with fixes.",
    "env": "Shell code for a CUDA toolkit; edits rc files.",
    "demo": "Small computations, verified and timed.",
    "bench": "CPU vs GPU sweeps against measured ceilings.",
    "new": "Create a training project from a template.",
    "train": "Train a project made by `gputk new`.",
    "report": "A redacted snapshot for a bug report.",
    "fleet": "One view of many machines, from their snapshots.",
}


def build_app(names: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    """The root app with the commands ``names`` registered (all of them by default).

    A command module that fails to import is a gputk bug: it must surface, never silently
    drop a command.
    """
    new = _new_app()
    for name in names:
        importlib.import_module(f"gputk.cli.{name}").register(new)
    for cmd in new.registered_commands:
        cmd.short_help = cmd.short_help or SHORT_HELP.get(cmd.name or "")
    for group in new.registered_groups:
        group.short_help = group.short_help or SHORT_HELP.get(group.name or "")
    return new


def _listing_app() -> typer.Typer:
    """The root app with each command as a name and its one line only: enough for `gputk
    --help` and for "No such command ... Did you mean ...", without loading any command."""
    new = _new_app()
    for name in COMMAND_MODULES:
        new.command(name, help=SHORT_HELP[name], short_help=SHORT_HELP[name], add_help_option=False)(_not_loaded)
    return new


def _not_loaded() -> None:  # never runs: a command word always loads the real command
    raise RuntimeError("a listed command ran without being loaded")


def _app_for(argv: list[str], environ: Mapping[str, str]) -> typer.Typer:
    """Only the command being run is loaded (typer reads every command's signature when it
    builds the CLI); the root's help and an unknown command get the listing. The root has no
    option that takes a value, so the first word that is not an option is the command."""
    if any(k.startswith("_GPUTK_COMPLETE") for k in environ):  # shell completion walks everything
        return build_app()
    words = [i for i, a in enumerate(argv) if not a.startswith("-")]
    first = words[0] if words else len(argv)
    if first < len(argv) and argv[first] in COMMAND_MODULES and not {"-h", "--help"} & set(argv[:first]):
        return build_app((argv[first],))
    return _listing_app()


def __getattr__(name: str) -> Any:
    """``app``: the root app with every command (what tests and tools that inspect the CLI use)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)


def crash_log_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "gputk" / "logs"


def _write_crash_log(exc: BaseException) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (
        f"gputk {__version__} crashed at {stamp}\nargv: {sys.argv!r}\npython: {sys.version}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    for base in (crash_log_dir(), Path(tempfile.gettempdir()) / "gputk-logs"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            path = base / f"crash-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(no writable log directory)")


def _base(cls: type, name: str) -> type[Exception]:
    """The click-level exception class ``name`` as used by this Typer (vendored or not)."""
    for klass in cls.__mro__:
        if klass.__name__ == name and issubclass(klass, Exception):
            return klass
    return typer.TyperException


_ClickException = _base(typer.BadParameter, "ClickException")


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or a polite kill): stop the commands gputk started, then unwind as an interrupt.

    The children run in their own process groups (so a timeout can kill a whole group), which
    also means the terminal's SIGINT never reaches them: they are killed here, before the
    thread pools wait for their workers, so the interrupt ends gputk at once.
    """
    from gputk import host

    _signalled.set()
    host.stop_children()
    raise KeyboardInterrupt


_signalled = threading.Event()


def _install_signal_handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    old: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            old[sig] = signal.signal(sig, _on_signal)
    return old


def run_cli(argv: list[str] | None = None, app: typer.Typer | None = None) -> int:
    """Run the CLI and return the exit code; never raises (except SystemExit from Typer).

    ``app``: another root app to run under the same error policy (tests); by default only
    the command named in ``argv`` is loaded."""
    from gputk import host
    from gputk.cli import output

    host.allow_children()
    _signalled.clear()
    old_handlers = _install_signal_handlers()
    stdout = sys.stdout
    sys.stdout = output.GuardedStdout(stdout)
    try:
        code = _run(argv, app)
        if code == ExitCode.INTERRUPTED and _signalled.is_set():
            # Typer turns the interrupt into Exit(130) itself, silently: say it once, here.
            sys.stderr.write("\ninterrupted\n")
        return code
    finally:
        sys.stdout = stdout
        for sig, handler in old_handlers.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)


def _run(argv: list[str] | None, app: typer.Typer | None) -> int:
    from gputk.cli import output

    try:
        # Built here, under the error policy: a command module that fails to import is a bug
        # (exit 3 with a log), and Ctrl-C while it loads is an interrupt (exit 130).
        command = typer.main.get_command(app or _app_for(sys.argv[1:] if argv is None else argv, os.environ))
        rv = command.main(args=argv, prog_name="gputk", standalone_mode=False)
        sys.stdout.flush()  # a full device or a closed stdout fails here, not at exit
    except (KeyboardInterrupt, typer.Abort):
        if not _signalled.is_set():
            sys.stderr.write("\ninterrupted\n")  # the signal's own line follows in run_cli
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except _ClickException as exc:
        from gputk import ui

        code = int(exc.exit_code)  # type: ignore[attr-defined]
        ui.error(exc.format_message(), output.usage_hint(exc) if code == ExitCode.USAGE else None)  # type: ignore[attr-defined]
        return code
    except OutputError as exc:
        from gputk import ui

        output.silence_stdout()
        ui.error(exc.message, exc.hint)
        return int(exc.exit_code)
    except GputkError as exc:
        from gputk import ui

        ui.error(exc.message, exc.hint)
        return int(exc.exit_code)
    except BrokenPipeError:
        # `gputk detect | head`: the reader went away; not an error of ours.
        output.silence_stdout()
        return int(ExitCode.OK)
    except UnicodeEncodeError as exc:
        explained = output.encoding_error(exc)
        return _explained(exc, *explained) if explained else _internal(exc)
    except OSError as exc:
        # The world's failure (a full disk, a permission), not a bug: explained, exit 1.
        where = f": {exc.filename}" if exc.filename else ""
        return _explained(exc, f"{exc.strerror or exc}{where}", "details in {log}")
    except Exception as exc:
        package = output.failed_import(exc)
        if package is None:
            return _internal(exc)
        return _explained(exc, f"{package} failed to import: {exc}", output.import_hint(package))
    if isinstance(rv, int):
        return rv
    return int(ExitCode.OK)


def _internal(exc: BaseException) -> int:
    """A bug in gputk: one line, the traceback in a log file, exit 3."""
    from gputk import ui

    path = _write_crash_log(exc)
    ui.error(f"internal error: {type(exc).__name__}: {exc}", f"full traceback in {path}")
    return int(ExitCode.INTERNAL)


def _explained(exc: BaseException, message: str, hint: str) -> int:
    """A failure of the world around gputk: one line, exit 1; ``{log}`` in the hint names the log."""
    from gputk import ui

    log = str(_write_crash_log(exc)) if "{log}" in hint else ""
    ui.error(message, hint.replace("{log}", log))
    return int(ExitCode.PROBLEMS)


def main(argv: list[str] | None = None) -> None:
    from gputk.cli import output

    output.prepare_std_streams()
    sys.exit(run_cli(argv))
