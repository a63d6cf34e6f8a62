"""On a GPU host: a generated CNN trains one synthetic epoch on the GPU, and gputk train samples it.

Uses Keras' torch backend (GPU machines for this suite carry torch; TensorFlow is usually absent there), so
the generated project's numpy-array pipeline and the torch device checks are what runs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gputk.cli.app import run_cli
from gputk.services import scaffold as svc

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("keras") is None,
    reason="needs torch and keras in this interpreter",
)
def test_cifar10_torch_backend_trains_on_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "c"
    svc.scaffold("cnn", "cifar10", proj, {"backend": "torch", "batch_size": 128})
    code = run_cli(["train", str(proj), "--synthetic", "--synthetic-size", "8192", "--epochs", "2",
                    "--device", "gpu", "--python", sys.executable, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    run = Path(json.loads(captured.out)["run_dir"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["backend"] == "torch"
    assert metrics["gpus"], "torch saw no GPU although --device gpu succeeded"
    assert len(metrics["epochs"]) == 2 and metrics["epochs"][1]["images_per_sec"] > 0
    gpu = metrics["gpu"]
    assert gpu["source"] == "nvml" and gpu["samples"] >= 1
    assert gpu["peak_memory_mib"] > 0
    assert (run / "model.keras").is_file() and (run / "confusion_matrix.png").is_file()
    print(f"torch GPU: {metrics['epochs'][1]['images_per_sec']:.0f} images/s, "
          f"mean utilisation {gpu['mean_utilization_pct']}%", file=sys.stderr)
