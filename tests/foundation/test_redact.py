"""Redaction: every home is redacted (/root too), only TensorFlow's TF_ variables are kept, the docs agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gputk.services.redact import ENV_EXACT, ENV_PREFIXES, REDACTED_HOME, Redactor, gpu_environment

DOCS = Path(__file__).resolve().parents[2] / "docs" / "snapshot.md"


@pytest.mark.parametrize("home", ["/root", "/root/", "/home/alice", "/data/users/bob"])
def test_every_home_is_redacted(home: str) -> None:
    r = Redactor(hostname="box", username="root" if home.startswith("/root") else "someone", home=home)
    h = home.rstrip("/")
    text = f"python {h}/.pyenv/versions/3.11.7/bin/python; cwd={h}; HOME={h}\n"
    out = r.text(text)
    assert h + "/" not in out and not re.search(re.escape(h) + r"(;|$)", out, re.M)
    assert out == (
        f"python {REDACTED_HOME}/.pyenv/versions/3.11.7/bin/python; cwd={REDACTED_HOME}; HOME={REDACTED_HOME}\n"
    )
    assert r.path(f"{h}/x") == f"{REDACTED_HOME}/x"


def test_a_home_is_a_whole_path_component() -> None:
    r = Redactor(home="/root")
    assert r.text("/rootfs/etc /root-backup /srv/root /root.old") == "/rootfs/etc /root-backup /srv/root /root.old"
    assert Redactor(home="/").text("/usr/bin") == "/usr/bin"


def test_tensorflow_variables_are_kept_terraform_ones_are_not() -> None:
    tensorflow = {
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "TF_GPU_ALLOCATOR": "cuda_malloc_async",
        "TF_XLA_FLAGS": "--tf_xla_auto_jit=2",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_USE_LEGACY_KERAS": "1",
        "TF_NUM_INTRAOP_THREADS": "4",
        "TF_CUDNN_DETERMINISTIC": "1",
        "TF_DETERMINISTIC_OPS": "1",
    }
    terraform = {
        "TF_VAR_region": "eu-west-1",
        "TF_CLI_ARGS": "-no-color",
        "TF_CLI_ARGS_plan": "-refresh=false",
        "TF_CLI_CONFIG_FILE": "/home/a/.terraformrc",
        "TF_LOG": "DEBUG",
        "TF_LOG_PATH": "/tmp/tf.log",
        "TF_WORKSPACE": "prod",
        "TF_DATA_DIR": ".terraform",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_PLUGIN_CACHE_DIR": "/cache",
        "TF_TOKEN_app_terraform_io": "secret",
    }
    assert gpu_environment({**tensorflow, **terraform}) == tensorflow


def test_docs_say_exactly_what_is_kept() -> None:
    section = DOCS.read_text().split("### `env`", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", section))
    assert set(ENV_EXACT) <= documented
    assert set(ENV_PREFIXES) <= documented
    assert "TF_VAR_" in section  # says what is left out, not only what is kept
