"""Tests of the fit cache (issue 3): keys, round trips, hits and misses,
corruption, atomic writes and concurrent processes.

Every test works in its own temporary cache folder; the multi-process tests
use the spawn start method (as on macOS/Windows, and safe with HDF5 state).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seu_sensitivity import settings as paths
from seu_sensitivity.inference.cache import (
    CacheWriteWarning,
    CorruptCacheEntryWarning,
    FitCache,
    atomic_write_bytes,
    content_hash,
)

# --------------------------------------------------------------------------- helpers

GROUPS = ["posterior", "posterior_predictive", "log_likelihood", "sample_stats", "observed_data"]


def make_idata(seed: int = 0, **attrs: Any) -> az.InferenceData:
    """A small InferenceData with every group a fit has, named dims and coords."""
    rng = np.random.default_rng(seed)
    idata = az.from_dict(
        posterior={"alpha": rng.normal(size=(2, 10)), "delta": rng.dirichlet(np.ones(3), size=(2, 10))},
        sample_stats={"diverging": rng.random((2, 10)) < 0.2, "lp": rng.normal(size=(2, 10))},
        log_likelihood={"y": rng.normal(size=(2, 10, 4))},
        posterior_predictive={"y": rng.integers(1, 4, size=(2, 10, 4))},
        observed_data={"y": np.array([1, 2, 3, 1])},
        coords={"obs": ["a", "b", "c", "d"], "consequence": [1, 2, 3]},
        dims={"delta": ["consequence"], "y": ["obs"]},
        attrs={"model": "m_01", "seed": seed, **attrs},
    )
    for group in idata.groups():  # a fixed time stamp, so two calls with one seed give identical data
        idata[group].attrs["created_at"] = "2026-01-01T00:00:00+00:00"
    return idata


def assert_same_idata(got: az.InferenceData, want: az.InferenceData) -> None:
    """Same groups, and each group identical: values, dims, coords, attrs."""
    assert list(got.groups()) == list(want.groups())
    for group in want.groups():
        xr.testing.assert_identical(got[group], want[group])
    assert dict(got.attrs) == dict(want.attrs)


BASE_PARTS: dict[str, Any] = {
    "stan": "data { int N; vector[N] y; } parameters { real mu; } model { y ~ normal(mu, 1); }",
    "data": {"N": 3, "y": [0.1, 0.2, 0.3]},
    "settings": {"chains": 4, "iter_warmup": 1000, "iter_sampling": 1000, "adapt_delta": 0.8},
    "seed": 12345,
    "backend": "cmdstanpy",
    "backend_version": "1.3.2",
}

#: one change of each kind the issue names: model, data, settings, seed, backend
CHANGES: dict[str, dict[str, Any]] = {
    "stan source": {"stan": BASE_PARTS["stan"].replace("normal(mu, 1)", "normal(mu, 2)")},
    "data value": {"data": {"N": 3, "y": [0.1, 0.2, 0.30000000000000004]}},
    "data field": {"data": {"N": 3, "y": [0.1, 0.2, 0.3], "extra": 1}},
    "sampler setting": {"settings": {**BASE_PARTS["settings"], "adapt_delta": 0.95}},
    "seed": {"seed": 12346},
    "backend": {"backend": "pystan"},
    "backend version": {"backend_version": "1.3.3"},
}


class Counter:
    """A create() that counts its calls and returns a fresh fit."""

    def __init__(self, seed: int = 0) -> None:
        self.calls = 0
        self.seed = seed

    def __call__(self) -> az.InferenceData:
        self.calls += 1
        return make_idata(self.seed)


@pytest.fixture
def cache(tmp_path: Path) -> FitCache:
    return FitCache(tmp_path / "fits")


# --------------------------------------------------------------------------- keys


def test_key_is_sha256_hex_and_ignores_order() -> None:
    key = FitCache.make_key(**BASE_PARTS)
    assert len(key) == 64 and int(key, 16) >= 0
    shuffled = {name: BASE_PARTS[name] for name in reversed(list(BASE_PARTS))}
    shuffled["settings"] = dict(reversed(list(BASE_PARTS["settings"].items())))
    assert FitCache.make_key(**shuffled) == key


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_key_changes_with_each_part(change: str) -> None:
    assert FitCache.make_key(**{**BASE_PARTS, **CHANGES[change]}) != FitCache.make_key(**BASE_PARTS)


def test_key_floats_are_exact_and_typed() -> None:
    assert FitCache.make_key(x=0.1 + 0.2) != FitCache.make_key(x=0.3)
    assert FitCache.make_key(x=1) != FitCache.make_key(x=1.0)  # int vs real data
    assert FitCache.make_key(x=True) != FitCache.make_key(x=1)
    assert FitCache.make_key(x=-0.0) != FitCache.make_key(x=0.0)
    assert FitCache.make_key(x=float("nan")) == FitCache.make_key(x=float("nan"))
    assert FitCache.make_key(x=float("inf")) != FitCache.make_key(x=float("-inf"))


def test_key_numpy_values_equal_python_values() -> None:
    as_lists = {"w": [[0.5, 1.0], [2.0, 3.5]], "y": [1, 2], "K": 3, "ok": True}
    as_numpy = {"w": np.array([[0.5, 1.0], [2.0, 3.5]]), "y": np.array([1, 2], dtype=np.int32),
                "K": np.int64(3), "ok": np.bool_(True)}
    assert FitCache.make_key(data=as_numpy) == FitCache.make_key(data=as_lists)
    # but the shape is part of the value
    assert FitCache.make_key(data=np.array([[1, 2]])) != FitCache.make_key(data=np.array([1, 2]))
    # and a tuple is the same sequence as a list
    assert FitCache.make_key(s=(1, (2, 3))) == FitCache.make_key(s=[1, [2, 3]])


def test_key_pandas_objects() -> None:
    frame = pd.DataFrame({"llm": ["a", "b"], "t": [0.5, 1.0]})
    key = FitCache.make_key(cells=frame)
    assert FitCache.make_key(cells=frame.copy()) == key
    changed = frame.copy()
    changed.loc[1, "t"] = 1.5
    assert FitCache.make_key(cells=changed) != key
    assert FitCache.make_key(cells=frame.set_index("llm")) != key
    cat = pd.Series(pd.Categorical(["x", "y"], categories=["x", "y"]))
    reordered = pd.Series(pd.Categorical(["x", "y"], categories=["y", "x"]))
    assert FitCache.make_key(s=cat) != FitCache.make_key(s=reordered)


def test_key_dict_keys_cannot_collide() -> None:
    # a non-string key stays typed; a user key can never pose as an internal tag
    assert FitCache.make_key(d={1: "a"}) != FitCache.make_key(d={"1": "a"})
    assert FitCache.make_key(d={"$type": "set", "items": []}) != FitCache.make_key(d=set())


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        ({"model": object()}, "'model'"),
        ({"data": {"y": [1, 2, Path("y.csv")]}}, "'data'['y'][2]"),
        ({"settings": {"init": lambda: 0}}, "'settings'['init']"),
        ({"data": np.array([1 + 2j])}, "'data'"),
    ],
)
def test_key_refuses_unhashable_parts_naming_them(parts: dict[str, Any], named: str) -> None:
    with pytest.raises(TypeError) as info:
        FitCache.make_key(**parts)
    assert f"part {named}" in str(info.value)


def test_invalid_keys_are_refused(cache: FitCache) -> None:
    for bad in ["../etc", "AB12", "", "a", "ab/cd", 12]:
        with pytest.raises(ValueError):
            cache.load(bad)  # type: ignore[arg-type]


def test_default_root_follows_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert FitCache().root == tmp_path / "elsewhere"


# --------------------------------------------------------------------------- store and load


def test_round_trip_is_identical_and_laid_out(cache: FitCache) -> None:
    key = FitCache.make_key(**BASE_PARTS)
    stored = make_idata(3)
    path = cache.store(key, stored, {"model": "m_01", "backend": "cmdstanpy", "chains": np.int64(4)})
    assert path == cache.root / key[:2] / f"{key}.nc"
    sidecar = json.loads((cache.root / key[:2] / f"{key}.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar["groups"] == GROUPS
    loaded = cache.load(key)
    assert loaded is not None
    assert_same_idata(loaded, stored)
    assert loaded.sample_stats["diverging"].dtype == bool
    # no temporary files left behind
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [f"{key}.json", f"{key}.nc"]


def test_load_keeps_no_file_open(cache: FitCache) -> None:
    key = FitCache.make_key(x=1)
    path = cache.store(key, make_idata(), {})
    loaded = cache.load(key)
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                  if os.path.exists(f"/proc/self/fd/{fd}")}
    assert str(path.resolve()) not in open_files
    cache.clear([key])
    assert float(loaded.posterior["alpha"].sum()) == pytest.approx(float(make_idata().posterior["alpha"].sum()))


def test_miss_returns_none_quietly(cache: FitCache) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.load(FitCache.make_key(x=1)) is None
    assert FitCache.make_key(x=1) not in cache


def test_entries_show_meta_size_and_time(cache: FitCache) -> None:
    k1, k2 = FitCache.make_key(x=1), FitCache.make_key(x=2)
    cache.store(k1, make_idata(1), {"model": "m_01", "backend": "pystan"})
    cache.store(k2, make_idata(2), {"model": "h_m01", "backend": "cmdstanpy"})
    entries = {e.key: e for e in cache.entries()}
    assert set(entries) == {k1, k2}
    assert entries[k1].meta == {"model": "m_01", "backend": "pystan"}
    assert entries[k2].meta["model"] == "h_m01"
    assert entries[k1].size == cache.path(k1).stat().st_size > 0
    assert entries[k1].created is not None and entries[k1].created <= entries[k2].created
    assert k1 in cache


def test_overwrite_replaces_the_entry(cache: FitCache) -> None:
    key = FitCache.make_key(x=1)
    cache.store(key, make_idata(1), {"v": 1})
    cache.store(key, make_idata(2), {"v": 2})
    assert_same_idata(cache.load(key), make_idata(2))
    assert cache.entries()[0].meta == {"v": 2}


# --------------------------------------------------------------------------- hits and misses


def test_second_identical_call_is_a_hit(cache: FitCache) -> None:
    create = Counter(seed=5)
    key = FitCache.make_key(**BASE_PARTS)
    first, hit1 = cache.get_or_create(key, create, {"model": "m_01"})
    second, hit2 = FitCache(cache.root).get_or_create(key, create, {"model": "m_01"})
    assert (hit1, hit2, create.calls) == (False, True, 1)
    assert_same_idata(first, make_idata(5))
    assert_same_idata(second, first)


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_each_change_refits(cache: FitCache, change: str) -> None:
    create = Counter()
    cache.get_or_create(FitCache.make_key(**BASE_PARTS), create, {})
    _, hit = cache.get_or_create(FitCache.make_key(**{**BASE_PARTS, **CHANGES[change]}), create, {})
    assert (hit, create.calls) == (False, 2)
    # the original is still cached
    _, hit = cache.get_or_create(FitCache.make_key(**BASE_PARTS), create, {})
    assert (hit, create.calls) == (True, 2)


def test_create_must_return_inference_data(cache: FitCache) -> None:
    with pytest.raises(TypeError, match="InferenceData"):
        cache.get_or_create(FitCache.make_key(x=1), lambda: {"not": "idata"}, {})  # type: ignore[arg-type,return-value]
    assert cache.entries() == []


def test_failing_create_stores_nothing_and_releases_the_lock(cache: FitCache) -> None:
    key = FitCache.make_key(x=1)

    def broken() -> az.InferenceData:
        raise RuntimeError("sampler crashed")

    with pytest.raises(RuntimeError, match="sampler crashed"):
        cache.get_or_create(key, broken, {})
    assert cache.entries() == []
    with cache.lock(key, timeout=0):  # raises filelock.Timeout if the lock were still held
        pass
    create = Counter(seed=3)
    assert cache.get_or_create(key, create, {})[1] is False and create.calls == 1


def test_failed_store_still_returns_the_fit(cache: FitCache, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FitCache, "store", disk_full)
    with pytest.warns(CacheWriteWarning, match="No space left"):
        idata, hit = cache.get_or_create(FitCache.make_key(x=1), Counter(7), {})
    assert hit is False
    assert_same_idata(idata, make_idata(7))


# --------------------------------------------------------------------------- corruption


def _truncate(cache: FitCache, key: str) -> None:
    path = cache.path(key)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(cache: FitCache, key: str) -> None:
    cache.path(key).write_bytes(os.urandom(cache.path(key).stat().st_size))


def _missing_sidecar(cache: FitCache, key: str) -> None:
    cache.sidecar_path(key).unlink()


def _missing_nc(cache: FitCache, key: str) -> None:
    cache.path(key).unlink()


def _flip_byte(cache: FitCache, key: str) -> None:
    raw = bytearray(cache.path(key).read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, so only the checksum can tell
    cache.path(key).write_bytes(bytes(raw))


def _sidecar_not_json(cache: FitCache, key: str) -> None:
    cache.sidecar_path(key).write_text('{"key": "' + key[:10])


def _sidecar_without_fields(cache: FitCache, key: str) -> None:
    cache.sidecar_path(key).write_text(json.dumps({"meta": {}}))


def _garbage_with_matching_checksum(cache: FitCache, key: str) -> None:
    # the sidecar agrees with the bytes, so only opening them as netCDF can tell
    raw = b"not a netCDF file at all" * 100
    cache.path(key).write_bytes(raw)
    sidecar = json.loads(cache.sidecar_path(key).read_text())
    sidecar.update(size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    cache.sidecar_path(key).write_text(json.dumps(sidecar))


CORRUPTIONS = {
    "truncated": (_truncate, "truncated"),
    "garbage bytes": (_garbage, "checksum mismatch"),
    "missing sidecar": (_missing_sidecar, "without sidecar"),
    "missing nc": (_missing_nc, "missing"),
    "checksum mismatch": (_flip_byte, "checksum mismatch"),
    "sidecar not JSON": (_sidecar_not_json, "not valid JSON"),
    "sidecar without fields": (_sidecar_without_fields, "lacks required fields"),
    "not netCDF": (_garbage_with_matching_checksum, "cannot be opened"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_corruption_is_detected_reported_removed_and_refitted(
    cache: FitCache, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    damage, reason = CORRUPTIONS[case]
    key = FitCache.make_key(**BASE_PARTS)
    cache.store(key, make_idata(1), {"model": "m_01"})
    damage(cache, key)

    # verify reports it without touching it
    [result] = cache.verify(key)
    assert (result.status, result.ok) == ("corrupt", False)
    assert reason in result.reason

    with caplog.at_level(logging.WARNING, logger="seu_sensitivity.inference.cache"):
        with pytest.warns(CorruptCacheEntryWarning) as record:
            assert cache.load(key) is None
    warning = record[0].message
    assert (warning.key, warning.path) == (key, cache.path(key))
    assert reason in warning.reason and key in str(warning) and str(cache.path(key)) in str(warning)
    assert any(key in r.getMessage() and reason in r.getMessage() for r in caplog.records)
    assert not cache.path(key).exists() and not cache.sidecar_path(key).exists()

    # a following get_or_create refits and stores a valid entry
    create = Counter(seed=2)
    idata, hit = cache.get_or_create(key, create, {"model": "m_01"})
    assert (hit, create.calls) == (False, 1)
    assert_same_idata(idata, make_idata(2))
    assert [r.status for r in cache.verify()] == ["ok"]


def test_get_or_create_refits_a_corrupt_entry_directly(cache: FitCache) -> None:
    key = FitCache.make_key(x=1)
    cache.store(key, make_idata(1), {})
    _truncate(cache, key)
    create = Counter(seed=4)
    with pytest.warns(CorruptCacheEntryWarning, match="truncated"):
        idata, hit = cache.get_or_create(key, create, {})
    assert (hit, create.calls) == (False, 1)
    assert_same_idata(cache.load(key), make_idata(4))


def test_failed_write_leaves_old_entry_and_no_debris(cache: FitCache, monkeypatch: pytest.MonkeyPatch) -> None:
    key = FitCache.make_key(x=1)
    cache.store(key, make_idata(1), {"v": 1})
    real_to_netcdf = az.InferenceData.to_netcdf

    def half_then_crash(self: az.InferenceData, filename: str, **kwargs: Any) -> str:
        real_to_netcdf(self, filename, **kwargs)
        with open(filename, "r+b") as handle:  # a partial file on disk...
            handle.truncate(100)
        raise KeyboardInterrupt  # ...then the process is interrupted

    monkeypatch.setattr(az.InferenceData, "to_netcdf", half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        cache.store(key, make_idata(2), {"v": 2})
    monkeypatch.undo()
    assert sorted(p.name for p in cache.folder(key).iterdir() if not p.name.endswith(".lock")) == [
        f"{key}.json", f"{key}.nc"]
    assert_same_idata(cache.load(key), make_idata(1))


def test_crash_between_renames_leaves_an_uncommitted_entry(cache: FitCache, monkeypatch: pytest.MonkeyPatch) -> None:
    key = FitCache.make_key(x=1)
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if str(dst).endswith(".json"):
            raise OSError(5, "I/O error")  # dies before the commit marker lands
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        cache.store(key, make_idata(1), {})
    monkeypatch.undo()
    assert cache.path(key).exists() and key not in cache
    assert not list(cache.folder(key).glob("*.tmp"))
    with pytest.warns(CorruptCacheEntryWarning, match="without sidecar"):
        assert cache.load(key) is None


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = atomic_write_bytes(tmp_path / "new" / "file.json", b"old")
    assert target.read_bytes() == b"old"
    for failing in ("fsync", "replace"):  # data not on disk yet / interrupted before the rename
        def fail(*args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(os, failing, fail)
        with pytest.raises(KeyboardInterrupt):
            atomic_write_bytes(target, b"new content")
        monkeypatch.undo()
        assert target.read_bytes() == b"old" and [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_make_key_is_content_hash() -> None:
    parts = {"data": {"N": np.int64(2)}, "seed": 1}
    assert FitCache.make_key(**parts) == content_hash(**parts) == content_hash(seed=1, data={"N": 2})


def test_reader_waits_for_a_writer_between_renames(cache: FitCache) -> None:
    """An entry caught between store()'s two renames looks incomplete; load must
    re-check under the lock (and so wait for the writer) instead of deleting it."""
    key = FitCache.make_key(x=1)
    cache.store(key, make_idata(1), {})
    committed = cache.sidecar_path(key).read_bytes()
    torn = threading.Event()

    def writer() -> None:
        with cache.lock(key):
            cache.sidecar_path(key).unlink()  # the state store() passes through
            torn.set()
            time.sleep(0.5)  # gives the reader time to find the torn entry (the assertion does not depend on it)
            cache.sidecar_path(key).write_bytes(committed)  # the commit

    thread = threading.Thread(target=writer)
    thread.start()
    torn.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptCacheEntryWarning)
        loaded = FitCache(cache.root).load(key)
    thread.join()
    assert loaded is not None
    assert_same_idata(loaded, make_idata(1))


# --------------------------------------------------------------------------- verify and clear


def test_verify_all(cache: FitCache) -> None:
    good, bad = FitCache.make_key(x=1), FitCache.make_key(x=2)
    cache.store(good, make_idata(1), {})
    cache.store(bad, make_idata(2), {})
    _flip_byte(cache, bad)
    verdicts = {r.key: r for r in cache.verify()}
    assert verdicts[good].ok and verdicts[good].reason is None
    assert verdicts[bad].status == "corrupt"
    assert cache.path(bad).exists()  # verify only reports
    assert cache.verify(FitCache.make_key(x=3))[0].status == "missing"


def test_clear(cache: FitCache) -> None:
    keys = [FitCache.make_key(x=i) for i in range(3)]
    for i, key in enumerate(keys):
        cache.store(key, make_idata(i), {})
    (cache.folder(keys[0]) / f".{keys[0]}.nc.stale.tmp").write_bytes(b"left by a killed writer")
    assert cache.clear([keys[0], keys[0], FitCache.make_key(x=99)]) == 1
    assert not list(cache.folder(keys[0]).glob(f"*{keys[0]}*"))
    assert [e.key for e in cache.entries()] == keys[1:]
    assert cache.clear() == 2
    assert cache.entries() == [] and cache.clear() == 0


# --------------------------------------------------------------------------- concurrency
# Worker functions live at module level so the spawn start method can import them.


def _slow_create_worker(root: str, key: str, calls_file: str, out_file: str, barrier: Any) -> None:
    def create() -> az.InferenceData:
        with open(calls_file, "a") as handle:  # O_APPEND: one line per call, from any process
            handle.write(f"{os.getpid()}\n")
        # widen the window in which a second process would also be fitting
        import time
        time.sleep(1.0)
        return make_idata(11)

    barrier.wait()
    idata, hit = FitCache(root).get_or_create(key, create, {"model": "m_01", "pid": os.getpid()})
    np.save(out_file, idata.posterior["alpha"].values)
    Path(out_file + ".hit").write_text(str(hit))


def test_concurrent_get_or_create_fits_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    root, key, calls = tmp_path / "fits", FitCache.make_key(**BASE_PARTS), tmp_path / "calls.txt"
    barrier = ctx.Barrier(2)
    outs = [str(tmp_path / f"out{i}.npy") for i in range(2)]
    procs = [ctx.Process(target=_slow_create_worker, args=(str(root), key, str(calls), out, barrier)) for out in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(calls.read_text().splitlines()) == 1  # create ran exactly once
    assert sorted(Path(o + ".hit").read_text() for o in outs) == ["False", "True"]
    first, second = (np.load(o) for o in outs)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, make_idata(11).posterior["alpha"].values)
    assert [r.status for r in FitCache(root).verify()] == ["ok"]


def _writer_worker(root: str, key: str, writer: int, rounds: int, barrier: Any) -> None:
    cache = FitCache(root)
    barrier.wait()
    for r in range(rounds):
        cache.store(key, make_idata(100 * writer + r, writer=writer, round=r), {"writer": writer})


def test_concurrent_writers_never_corrupt(tmp_path: Path) -> None:
    """Two processes store the same key over and over while this one reads it:
    every read is a miss or exactly one writer's data, never a torn entry."""
    ctx = multiprocessing.get_context("spawn")
    root, key = str(tmp_path / "fits"), FitCache.make_key(x="contended")
    barrier = ctx.Barrier(3)  # both writers and the reader (this process) start together
    procs = [ctx.Process(target=_writer_worker, args=(root, key, w, 6, barrier)) for w in (1, 2)]
    for p in procs:
        p.start()
    cache, seen = FitCache(root), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        barrier.wait()
        while any(p.is_alive() for p in procs):
            idata = cache.load(key)
            if idata is None:
                seen.append("miss")
                time.sleep(0.01)  # leave the CPU to the writers until the first entry lands
                continue
            # the values must be exactly those the writer named in the attrs stored
            expected = make_idata(100 * int(idata.attrs["writer"]) + int(idata.attrs["round"]))
            same = np.array_equal(idata.posterior["alpha"].values, expected.posterior["alpha"].values)
            seen.append("ok" if same else "mixed")
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0]
    assert not [w for w in caught if issubclass(w.category, CorruptCacheEntryWarning)]
    assert set(seen) <= {"ok", "miss"}, seen
    [result] = FitCache(root).verify()
    assert result.ok
    assert FitCache(root).load(key).attrs["round"] == 5  # the last store of either writer


def test_loaded_entry_equals_arvizs_own_reading_of_the_file(tmp_path: Path) -> None:
    """The cache reads its verified bytes with netCDF4 from memory; the result must be exactly
    what ArviZ reads from the same file: every group, value, dtype, coordinate and attribute."""
    rng = np.random.default_rng(5)
    idata = az.from_dict(
        posterior={"alpha": rng.lognormal(size=(2, 30, 3)), "beta": rng.normal(size=(2, 30, 3, 4))},
        sample_stats={"diverging": np.zeros((2, 30), bool), "energy": rng.normal(size=(2, 30))},
        log_likelihood={"y": rng.normal(size=(2, 30, 7))},
        posterior_predictive={"y": rng.integers(1, 4, size=(2, 30, 7)).astype(np.int8)},
        observed_data={"y": np.arange(7)},
        dims={"alpha": ["cell"], "beta": ["cell", "feature"], "y": ["obs"]},
        coords={"cell": ["a", "b", "c"], "obs": list(range(7))},
        attrs={"model": "demo", "seed": 3, "sampling_seconds": 1.5},
    )
    cache = FitCache(tmp_path)
    path = cache.store("ab" * 32, idata, {"model": "demo"})
    loaded = cache.load("ab" * 32)
    reference = az.from_netcdf(str(path))
    assert list(loaded.groups()) == list(reference.groups())
    for group in reference.groups():
        assert loaded[group].identical(reference[group]), group
    assert loaded.posterior_predictive["y"].dtype == np.int8
    assert dict(loaded.attrs) == dict(reference.attrs) and loaded.attrs["model"] == "demo"


def test_a_fit_from_the_cache_can_be_saved_and_read_back_with_arviz(tmp_path: Path) -> None:
    """A user saves a fit with ArviZ's own to_netcdf and reads it with from_netcdf, whether the fit
    was just computed (the stored entry read back) or loaded on a hit. The loaded groups used to
    keep a close() bound to the cache's closed netCDF handle: "NetCDF: Not a valid ID"."""
    cache = FitCache(tmp_path / "fits")
    key = FitCache.make_key(x="save me")
    for round_ in ("miss", "hit"):
        idata, hit = cache.get_or_create(key, lambda: make_idata(7), {"model": "m_01"})
        assert hit == (round_ == "hit")
        saved = tmp_path / f"{round_}.nc"
        idata.to_netcdf(str(saved))
        assert_same_idata(az.from_netcdf(str(saved)), idata)
        idata.to_netcdf(str(saved))  # twice: nothing was closed by the first save
        assert float(idata.posterior["alpha"].sum()) == pytest.approx(float(make_idata(7).posterior["alpha"].sum()))
