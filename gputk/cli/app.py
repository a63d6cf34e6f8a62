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
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import typer

from gputk import __version__
from gputk.errors import ExitCode, GputkError


def _rich_help() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


app = typer.Typer(
    name="gputk",
    help="Set up, diagnose and exercise GPU machines for deep-learning work.\n\n"
    "Start with `gputk doctor`; attach `gputk report` to a bug report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Rich help on a terminal; plain (and faster to start: no rich.console) when piped or NO_COLOR.
    rich_markup_mode="markdown" if _rich_help() else None,
)

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
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"gputk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """Set up, diagnose and exercise GPU machines for deep-learning work."""


# A command module that fails to import is a gputk bug: it must surface, never silently drop a command.
for _name in COMMAND_MODULES:
    importlib.import_module(f"gputk.cli.{_name}").register(app)


def crash_log_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "gputk" / "logs"


def _write_crash_log(exc: BaseException) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = f"gputk {__version__} crashed at {stamp}\nargv: {sys.argv!r}\npython: {sys.version}\n\n" + "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__)
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


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; never raises (except SystemExit from Typer)."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="gputk", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("\ninterrupted\n")
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except _ClickException as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except GputkError as exc:
        from gputk import ui

        ui.error(exc.message, exc.hint)
        return int(exc.exit_code)
    except BrokenPipeError:
        # `gputk detect | head`: the reader went away; not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return int(ExitCode.OK)
    except Exception as exc:
        from gputk import ui

        path = _write_crash_log(exc)
        ui.error(f"internal error: {type(exc).__name__}: {exc}", f"full traceback in {path}")
        return int(ExitCode.INTERNAL)
    if isinstance(rv, int):
        return rv
    return int(ExitCode.OK)


def main(argv: list[str] | None = None) -> None:
    sys.exit(run_cli(argv))
