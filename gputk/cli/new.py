"""``gputk new``: scaffold a CNN or GAN training project from a template."""

from __future__ import annotations

import enum
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gputk.cli.common import JsonOpt

if TYPE_CHECKING:
    from gputk.models.scaffold import TemplateInfo


class Device(str, enum.Enum):
    cpu = "cpu"
    gpu = "gpu"


class Backend(str, enum.Enum):
    tensorflow = "tensorflow"
    torch = "torch"
    jax = "jax"


def new(
    template: Annotated[Optional[str], typer.Argument(help="Template: cnn or gan (see --list).")] = None,  # noqa: UP045
    dataset: Annotated[Optional[str], typer.Argument(help="Data set: catsdogs, cifar10 (cnn); mnist (gan).")] = None,  # noqa: UP045
    dest: Annotated[Optional[Path], typer.Argument(help="Project folder (default: ./DATASET).")] = None,  # noqa: UP045
    list_: Annotated[bool, typer.Option("--list", help="Show the templates and their data sets.")] = False,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Training epochs.")] = None,  # noqa: UP045
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Images per step.")] = None,  # noqa: UP045
    image_size: Annotated[
        Optional[int], typer.Option("--image-size", help="Input side in pixels (cnn only).")  # noqa: UP045
    ] = None,
    mixed_precision: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--mixed-precision/--no-mixed-precision", help="float16 compute on GPUs."),
    ] = None,
    backend: Annotated[
        Optional[Backend], typer.Option("--backend", help="Keras 3 backend (default tensorflow).")  # noqa: UP045
    ] = None,
    device: Annotated[
        Optional[Device],  # noqa: UP045
        typer.Option("--device", help="Machine the project is for: cpu or gpu build in requirements.txt "
                     "(default: gpu when the NVIDIA driver shows a GPU here)."),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--workers", metavar="N", help="Training processes, usually one per machine (cnn, "
                     "--backend jax); --batch-size is the global batch."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty DEST (only the template's files).")
    ] = False,
    json_out: JsonOpt = False,
) -> int:
    """Create a standalone Keras 3 training project from a template.

    Examples:

    \b
        gputk new --list
        gputk new cnn cifar10
        gputk new cnn catsdogs my-cats --epochs 10
        gputk new gan mnist --backend torch --dry-run
        gputk new cnn cifar10 --device cpu
        gputk new cnn cifar10 --backend jax --workers 2
    """
    from gputk import ui
    from gputk.errors import UsageError
    from gputk.host import LiveHost
    from gputk.services import scaffold as svc

    if list_:
        infos = svc.list_templates()
        if json_out:
            ui.print_json("new", {"templates": [_template_json(t) for t in infos]})
        else:
            rows = [(t.name, d.name, d.description) for t in infos for d in t.datasets]
            ui.print_table(["template", "data set", "what"], rows)
        return 0
    if template is None or dataset is None:
        names = ", ".join(f"{t.name} {d.name}" for t in svc.list_templates() for d in t.datasets)
        raise UsageError("name a template and a data set", hint=f"one of: {names} (or `gputk new --list`)")
    overrides = {
        "epochs": epochs,
        "batch_size": batch_size,
        "image_size": image_size,
        "mixed_precision": mixed_precision,
        "backend": backend.value if backend is not None else None,
        "device": device.value if device is not None else svc.default_device(LiveHost()),
        "workers": workers,
    }
    verb = {"create": "create", "overwrite": "overwrite", "identical": "identical"}
    result = svc.scaffold(
        template, dataset, dest, overrides, force=force, dry_run=dry_run,
        on_file=lambda f: ui.action(("would " if dry_run else "") + verb[f.action], f.path),
    )
    if json_out:
        ui.print_json("new", result.to_dict())
    elif dry_run:
        ui.note(f"dry run: nothing written to {result.dest}")
    else:
        ui.note(f"next: cd {shlex.quote(result.dest)} && python -m pip install -r requirements.txt && "
                "gputk train --synthetic --epochs 1   (or: python train.py)")
    return 0


def _template_json(info: TemplateInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "kind": info.kind,
        "description": info.description,
        "variables": {v.name: {"type": v.type, "default": v.default, "help": v.help} for v in info.variables},
        "datasets": [
            {"name": d.name, "title": d.title, "description": d.description, "defaults": d.defaults}
            for d in info.datasets
        ],
    }


def register(app: typer.Typer) -> None:
    app.command("new", no_args_is_help=False)(new)
