"""``gputk train``: train a project made by ``gputk new``, with live progress and GPU use."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from gputk.cli.common import JsonOpt

if TYPE_CHECKING:
    from gputk.models.scaffold import TrainResult
    from gputk.services.train import Device
    from gputk.services.train_python import Interpreter


class TrainDevice(str, enum.Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def _epoch_line(event: dict[str, Any]) -> str:
    parts = [f"{event.get('epoch')}/{event.get('epochs')}"]
    if "g_loss" in event:  # the GAN: generator loss, discriminator loss and accuracy
        parts += [f"G loss {_fmt(event.get('g_loss'), '.4f')}", f"D loss {_fmt(event.get('d_loss'), '.4f')}",
                  f"D accuracy {_fmt(event.get('d_accuracy'), '.3f')}"]
    else:
        parts.append(f"loss {_fmt(event.get('loss'), '.4f')}")
    if "accuracy" in event:
        parts.append(f"accuracy {_fmt(event.get('accuracy'), '.3f')}")
    if "val_accuracy" in event:
        parts.append(f"val_accuracy {_fmt(event.get('val_accuracy'), '.3f')}")
    parts.append(f"{_fmt(event.get('images_per_sec'), ',.0f')} images/s")
    parts.append(f"{_fmt(event.get('seconds'), '.1f')} s")
    return "  ".join(parts)


def _show_event(event: dict[str, Any]) -> None:
    from gputk import ui

    kind = event.get("event")
    if kind == "start":
        gpus = event.get("gpus") or []
        where = ", ".join(gpus) if gpus else "CPU"
        resumed = f", resuming after epoch {event.get('initial_epoch')}" if event.get("resumed_from") else ""
        ui.action("start", f"{event.get('template')} {event.get('dataset')} on {event.get('backend')} ({where}), "
                  f"{event.get('train_size')} training images{resumed}")
    elif kind == "epoch":
        ui.action("epoch", _epoch_line(event))
    elif kind == "interrupted":
        ui.action("stopped", f"last checkpoint kept: {event.get('checkpoint') or 'none yet'}")


def _render(result: TrainResult, json_out: bool) -> int:
    from gputk import ui
    from gputk.errors import GputkError

    if json_out:
        ui.print_json("train", result.to_dict())
    else:
        gan = any("g_loss" in e for e in result.epochs)
        keys = ("g_loss", "d_loss", "d_accuracy") if gan else ("loss", "accuracy", "val_accuracy")
        heads = ["G loss", "D loss", "D accuracy"] if gan else ["loss", "accuracy", "val accuracy"]
        rows = [
            (e.get("epoch"), *(_fmt(e.get(k), ".4f" if "loss" in k else ".3f") for k in keys),
             _fmt(e.get("seconds"), ".1f"), _fmt(e.get("images_per_sec"), ",.0f"))
            for e in result.epochs
        ]
        if rows:
            ui.print_table(["epoch", *heads, "seconds", "images/s"], rows)
        g = result.gpu
        if g.source:
            ui.note(f"GPU: mean utilisation {_fmt(g.mean_utilization_pct, '.0f')}%, peak memory "
                    f"{_fmt(g.peak_memory_mib, ',.0f')} MiB ({g.samples} NVML samples)")
        if result.run_dir:
            ui.note(f"run folder: {result.run_dir}")
    if result.interrupted:
        return 130
    if result.returncode != 0:
        if result.failure:
            raise GputkError(f"training failed: {result.failure}; last lines of {result.log_path or 'its log'}:\n"
                             f"{result.error_tail}", hint="each worker's log is in the run folder (train.log, "
                             "train-worker1.log, ...)")
        if not result.run_dir:
            raise GputkError(
                f"training never started (exit {result.returncode}); no run folder kept; last lines of its "
                f"output:\n{result.error_tail}",
                hint="run `python train.py --synthetic --epochs 1` in the project to see the whole output",
            )
        raise GputkError(
            f"training failed (exit {result.returncode}); last lines of {result.log_path}:\n{result.error_tail}",
            hint=f"the whole log is {result.log_path}",
        )
    return 0


def train(
    directory: Annotated[Path, typer.Argument(help="The project folder (made by `gputk new`).")] = Path("."),
    epochs: Annotated[
        Optional[int], typer.Option("--epochs", min=1, metavar="N", help="Override the project's epochs.")  # noqa: UP045
    ] = None,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="Train on generated data of the right shape.")
    ] = False,
    synthetic_size: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--synthetic-size", min=1, metavar="N", help="How many generated training images (with --synthetic)."
        ),
    ] = None,
    device: Annotated[TrainDevice, typer.Option("--device", help="auto, cpu (hide GPUs) or gpu (require one).")]
    = TrainDevice.auto,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the newest run's last checkpoint.")
    ] = False,
    python: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--python", help="Interpreter with keras (default: $GPUTK_PYTHON, the active venv, "
                     "python3 on PATH, or gputk's own when only it has keras)."),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--workers", min=1, metavar="N", help="Training processes on this machine (JAX backend; "
                     "default: [distribution] workers in config.toml)."),
    ] = None,
    preflight: Annotated[
        bool, typer.Option("--preflight", help="Only check that all workers can all-reduce, within --timeout.")
    ] = False,
    coordinator: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--coordinator", metavar="HOST:PORT", help="Worker 0's address (default 127.0.0.1 and a "
                     "free port)."),
    ] = None,
    timeout: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--timeout", min=1, metavar="SECONDS", help="Stop every worker after this long (--preflight: "
                     "default 60)."),
    ] = None,
    json_out: JsonOpt = False,
) -> int:
    """Train a generated project: live epochs, GPU use, and runs/<timestamp>/ with metrics and plots.

    Examples:

    \b
        gputk train cifar10 --synthetic --epochs 1
        gputk train my-cats --device gpu
        gputk train . --json
        gputk train cifar10 --resume
        gputk train cifar10 --workers 2 --preflight
        gputk train cifar10 --workers 2 --synthetic --epochs 1
    """
    from gputk import ui
    from gputk.host import LiveHost
    from gputk.services import train_workers
    from gputk.services.train import read_project, run_training
    from gputk.services.train_python import choose

    read_project(directory)
    host = LiveHost()
    interpreter = choose(host, python)
    ui.note(f"python: {interpreter.path} ({interpreter.why})")
    count = workers if workers is not None else train_workers.configured_workers(directory)
    if preflight:
        return _preflight(directory, interpreter, count, device.value, coordinator, timeout, json_out)
    if workers is not None or count > 1 or coordinator or timeout:  # --workers 1 overrides config.toml's count too
        result = train_workers.run_workers(
            directory, python=interpreter, workers=count, epochs=epochs, synthetic=synthetic, device=device.value,
            synthetic_size=synthetic_size, resume=resume, coordinator=coordinator, timeout=timeout,
            on_event=_show_event, on_note=ui.note, host=host,
        )
    else:
        result = run_training(
            directory, python=interpreter, epochs=epochs, synthetic=synthetic, device=device.value,
            synthetic_size=synthetic_size, resume=resume, on_event=_show_event, on_note=ui.note, host=host,
        )
    return _render(result, json_out)


def _preflight(directory: Path, interpreter: Interpreter, workers: int, device: Device, coordinator: str | None,
               timeout: float | None, json_out: bool) -> int:
    from gputk import ui
    from gputk.host import LiveHost
    from gputk.services import train_workers

    done = train_workers.run_preflight(directory, python=interpreter, workers=workers, device=device,
                                       coordinator=coordinator, host=LiveHost(),
                                       timeout=timeout or train_workers.PREFLIGHT_TIMEOUT_S)
    if json_out:
        ui.print_json("train", {"preflight": done})
    else:
        ui.action("ok", f"{done['workers']} workers all-reduced through {done['coordinator']} "
                  f"({done['backend']}) in {done['seconds']:.1f} s")
    return 0


def register(app: typer.Typer) -> None:
    app.command("train")(train)
