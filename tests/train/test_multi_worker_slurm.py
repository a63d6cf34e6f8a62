"""The README's Slurm commands on the one-node test cluster of tests/fleet: `srun` starts two JAX workers.

No KERAS_DISTRIBUTION_* variable is set: JAX's own Slurm detection finds the node list, the task number
and the coordinator (the first node, a port made from the job id), which is what the generated README's
sbatch script relies on. The cluster runs inside a network namespace with only loopback (see
tests/fleet/test_slurm.py); it skips, saying why, where it cannot start.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gputk.services import scaffold as svc
from tests.fleet.test_slurm import Cluster, cluster  # noqa: F401 - the module-scoped fixture

pytestmark = [pytest.mark.slow, pytest.mark.live]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed (pip install 'jax>=0.10.2')")
def test_srun_workers_find_each_other_through_slurm(cluster: Cluster, tmp_path: Path,  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    cluster.judge(str(cluster.base / "healthy"))  # the prolog lets the job run
    proj = tmp_path / "c"
    svc.scaffold("cnn", "cifar10", proj, {"batch_size": 32, "backend": "jax", "workers": 2, "device": "cpu"})
    readme = (proj / "README.md").read_text()
    line = next(x.strip() for x in readme.splitlines() if "srun python train.py" in x and "--preflight" in x)
    command = line.replace("python", sys.executable, 1).replace("srun ", "srun -n 2 --immediate=60 ", 1)
    res = cluster.run("sh", "-c", f"cd {proj} && export SLURM_NTASKS=2 && {command}", timeout=300)
    events = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert res.returncode == 0, res.stderr[-3000:] + cluster.logs()
    assert sorted(e["index"] for e in events) == [0, 1]
    assert all(e["event"] == "preflight" and e["ok"] and e["workers"] == 2 for e in events)
