"""Remembered results (seu_sensitivity.inference.memo): reused for the same numbers and code, recomputed otherwise."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest

from seu_sensitivity.inference import memo
from seu_sensitivity.cli import main as seu_main

CALLS: list[int] = []


@memo.remembered(__name__)
def column_means(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    CALLS.append(1)
    return x.mean(axis=0) * scale


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEU_CACHE_DIR", str(tmp_path / "fits"))
    monkeypatch.delenv(memo.MEMO_ENV, raising=False)
    CALLS.clear()
    return tmp_path / "fits"


def big(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(memo.MIN_ELEMENTS // 100 + 1, 100))


def test_same_numbers_computed_once(cache):
    x = big()
    first = column_means(x)
    again = column_means(x.copy())  # equal bytes, another object
    assert len(CALLS) == 1
    np.testing.assert_array_equal(first, again)
    assert (cache / "derived").is_dir()


def test_other_numbers_or_arguments_recompute(cache):
    x = big()
    column_means(x)
    y = x.copy()
    y[0, 0] += 1e-12  # one changed number is another input
    column_means(y)
    assert len(CALLS) == 2
    column_means(x, scale=2.0)
    assert len(CALLS) == 3


def test_small_inputs_and_opt_out_are_not_remembered(cache, monkeypatch):
    small = np.ones((10, 3))
    column_means(small)
    column_means(small)
    assert len(CALLS) == 2
    assert not (cache / "derived").exists()
    monkeypatch.setenv(memo.MEMO_ENV, "0")
    x = big()
    column_means(x)
    column_means(x)
    assert len(CALLS) == 4


def test_code_change_means_a_new_folder():
    here = memo._fingerprint((__name__,))
    other = memo._fingerprint(("seu_sensitivity.inference.psis",))
    assert here != other and len(here) == 16


def test_a_damaged_result_is_recomputed_not_trusted(cache):
    x = big()
    expected = column_means(x)
    outputs = list((cache / "derived").rglob("output.pkl"))
    assert len(outputs) == 1
    outputs[0].write_bytes(b"not a pickle")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joblib says it recomputes
        result = column_means(x)
    np.testing.assert_array_equal(result, expected)
    assert len(CALLS) == 2


def test_diagnose_and_loo_give_the_same_numbers_remembered(cache):
    """The remembered paths of diagnose() and psis.loo() return exactly what a fresh computation does."""
    from seu_sensitivity.inference import psis
    from seu_sensitivity.inference.diagnostics import diagnose

    rng = np.random.default_rng(3)
    idata = az.from_dict(
        posterior={"theta": rng.normal(size=(4, 500, 600))},
        log_likelihood={"y": rng.normal(-1.0, 0.3, size=(4, 500, 600))},
        sample_stats={"diverging": np.zeros((4, 500), bool), "energy": rng.normal(size=(4, 500))},
    )
    fresh_table = diagnose(idata)
    fresh_loo = psis.loo(idata, reff=0.9)
    assert len(list((cache / "derived").rglob("output.pkl"))) == 2
    table = diagnose(idata)
    loo = psis.loo(idata, reff=0.9)
    assert table.equals(fresh_table)
    np.testing.assert_array_equal(loo["loo_i"].values, fresh_loo["loo_i"].values)
    np.testing.assert_array_equal(loo["pareto_k"].values, fresh_loo["pareto_k"].values)
    assert loo["elpd_loo"] == fresh_loo["elpd_loo"]


def test_cache_clear_removes_remembered_results(cache, capsys):
    column_means(big())
    assert (cache / "derived").is_dir()
    assert seu_main(["cache", "clear", "--dir", str(cache)]) == 0
    assert not (cache / "derived").exists()
