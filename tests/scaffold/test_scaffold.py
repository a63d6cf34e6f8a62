"""gputk new: rendering, dry run, conflict policy, refusals, StrictUndefined, templated names."""

from __future__ import annotations

import json
import py_compile
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.errors import GputkError, InputError
from gputk.services import scaffold as svc

CASES = [("cnn", "catsdogs"), ("cnn", "cifar10"), ("gan", "mnist")]
COMMON = {".gitignore", ".gputk.json", "README.md", "config.toml", "data.py", "model.py", "requirements.txt",
          "runtime.py", "train.py"}


@pytest.mark.parametrize(("template", "dataset"), CASES)
def test_render_writes_standalone_project_that_compiles(tmp_path: Path, template: str, dataset: str) -> None:
    dest = tmp_path / "proj"
    result = svc.scaffold(template, dataset, dest, {})
    names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    expected = COMMON | ({"predict.py"} if template == "cnn" else set())
    assert names == expected
    assert {f.path for f in result.files} == expected
    assert all(f.action == "create" for f in result.files)
    for py in dest.glob("*.py"):
        py_compile.compile(str(py), doraise=True)
        assert "gputk" not in "\n".join(
            line for line in py.read_text().splitlines() if line.startswith(("import", "from"))
        )
    answers = json.loads((dest / ".gputk.json").read_text())
    assert (answers["template"], answers["dataset"]) == (template, dataset)
    assert "{{" not in (dest / "README.md").read_text()


def test_cifar10_defaults_follow_the_seed(tmp_path: Path) -> None:
    svc.scaffold("cnn", "cifar10", tmp_path / "c", {})
    import tomllib

    cfg = tomllib.loads((tmp_path / "c" / "config.toml").read_text())
    assert cfg["train"]["batch_size"] == 128
    assert cfg["train"]["epochs"] == 20
    assert cfg["data"]["input_size"] == 32
    model = (tmp_path / "c" / "model.py").read_text()
    assert "BatchNormalization" in model and "Dense(512" in model


def test_options_reach_config(tmp_path: Path) -> None:
    svc.scaffold("cnn", "catsdogs", tmp_path / "d",
                 {"epochs": 3, "batch_size": 8, "image_size": 64, "mixed_precision": True, "backend": "torch"})
    import tomllib

    cfg = tomllib.loads((tmp_path / "d" / "config.toml").read_text())
    t = cfg["train"]
    assert (t["epochs"], t["batch_size"], t["image_size"], t["mixed_precision"], t["backend"]) == (
        3, 8, 64, True, "torch")
    assert "torch>=" in (tmp_path / "d" / "requirements.txt").read_text()
    readme = (tmp_path / "d" / "README.md").read_text()
    assert "numpy arrays" in readme and "MultiWorkerMirroredStrategy" in readme


def test_cli_dry_run_writes_nothing_and_lists_actions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "dry"
    assert run_cli(["new", "gan", "mnist", str(dest), "--dry-run"]) == 0
    assert not dest.exists()
    err = capsys.readouterr().err
    assert "would create train.py" in err
    assert "would create .gitignore" in err


def test_cli_default_dest_is_the_dataset_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["new", "cnn", "cifar10"]) == 0
    assert (tmp_path / "cifar10" / "train.py").is_file()
    assert "create train.py" in capsys.readouterr().err


def test_non_empty_dest_refused_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    assert run_cli(["new", "cnn", "cifar10", str(dest)]) == 1
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]
    assert "exists and is not empty" in capsys.readouterr().err


def test_force_overwrites_only_template_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "p"
    svc.scaffold("cnn", "cifar10", dest, {})
    (dest / "notes.txt").write_text("mine")
    (dest / "train.py").write_text("edited")
    runs = dest / "runs"
    runs.mkdir()
    (runs / "keep.json").write_text("{}")
    assert run_cli(["new", "cnn", "cifar10", str(dest), "--force", "--epochs", "7"]) == 0
    err = capsys.readouterr().err
    assert "overwrite train.py" in err
    assert "overwrite config.toml" in err
    assert "identical model.py" in err
    assert (dest / "notes.txt").read_text() == "mine"
    assert (runs / "keep.json").exists()
    assert (dest / "train.py").read_text() != "edited"
    assert "epochs = 7" in (dest / "config.toml").read_text()


def test_force_json_reports_actions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "p"
    svc.scaffold("gan", "mnist", dest, {"device": "cpu"})
    capsys.readouterr()
    assert run_cli(["new", "gan", "mnist", str(dest), "--force", "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "gputk.new/1"
    assert {f["action"] for f in doc["files"]} == {"identical"}
    assert doc["variables"]["batch_size"] == 128


def test_dest_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        svc.scaffold("cnn", "cifar10", target, {}, force=True)


@pytest.mark.parametrize("bad", ["../cnn", "/abs", "a/b", "..", "~x", "CNN!"])
def test_names_that_are_paths_are_refused(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", bad, "mnist", "--dry-run"]) == 2  # a usage error
    assert run_cli(["new", "gan", bad, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_unknown_names_list_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", "rnn", "mnist", "--dry-run"]) == 2
    assert "valid templates: cnn, gan" in capsys.readouterr().err
    assert run_cli(["new", "cnn", "mnist", "--dry-run"]) == 2
    assert "valid data sets: catsdogs, cifar10" in capsys.readouterr().err


def test_option_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", "gan", "mnist", "--image-size", "64", "--dry-run"]) == 2
    assert "--image-size does not apply to the gan template" in capsys.readouterr().err
    assert run_cli(["new", "cnn", "cifar10", "--epochs", "0", "--dry-run"]) == 2
    assert "--epochs 0 is out of range" in capsys.readouterr().err
    assert run_cli(["new", "cnn", "cifar10", "--backend", "mxnet", "--dry-run"]) == 2


def test_list_shows_templates_and_datasets(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", "--list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    got = {t["name"]: [d["name"] for d in t["datasets"]] for t in doc["templates"]}
    assert got == {"cnn": ["catsdogs", "cifar10"], "gan": ["mnist"]}


def _fake_root(tmp_path: Path, body: str, name: str = "t.txt.j2") -> Path:
    root = tmp_path / "troot"
    files = root / "demo" / "files"
    files.mkdir(parents=True)
    (root / "demo" / "manifest.json").write_text(json.dumps({
        "name": "demo", "kind": "classifier", "description": "d",
        "variables": {"epochs": {"type": "int", "default": 1}},
        "datasets": {"toy": {"title": "Toy", "description": "t", "classes": ["a"], "channels": 1, "data": {}}},
    }))
    (files / name).write_text(body)
    return root


def test_missing_variable_is_an_error_not_empty(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "epochs={{ epochs }} lr={{ not_defined }}\n")
    with pytest.raises(GputkError, match="undefined variable: 'not_defined' is undefined"):
        svc.scaffold("demo", "toy", tmp_path / "out", {}, root=root)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_sandbox_blocks_unsafe_attribute_access(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(GputkError, match=r"failed to render: access to attribute .__class__. of .str. object is unsafe"):
        svc.scaffold("demo", "toy", tmp_path / "out", {}, root=root)  # type: ignore[arg-type]


def test_templated_file_name_must_stay_inside(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "x\n", name="{{ dataset }}-{{ epochs }}.txt.j2")
    svc.scaffold("demo", "toy", tmp_path / "ok", {}, root=root)  # type: ignore[arg-type]
    assert (tmp_path / "ok" / "toy-1.txt").read_text() == "x\n"
    bad = _fake_root(tmp_path / "b", "x\n", name="{{ '..' }}.j2")
    with pytest.raises(GputkError, match="not a file name"):
        svc.scaffold("demo", "toy", tmp_path / "no", {}, root=bad)  # type: ignore[arg-type]


def _full_disk_after(monkeypatch: pytest.MonkeyPatch, files_ok: int) -> None:
    """os.write fails with ENOSPC once ``files_ok`` files have been written."""
    import errno
    import os

    real_write = os.write
    count = {"n": 0}

    def write(fd: int, data: bytes | memoryview) -> int:
        count["n"] += 1
        if count["n"] > files_ok:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(svc.os, "write", write)


def test_full_disk_leaves_no_half_written_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _full_disk_after(monkeypatch, 3)
    dest = tmp_path / "deep" / "er" / "proj"
    assert run_cli(["new", "cnn", "cifar10", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "nothing written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no project, no staging folder, no parents created for it


def test_full_disk_during_force_keeps_every_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "p"
    svc.scaffold("cnn", "cifar10", dest, {})
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    _full_disk_after(monkeypatch, 2)
    with pytest.raises(InputError, match="nothing written"):
        svc.scaffold("cnn", "cifar10", dest, {"epochs": 9}, force=True)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before


def test_force_does_not_write_through_a_hardlink(tmp_path: Path) -> None:
    dest = tmp_path / "p"
    svc.scaffold("cnn", "cifar10", dest, {})
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (dest / "train.py").unlink()
    (dest / "train.py").hardlink_to(outside)
    svc.scaffold("cnn", "cifar10", dest, {}, force=True)
    assert outside.read_text() == "precious\n"
    assert (dest / "train.py").read_text().startswith('"""Train')
    assert not any(p.name.startswith(svc.STAGING_PREFIX) for p in dest.iterdir())


def test_force_keeps_the_mode_of_a_replaced_file(tmp_path: Path) -> None:
    dest = tmp_path / "p"
    svc.scaffold("cnn", "cifar10", dest, {})
    (dest / "train.py").write_text("edited")
    (dest / "train.py").chmod(0o755)
    svc.scaffold("cnn", "cifar10", dest, {}, force=True)
    assert (dest / "train.py").stat().st_mode & 0o777 == 0o755


def test_default_device_follows_the_driver(snap) -> None:  # type: ignore[no-untyped-def]
    assert svc.default_device(snap.host()) == "cpu"
    snap.add_file("/proc/driver/nvidia/gpus/0000:01:00.0/information", "Model: NVIDIA H100\n")
    assert svc.default_device(snap.host()) == "gpu"


@pytest.mark.parametrize(("backend", "device", "present", "absent"), [
    ("tensorflow", "cpu", "tensorflow-cpu>=2.16", "and-cuda"),
    ("tensorflow", "gpu", "tensorflow[and-cuda]>=2.16", "tensorflow-cpu"),
    ("torch", "cpu", "--extra-index-url https://download.pytorch.org/whl/cpu", "cuda"),
    ("jax", "cpu", "jax>=0.4.26", "cuda12"),
    ("jax", "gpu", "jax[cuda12]>=0.4.26", "whl/cpu"),
])
def test_requirements_fit_the_device(tmp_path: Path, backend: str, device: str, present: str, absent: str) -> None:
    svc.scaffold("cnn", "cifar10", tmp_path / "p", {"backend": backend, "device": device})
    req = (tmp_path / "p" / "requirements.txt").read_text()
    assert present in req and absent not in req
    assert "keras>=3.8" in req


def test_cli_device_and_install_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", "cnn", "catsdogs", str(tmp_path / "cats"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "python -m pip install -r requirements.txt && gputk train --synthetic" in err
    req = (tmp_path / "cats" / "requirements.txt").read_text()
    assert "keras>=3.8  # 3.8 added RandomShear" in req and "and-cuda" not in req


def test_workers_write_the_distribution_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    assert run_cli(["new", "cnn", "cifar10", str(tmp_path / "w"), "--backend", "jax", "--workers", "4",
                    "--batch-size", "256", "--device", "cpu"]) == 0
    text = (tmp_path / "w" / "config.toml").read_text()
    cfg = tomllib.loads(text)
    assert cfg["distribution"] == {"workers": 4, "coordinator": "127.0.0.1:29500", "cpu_collectives": "gloo"}
    assert cfg["train"]["batch_size"] == 256
    assert "(256 / 4 = 64 here)" in text  # the global batch and each worker's share, stated where it is set
    readme = (tmp_path / "w" / "README.md").read_text()
    assert "KERAS_DISTRIBUTION_PROCESS_ID=1 python train.py" in readme and "srun" in readme
    # one process is today's behaviour: the section says so
    svc.scaffold("cnn", "cifar10", tmp_path / "one", {})
    assert tomllib.loads((tmp_path / "one" / "config.toml").read_text())["distribution"]["workers"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "2"], "--workers 2 needs --backend jax: Keras 3's fit() does not run under TensorFlow's "
                         "MultiWorkerMirroredStrategy"),
    (["--workers", "2", "--backend", "torch"], "--workers 2 needs --backend jax: Keras 3 has no multi-process "
                                               "runtime for torch"),
    (["--workers", "3", "--backend", "jax", "--batch-size", "128"],
     "--batch-size 128 is the global batch and must split evenly over 3 workers"),
])
def test_workers_refused_where_keras_cannot(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                            message: str) -> None:
    assert run_cli(["new", "cnn", "cifar10", str(tmp_path / "w"), *args]) == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err and "Traceback" not in err
    assert not (tmp_path / "w").exists()


def test_gan_has_no_workers_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", "gan", "mnist", str(tmp_path / "g"), "--workers", "2", "--backend", "jax"]) == 2
    assert "--workers does not apply to the gan template" in capsys.readouterr().err
