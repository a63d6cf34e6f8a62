"""A one-node Slurm cluster on loopback runs docs/cluster.md's collection, prolog and health check.

The cluster (munged, slurmctld, slurmd from Debian's slurm-wlm and munge) runs as root inside a
network namespace that holds only the loopback interface, so nothing outside can reach it; its
munge key, config, state and logs live in a temporary folder; every daemon started is stopped at
the end, whatever happened. The tests skip, saying why, where that cannot be done here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gputk.snapshot import SnapshotWriter, open_snapshot
from tests.doctor.scenarios import HEALTHY, build
from tests.fleet.snippets import GPUTK, snippet, with_gputk

pytestmark = pytest.mark.live

TOOLS = ("munged", "slurmctld", "slurmd", "srun", "sinfo", "scontrol", "unshare", "nsenter", "ip")
NO_DRIVER = HEALTHY.but(nvml="driver-not-loaded", smi="no-driver", module_loaded=None)
START_TIMEOUT_S = 45.0


@dataclass
class Cluster:
    base: Path
    ns_pid: int
    node: str
    args_file: Path  # extra doctor arguments the prolog and health check read (a snapshot to judge)

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.base / "slurm.conf")}

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.ns_pid), "-n", *argv],
            env=self.env(),
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def node_state(self) -> tuple[str, str]:
        out = self.run("scontrol", "show", "node", self.node, timeout=30).stdout
        state = next((w.split("=", 1)[1] for w in out.split() if w.startswith("State=")), "")
        reason = out.split("Reason=", 1)[1].split("\n", 1)[0].strip() if "Reason=" in out else ""
        return state, reason

    def wait_for(self, predicate: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}; node: {self.node_state()}\n{self.logs()}")

    def judge(self, snapshot: str) -> None:
        """Make the prolog and health check judge this snapshot instead of the machine."""
        self.args_file.write_text(f"--snapshot {snapshot}\n")

    def logs(self) -> str:
        parts = []
        for f in sorted((self.base / "log").glob("*.log")):
            lines = f.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"== {f.name}\n" + "\n".join(lines))
        return "\n".join(parts)


def _skip_reason() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return "the one-node Slurm cluster runs its daemons as root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge iproute2)"
    return None


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _hooks(base: Path, args_file: Path) -> tuple[Path, Path]:
    """The prolog and health check exactly as documented, with this gputk and the test's arguments."""
    extra = f"$(cat {args_file})"
    prolog = with_gputk(snippet("slurm-prolog")).replace("--exit-codes nagios", f"--exit-codes nagios {extra}")
    health = with_gputk(snippet("slurm-healthcheck")).replace("--exit-codes nagios", f"--exit-codes nagios {extra}")
    # Slurm runs the health check with an empty environment: a real node's scontrol finds
    # /etc/slurm/slurm.conf, this one needs to be told where the test cluster's is
    setup = f"PATH={os.path.dirname(shutil.which('scontrol') or '/usr/bin')}:/usr/bin:/bin\n"
    setup += f"export SLURM_CONF={base / 'slurm.conf'}\n"
    health = health.replace("#!/bin/sh\n", "#!/bin/sh\n" + setup, 1)
    return _script(base / "prolog.sh", prolog), _script(base / "health.sh", health)


def _config(base: Path, node: str, prolog: Path, health: Path) -> str:
    return f"""ClusterName=gputktest
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={base}/munge/munge.sock
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
Prolog={prolog}
PrologFlags=Alloc
HealthCheckProgram={health}
HealthCheckInterval=5
HealthCheckNodeState=ANY
NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _netns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _members(netns: str) -> list[int]:
    """Every process in the test cluster's network namespace: the daemons and all they started."""
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and _netns(int(entry)) == netns:
            pids.append(int(entry))
    return pids


def _stop(holder: subprocess.Popen[bytes] | None, netns: str | None) -> None:
    """Stop everything in the namespace (TERM, then KILL), then the namespace's holder."""
    if netns is not None and netns != _netns(os.getpid()):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _members(netns):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and [p for p in _members(netns) if _alive(p)]:
                time.sleep(0.2)
    if holder is not None:
        holder.kill()
        holder.wait(timeout=10)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("slurm")
    for d in ("state", "spool", "log", "munge"):
        (base / d).mkdir()
    (base / "munge").chmod(0o700)
    key = base / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    node = socket.gethostname().split(".")[0]
    args_file = base / "doctor-args"
    healthy = SnapshotWriter(base / "healthy")
    build(healthy, HEALTHY)
    healthy.write_manifest()
    args_file.write_text(f"--snapshot {healthy.directory}\n")  # the health check runs as slurmd starts
    prolog, health = _hooks(base, args_file)
    (base / "slurm.conf").write_text(_config(base, node, prolog, health))
    holder: subprocess.Popen[bytes] | None = None
    netns: str | None = None
    try:
        # a network namespace with only loopback: nothing outside this machine can reach the cluster
        holder = subprocess.Popen(["unshare", "--net", "sleep", "3600"])
        deadline = time.monotonic() + 10
        while (netns := _netns(holder.pid)) == _netns(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)  # until unshare has entered the new namespace and exec'd sleep
        if netns == _netns(os.getpid()):
            pytest.skip("cannot create a network namespace here (unshare --net)")
        c = Cluster(base, holder.pid, node, args_file)
        steps = [
            ("ip", "link", "set", "lo", "up"),
            # Slurm resolves with AI_ADDRCONFIG, which wants one non-loopback address: a link-local one on lo
            ("ip", "addr", "add", "169.254.77.1/32", "dev", "lo"),
            ("munged", f"--socket={base}/munge/munge.sock", f"--key-file={key}", f"--pid-file={base}/munge/munged.pid",
             f"--log-file={base}/log/munged.log", f"--seed-file={base}/munge/seed", "--force"),
            ("slurmctld",),
            ("slurmd",),
        ]
        for argv in steps:
            res = c.run(*argv, timeout=30)
            if res.returncode != 0:
                pytest.skip(f"the test cluster cannot start here: {' '.join(argv[:1])}: {res.stderr.strip()[:300]}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if c.run("sinfo", "-h", "-o", "%T", timeout=30).stdout.strip() in ("idle", "mixed"):
                break
            time.sleep(1)
        else:
            pytest.skip(f"the test cluster did not come up within {START_TIMEOUT_S:g} s:\n{c.logs()}")
        yield c
    finally:
        _stop(holder, netns)


def test_srun_collects_a_snapshot_per_node(cluster: Cluster) -> None:
    cluster.judge(str(cluster.base / "healthy"))
    script = with_gputk(snippet("collect-srun")).replace("-N64", "-N1")
    res = cluster.run("sh", "-c", script, timeout=180)
    assert res.returncode == 0, res.stderr + cluster.logs()
    snaps = cluster.base / "snaps"
    snap = open_snapshot(snaps / f"{cluster.node}.tar.gz")
    assert snap.manifest["format"] == "gputk-snapshot"
    assert "snapshot written to stdout" in (snaps / f"{cluster.node}.err").read_text()
    fleet = subprocess.run([GPUTK, "fleet", str(snaps), "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert f'"name": "{cluster.node}"' in fleet.stdout and '"unreadable": 0' in fleet.stdout


def test_prolog_refuses_a_job_on_a_broken_node(cluster: Cluster) -> None:
    broken = SnapshotWriter(cluster.base / "broken")
    build(broken, NO_DRIVER)
    broken.write_manifest()
    cluster.judge(str(broken.directory))
    # srun's own exit status after a prolog failure varies between Slurm versions; the node's state does not
    cluster.run("srun", "-N1", "--immediate=60", "true", timeout=120)
    cluster.wait_for(
        lambda: "DRAIN" in cluster.node_state()[0] and "Prolog" in cluster.node_state()[1],
        60,
        "Slurm to drain the node after the prolog refused the job",
    )


def test_health_check_drains_with_gputk_reason_and_resumes_when_healthy(cluster: Cluster) -> None:
    broken = cluster.base / "broken"
    cluster.judge(str(broken))
    cluster.wait_for(
        lambda: cluster.node_state()[1].startswith("gputk: GPUTK CRITICAL - driver.kernel-module"),
        60,
        "the health check to drain the node with gputk's status line",
    )
    cluster.judge(str(cluster.base / "healthy"))
    cluster.wait_for(lambda: "DRAIN" not in cluster.node_state()[0], 60, "the health check to resume the node")
    res = cluster.run("srun", "-N1", "--immediate=60", "true", timeout=120)
    assert res.returncode == 0, res.stderr
