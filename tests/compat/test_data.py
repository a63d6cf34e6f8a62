"""Invariants over the compatibility data: what must hold for every row, whatever the row says."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from gputk.compat import cuda, drivers, frameworks, gpus
from gputk.compat._data import DATA_FILES, load
from gputk.compat.version import Version


def test_every_file_says_where_to_refresh_it_from() -> None:
    for name in DATA_FILES:
        data = load(name)
        assert data.get("refresh"), name
        assert re.fullmatch(r"\d{4}-\d{2}", data["as_of"]), name


def test_every_cuda_release_from_11_0_to_13_5_is_present() -> None:
    names = cuda.release_names()
    missing = set(load("cuda")["missing_releases"])
    expected = [f"11.{m}" for m in range(9)] + [f"12.{m}" for m in range(10)] + [f"13.{m}" for m in range(6)]
    for release in expected:
        assert (release in names) != (release in missing), release


def test_driver_floors_never_decrease_with_cuda_version() -> None:
    for key in ("linux", "windows"):
        known = [(r.version, getattr(r, key)) for r in cuda.releases() if getattr(r, key) is not None]
        for (v1, d1), (v2, d2) in pairwise(known):
            assert d1 <= d2, f"{key}: CUDA {v1} needs {d1} but later CUDA {v2} needs only {d2}"


def test_toolkit_minimum_is_at_or_above_its_majors_mvc_floor() -> None:
    for r in cuda.releases():
        floor = cuda.mvc_floor(r.version.major)
        if r.version.release == "11.0":  # NVIDIA's note: 11.0 shipped with a driver below the 11.x floor
            continue
        if r.linux is not None and floor is not None:
            assert r.linux >= floor, r.version


def test_every_row_has_a_source_and_unverified_rows_say_so() -> None:
    for r in cuda.releases():
        assert r.source.strip(), r.version
        if r.linux is None and r.version.major >= 13:
            assert not r.verified and "minor-version-compatibility" in r.note, r.version
    for t in load("cuda")["targets"]:
        assert t["source"].strip()
    for g in load("generations")["generations"]:
        assert all(v.strip() for v in g["source"].values()), g["name"]
    assert load("generations")["branches"]["source"]
    for d in load("gpus")["devices"]:
        assert d["source"] in load("gpus")["sources"], d
    for p in load("gpus")["name_patterns"]:
        assert p["source"] in load("gpus")["sources"], p
    fw = load("frameworks")
    for row in fw["tensorflow"]["rows"]:
        assert row["source"] and (not row.get("arch") or row["arch_source"])
    for key in ("variants", "releases"):
        for row in fw["torch"][key]:
            assert row["source"], row
    for name in ("jax", "cupy", "numba_cuda"):
        assert fw[name]["source"]


def test_every_gpus_compute_capability_lies_in_its_architectures_range() -> None:
    rows = [(d["cc"], d["name"]) for d in load("gpus")["devices"]]
    rows += [(p["cc"], p["products"]) for p in load("gpus")["name_patterns"]]
    for cc, what in rows:
        gen = gpus.generation(cc)
        assert gen is not None and gen.contains(Version.of(cc)), f"{what}: CC {cc} has no architecture"


def test_device_legacy_branches_agree_with_their_generation() -> None:
    """Rows read from the driver's supported-gpus.json carry its legacy branch: the generation must agree."""
    checked = 0
    for d in load("gpus")["devices"]:
        if "legacybranch" not in d:
            continue
        gen = gpus.generation(d["cc"])
        assert gen is not None
        want = int(d["legacybranch"]) if d["legacybranch"] else None
        assert gen.last_driver_branch == want, (d["id"], d["name"], gen.name)
        checked += 1
    assert checked > 100


def test_generations_do_not_overlap_and_cover_every_targetable_cc() -> None:
    gens = gpus.generations()
    for a, b in pairwise(gens):
        assert a.cc_max < b.cc_min, (a.name, b.name)
    for t in load("cuda")["targets"]:
        assert gpus.generation(t["cc"]) is not None, t["cc"]


def test_cuda_13_cannot_target_what_the_580_legacy_branch_keeps() -> None:
    for gen in gpus.generations():
        if gen.last_driver_branch == 580:
            for t in load("cuda")["targets"]:
                if gen.contains(Version.of(t["cc"])):
                    assert cuda.can_target(t["cc"], "13.0") is False and cuda.can_target(t["cc"], "12.9")


def test_pci_device_ids_are_unique_four_hex_digits() -> None:
    ids = [d["id"] for d in load("gpus")["devices"]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f]{4}", i) for i in ids)


def test_torch_releases_name_only_known_variants_and_archs_are_ordered() -> None:
    tags = {w.tag for w in frameworks.torch_wheels()}
    for rel in load("frameworks")["torch"]["releases"]:
        assert set(rel["variants"]) <= tags, rel["torch"]
    for w in frameworks.torch_wheels():
        archs = [Version.of(a) for a in w.arch]
        assert archs == sorted(archs), w.tag
        for a in archs:  # a wheel only carries code its CUDA can compile
            assert cuda.can_target(a, w.cuda) is not False, (w.tag, str(a))


def test_tensorflow_rows_are_consistent() -> None:
    rows = load("frameworks")["tensorflow"]["rows"]
    seen: set[str] = set()
    for row in rows:
        assert not (set(row["tf"]) & seen)
        seen |= set(row["tf"])
        assert Version.of(row["cuda"]).major < 13  # TensorFlow has no CUDA 13 build
    assert frameworks.tf_has_cuda13() is False


def test_branches_are_sorted_and_eol_dates_well_formed() -> None:
    rows = drivers.branches()
    assert [b.branch for b in rows] == sorted(b.branch for b in rows)
    assert all(re.fullmatch(r"\d{4}-\d{2}", b.eol) for b in rows)


@pytest.mark.parametrize("name", DATA_FILES)
def test_data_files_ship_with_the_package(name: str) -> None:
    from importlib import resources

    assert resources.files("gputk.compat").joinpath("data").joinpath(f"{name}.json").is_file()
