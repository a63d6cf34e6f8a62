"""`gputk new`: render a template's Jinja tree into a new project.

Templates live in the ``gputk.templates`` package (the repository's ``templates/`` folder): one folder per
template with ``manifest.json`` (variables, defaults, data sets) and ``files/`` (the Jinja tree; every file
ends in ``.j2``). ``templates/_common/`` holds pieces the templates ``{% include %}``. Files are read through
``importlib.resources`` so an installed wheel works the same as a checkout.

Rendering follows copier's rules (docs/design.md habit 9): a sandboxed Jinja environment with StrictUndefined (a
missing variable is an error, never an empty string), file names are templates too (``{{hidden}}gitignore.j2``
becomes ``.gitignore``: packaging tools drop real dotfiles), and an explicit conflict policy: a destination
that exists and is not empty is refused; with ``force`` only the template's own files are written (changed
ones overwritten, identical ones left alone) and nothing else in the folder is touched or deleted. Every
file is rendered and checked before the first one is written, and the files are written into a staging
folder first (see :func:`write_project`), so a failure - a full disk, a Ctrl-C - leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gputk import __version__
from gputk.errors import GputkError, InputError, UsageError
from gputk.host import Host
from gputk.models.scaffold import (
    DataRequirement,
    Dataset,
    FileAction,
    PlannedFile,
    ScaffoldResult,
    TemplateInfo,
    Variable,
)

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11 on

ANSWERS_FILE = ".gputk.json"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def templates_root() -> Traversable:
    return resources.files("gputk.templates")


def default_device(host: Host) -> str:
    """"gpu" when the NVIDIA kernel driver shows a GPU on ``host`` (what `detect` builds on), else "cpu".

    Reads only /proc and /dev, never runs a tool: `gputk new` must stay fast on a machine with a wedged
    driver. WSL2 exposes its GPU as /dev/dxg.
    """
    if host.listdir("/proc/driver/nvidia/gpus"):
        return "gpu"
    return "gpu" if host.exists("/dev/nvidia0") or host.exists("/dev/dxg") else "cpu"


def check_name(value: str, what: str) -> str:
    """A template or data-set name: a bare lowercase word, never a path."""
    if "/" in value or "\\" in value or ".." in value or value.startswith((".", "~")) or Path(value).is_absolute():
        raise UsageError(f"{what} {value!r} is a path; give a name", hint=f"`gputk new --list` shows the {what}s")
    if not NAME_RE.match(value):
        raise UsageError(f"{what} {value!r} is not a valid name (lowercase letters, digits, - and _)")
    return value


def list_templates(root: Traversable | None = None) -> list[TemplateInfo]:
    base = root or templates_root()
    infos = []
    for child in sorted(base.iterdir(), key=lambda c: c.name):
        if child.is_dir() and not child.name.startswith(("_", ".")) and (child / "manifest.json").is_file():
            infos.append(_parse_manifest(child.name, json.loads((child / "manifest.json").read_text("utf-8"))))
    return infos


def load_template(name: str, dataset: str | None = None, root: Traversable | None = None) -> TemplateInfo:
    check_name(name, "template")
    infos = {t.name: t for t in list_templates(root)}
    if name not in infos:
        raise UsageError(f"unknown template {name!r}; valid templates: {', '.join(sorted(infos))}")
    info = infos[name]
    if dataset is not None:
        check_name(dataset, "data set")
        if info.dataset(dataset) is None:
            valid = ", ".join(d.name for d in info.datasets)
            raise UsageError(f"unknown data set {dataset!r} for template {name!r}; valid data sets: {valid}")
    return info


def _parse_manifest(name: str, raw: dict[str, Any]) -> TemplateInfo:
    variables = tuple(
        Variable(
            name=k, type=v["type"], default=v["default"], help=v.get("help", ""),
            minimum=v.get("min"), maximum=v.get("max"), choices=tuple(v.get("choices", ())),
        )
        for k, v in raw["variables"].items()
    )
    datasets = tuple(
        Dataset(
            name=k, title=d["title"], description=d["description"], defaults=dict(d.get("defaults", {})),
            classes=tuple(d["classes"]), channels=int(d["channels"]), image_size=d.get("image_size"),
            data=DataRequirement(
                present_if_all=tuple(d["data"].get("present_if_all", ())),
                present_if_any=tuple(d["data"].get("present_if_any", ())),
                download=d["data"].get("download", ""), where=d["data"].get("where", ""),
                keras_downloads=bool(d["data"].get("keras_downloads", False)),
            ),
        )
        for k, d in raw["datasets"].items()
    )
    return TemplateInfo(name=name, kind=raw.get("kind", "classifier"), description=raw["description"],
                        variables=variables, datasets=datasets)


def resolve_variables(info: TemplateInfo, dataset: Dataset, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Manifest defaults, then the data set's defaults, then the user's options (None = not given)."""
    known = {v.name: v for v in info.variables}
    for key, value in overrides.items():
        if value is not None and key not in known:
            raise UsageError(f"--{key.replace('_', '-')} does not apply to the {info.name} template")
    values: dict[str, Any] = {}
    for var in info.variables:
        given = overrides.get(var.name)
        value = given if given is not None else dataset.defaults.get(var.name, var.default)
        values[var.name] = _check_value(var, value)
    return values


def _check_value(var: Variable, value: Any) -> Any:
    flag = "--" + var.name.replace("_", "-")
    if var.type == "choice":
        if value not in var.choices:
            raise UsageError(f"{flag} {value!r} is not one of: {', '.join(var.choices)}")
        return value
    if var.type == "bool":
        return bool(value)
    number = int(value) if var.type == "int" else float(value)
    if (var.minimum is not None and number < var.minimum) or (var.maximum is not None and number > var.maximum):
        raise UsageError(f"{flag} {value} is out of range ({var.minimum:g} to {var.maximum:g})")
    return number


# Keras 3 runs several training processes only on JAX (docs/templates.md, "Multi-worker training").
MULTI_WORKER_BACKENDS = ("jax",)


def check_workers(variables: Mapping[str, Any]) -> None:
    """``workers`` > 1 needs the jax backend and a global batch that splits evenly over the workers."""
    workers = int(variables.get("workers", 1))
    if workers <= 1:
        return
    backend = variables.get("backend")
    if backend not in MULTI_WORKER_BACKENDS:
        why = ("Keras 3's fit() does not run under TensorFlow's MultiWorkerMirroredStrategy"
               if backend == "tensorflow" else "Keras 3 has no multi-process runtime for torch")
        raise UsageError(f"--workers {workers} needs --backend jax: {why}",
                         hint="add --backend jax, or leave --workers at 1 (one process still uses every GPU "
                         "of its machine)")
    batch = int(variables.get("batch_size", 0))
    if batch % workers:
        raise UsageError(f"--batch-size {batch} is the global batch and must split evenly over {workers} workers",
                         hint=f"use a multiple of {workers}, e.g. --batch-size {workers * max(batch // workers, 1)}")


class _TraversableLoader:
    """A Jinja loader over importlib.resources Traversables (a wheel's files, not only a folder)."""

    def __init__(self, roots: list[Traversable]) -> None:
        self.roots = roots

    def make(self) -> Any:
        from jinja2 import BaseLoader, TemplateNotFound
        from jinja2.loaders import split_template_path

        roots = self.roots

        class Loader(BaseLoader):
            def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Callable[[], bool]]:
                parts = split_template_path(template)  # raises TemplateNotFound on '..'
                for root in roots:
                    node = root
                    for part in parts:
                        node = node / part
                    if node.is_file():
                        return node.read_text("utf-8"), None, lambda: True
                raise TemplateNotFound(template)

        return Loader()


def _environment(template_dir: Traversable, root: Traversable) -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=_TraversableLoader([template_dir / "files", root]).make(),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def build_context(info: TemplateInfo, dataset: Dataset, variables: dict[str, Any], project_name: str) -> dict[str, Any]:
    ctx: dict[str, Any] = dict(variables)
    if dataset.image_size is not None:
        ctx["image_size"] = dataset.image_size
    ctx.update(
        template=info.name, kind=info.kind, dataset=dataset.name, dataset_title=dataset.title,
        classes=list(dataset.classes), num_classes=len(dataset.classes), channels=dataset.channels,
        data={k: getattr(dataset.data, k) for k in ("download", "where", "keras_downloads")},
        gputk_version=__version__, project_name=project_name, hidden=".",
    )
    return ctx


def render_tree(
    info: TemplateInfo, context: dict[str, Any], root: Traversable | None = None
) -> dict[str, str]:
    """Every file of the template rendered: {relative path: text}. Raises GputkError on template errors."""
    from jinja2 import TemplateError, UndefinedError

    base = root or templates_root()
    template_dir = base / info.name
    env = _environment(template_dir, base)
    rendered: dict[str, str] = {}

    def walk(node: Traversable, rel: tuple[str, ...], out_rel: tuple[str, ...]) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                walk(child, (*rel, child.name), (*out_rel, _render_name(env, child.name, context)))
            elif child.name.endswith(".j2"):
                out_name = _render_name(env, child.name[: -len(".j2")], context)
                name = "/".join((*rel, child.name))
                rendered["/".join((*out_rel, out_name))] = env.get_template(name).render(context)

    try:
        walk(template_dir / "files", (), ())
    except UndefinedError as exc:
        raise GputkError(f"template {info.name!r} uses an undefined variable: {exc.message}") from exc
    except TemplateError as exc:
        raise GputkError(f"template {info.name!r} failed to render: {exc}") from exc
    return rendered


def _render_name(env: Any, name: str, context: dict[str, Any]) -> str:
    """A templated file name; the result must be one plain path component inside the project."""
    out = str(env.from_string(name).render(context)) if "{" in name else name
    if not out or out in (".", "..") or "/" in out or "\\" in out or "\0" in out:
        raise GputkError(f"template file name {name!r} renders to {out!r}, which is not a file name")
    return out


def answers(info: TemplateInfo, dataset: Dataset, variables: dict[str, Any], files: dict[str, str]) -> str:
    """The ``.gputk.json`` answers file: what generated this project (``gputk train`` reads it)."""
    data = dataset.data
    doc = {
        "generator": f"gputk {__version__}",
        "template": info.name,
        "kind": info.kind,
        "dataset": dataset.name,
        "dataset_title": dataset.title,
        "variables": variables,
        "data": {
            "present_if_all": list(data.present_if_all), "present_if_any": list(data.present_if_any),
            "download": data.download, "where": data.where, "keras_downloads": data.keras_downloads,
        },
        "files": {p: hashlib.sha256(t.encode()).hexdigest() for p, t in sorted(files.items())},
    }
    return json.dumps(doc, indent=2) + "\n"


def plan_files(dest: Path, files: dict[str, str], force: bool) -> list[PlannedFile]:
    """What writing ``files`` into ``dest`` would do; refuses a non-empty dest unless ``force``."""
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise InputError(
            f"{dest} exists and is not empty; nothing written",
            hint="pick another DEST, or --force to overwrite only the template's files (nothing else is touched)",
        )
    planned = []
    for rel, text in sorted(files.items()):
        target = dest / rel
        data = text.encode("utf-8")
        action: FileAction = "create"
        if target.is_dir() or (target.exists() and not target.is_file()):
            raise InputError(f"{target} is in the way of a template file and is not a regular file; nothing written")
        if target.is_symlink():
            raise InputError(f"{target} is a symbolic link; refusing to write through it; nothing written")
        if target.is_file():
            action = "identical" if target.read_bytes() == data else "overwrite"
        planned.append(PlannedFile(path=rel, action=action, size=len(data)))
    return planned


def scaffold(
    template: str,
    dataset: str,
    dest: Path | None,
    overrides: Mapping[str, Any],
    *,
    force: bool = False,
    dry_run: bool = False,
    root: Traversable | None = None,
    on_file: Callable[[PlannedFile], None] | None = None,
) -> ScaffoldResult:
    """Render ``template`` for ``dataset`` into ``dest`` (default: ./<dataset>)."""
    info = load_template(template, dataset, root)
    ds = info.dataset(dataset)
    assert ds is not None  # load_template checked it
    target = dest if dest is not None else Path(dataset)
    variables = resolve_variables(info, ds, overrides)
    check_workers(variables)
    project_name = target.resolve().name or dataset
    files = render_tree(info, build_context(info, ds, variables, project_name), root)
    files[ANSWERS_FILE] = answers(info, ds, variables, files)
    planned = plan_files(target, files, force)
    if not dry_run:
        write_project(target, files, planned)
    if on_file is not None:
        for item in planned:
            on_file(item)
    return ScaffoldResult(
        template=info.name, dataset=ds.name, dest=str(target), variables=variables,
        files=tuple(planned), dry_run=dry_run,
    )


STAGING_PREFIX = ".gputk-new-"


def write_project(dest: Path, files: dict[str, str], planned: list[PlannedFile]) -> None:
    """Write the planned files so that a failure at any point leaves nothing half-written.

    A new project is rendered into a temporary sibling of ``dest`` and renamed into place in one step.
    With ``--force`` into an existing folder, the changed files are staged in a hidden folder inside
    ``dest`` (same file system, so the renames cannot fail for lack of space) and each is renamed over its
    old name: a file hardlinked elsewhere gets a new inode instead of being written through, and an
    interruption leaves each file either old or new, never truncated. Missing parent folders are created
    and removed again on failure.
    """
    changed = [item for item in planned if item.action != "identical"]
    fresh = not dest.is_dir()
    if not changed:
        return
    created = _make_parents(dest.parent)
    staging_parent = dest.parent if fresh else dest
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=staging_parent))
    except OSError as exc:
        _remove_dirs(created)
        raise InputError(f"cannot write into {staging_parent}: {exc.strerror or exc}; nothing written") from None
    try:
        for item in changed:
            _write_new(staging / item.path, files[item.path].encode("utf-8"))
        if fresh:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(staging, 0o777 & ~mask)
            os.rename(staging, dest)
        else:
            for item in changed:
                target = dest / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):  # keep the mode of a file being replaced
                    os.chmod(staging / item.path, stat.S_IMODE(target.stat().st_mode))
                os.replace(staging / item.path, target)
            shutil.rmtree(staging)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        _remove_dirs(created)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write the project into {dest}: {exc.strerror or exc}; nothing written",
                             hint="free some space or pick another DEST") from None
        raise


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created (deepest first)."""
    missing: list[Path] = []
    node = folder
    while not node.exists() and node != node.parent:
        missing.append(node)
        node = node.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {folder}: {exc.strerror or exc}; nothing written") from None
    return missing


def _remove_dirs(dirs: list[Path]) -> None:
    for folder in dirs:
        with contextlib.suppress(OSError):
            folder.rmdir()

