"""convergence: the vectorised R-hat and ESS equal ArviZ's per-element ones, edge cases included.

Tolerance: relative 1e-12 (the two differ only by the order of floating-point sums
and FFT batching, about 1e-15); NaN must be NaN in both.
"""

from __future__ import annotations

import doctest
import warnings

import arviz as az
import numpy as np
import pytest

from seu_sensitivity.inference import convergence
from seu_sensitivity.inference.diagnostics import _worst, diagnose

RTOL = 1e-12
FUNCTIONS = {"rhat": (convergence.rhat, lambda ds: az.rhat(ds)),
             "ess_bulk": (convergence.ess_bulk, lambda ds: az.ess(ds, method="bulk")),
             "ess_tail": (convergence.ess_tail, lambda ds: az.ess(ds, method="tail")),
             "ess_mean": (convergence.ess_mean, lambda ds: az.ess(ds, method="mean"))}


def _ar1(rng, shape, phi):
    x = np.empty(shape)
    x[:, 0] = rng.normal(size=(shape[0], *shape[2:]))
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=(shape[0], *shape[2:]))
    return x


def _stuck(rng):
    x = rng.normal(size=(4, 200, 3))
    x[0] += 2.5  # a chain in another mode
    x[1, :, 1] = x[1, 0, 1]  # a chain that never moves: ties
    x[:, :, 2] = np.array([-1.0, 1.0, -1.0, 1.0])[:, None]  # chains stuck at +-1: bulk R-hat huge, tail 0 / 0
    return x


def _constant_and_nan(rng):
    x = rng.normal(size=(4, 100, 3))
    x[:, :, 1] = 0.7  # a fixed parameter
    x[2, 17, 2] = np.nan  # a NaN draw (what diagnose fills and blanks)
    return x


def _infinite(rng):
    x = rng.normal(size=(4, 100, 3))
    x[:, ::10, 0] = np.inf
    x[:, ::10, 1], x[:, 5::10, 1] = -np.inf, np.inf
    x[:, :60, 2] = np.inf  # an infinite median: the folded draws hold inf - inf
    return x


CASES = {
    "ar1 phi 0.9": lambda rng: _ar1(rng, (4, 300, 5), 0.9),
    "independent normal": lambda rng: rng.normal(size=(4, 200, 3)),
    "student-t 2 df": lambda rng: rng.standard_t(2, size=(4, 250, 4)),
    "stuck and shifted chains": _stuck,
    "odd number of draws": lambda rng: _ar1(rng, (3, 101, 4), 0.5),
    "one chain": lambda rng: _ar1(rng, (1, 200, 3), 0.7),
    "constant and NaN elements": _constant_and_nan,
    "discrete draws (ties)": lambda rng: rng.poisson(2.0, size=(2, 150, 3)).astype(float),
    "multi-dimensional elements": lambda rng: _ar1(rng, (2, 150, 2, 3, 2), 0.3),
    "too few draws": lambda rng: rng.normal(size=(4, 3, 2)),
    "scalar parameter": lambda rng: rng.normal(size=(2, 80)),
    "infinite draws": _infinite,
}


def _arviz(name, x):
    """ArviZ's answer, element by element, with the element dims of ``x``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns about NaN, 0 / 0 and short chains
        dataset = az.convert_to_dataset({"x": x})
        return np.asarray(FUNCTIONS[name][1](dataset)["x"].values, dtype=float)


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("case", list(CASES))
def test_equals_arviz(case, name):
    x = CASES[case](np.random.default_rng(list(CASES).index(case)))
    expected = _arviz(name, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN and inf are answers here, not warnings
        result = FUNCTIONS[name][0](x)
    assert result.shape == x.shape[2:]
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=0, equal_nan=True)


def test_summary_is_the_three_functions():
    x = _stuck(np.random.default_rng(7))
    result = convergence.summary(x)
    assert sorted(result) == sorted(convergence.NAMES)
    for name in convergence.NAMES:
        function = FUNCTIONS[name][0]
        np.testing.assert_array_equal(result[name], function(x))


def test_cases_reach_the_edge_cases_they_name():
    """The cases above exercise what their names say, judged by ArviZ's own answers."""
    rng = np.random.default_rng
    stuck = _arviz("rhat", _stuck(rng(0)))
    assert stuck[0] > 1.1 and stuck[2] > 1e6
    assert np.all(np.isnan(_arviz("rhat", CASES["one chain"](rng(0)))))
    assert np.all(np.isfinite(_arviz("ess_bulk", CASES["one chain"](rng(0)))))
    x = _constant_and_nan(rng(0))
    rhat, bulk = (_arviz(name, x) for name in ("rhat", "ess_bulk"))
    assert np.isnan(rhat[1]) and np.isnan(rhat[2]) and np.isfinite(rhat[0])
    assert bulk[1] == x.shape[0] * x.shape[1] and np.isnan(bulk[2])  # constant: the number of (split) draws


@pytest.mark.parametrize("shape", [(2, 50), (3, 40, 1)])
def test_the_input_is_left_unchanged(shape):
    x = np.random.default_rng(8).normal(size=shape)
    x[0, 3] = np.nan
    before = x.copy()
    result = convergence.summary(x)
    np.testing.assert_array_equal(x, before)
    assert all(np.all(np.isnan(value)) for value in result.values())


def test_input_must_have_chain_and_draw_axes():
    with pytest.raises(ValueError, match="chain, draw"):
        convergence.rhat(np.zeros(10))


def test_doctests():
    result = doctest.testmod(convergence)
    assert result.attempted > 0 and result.failed == 0


def test_diagnose_table_equals_the_arviz_computation():
    """diagnose() gives the values and locations the former az.rhat / az.ess code gave."""
    rng = np.random.default_rng(11)
    chains, draws = 3, 120
    alpha = _ar1(rng, (chains, draws, 3), 0.8)
    alpha[1, :, 2] += 1.0
    beta = rng.standard_t(3, size=(chains, draws, 2, 4))
    beta[:, :, 0, 3] = np.nan  # ragged padding
    idata = az.from_dict(
        posterior={"alpha": alpha, "beta": beta, "mu": rng.normal(size=(chains, draws))},
        sample_stats={"diverging": np.zeros((chains, draws), bool), "energy": rng.normal(size=(chains, draws))},
        dims={"alpha": ["cell"], "beta": ["group", "k"]},
        coords={"cell": ["a", "b", "c"], "group": ["g0", "g1"], "k": [0, 1, 2, 3]},
    )
    table = diagnose(idata)

    # the former computation: ArviZ on the NaN-filled posterior, padding blanked
    posterior = idata.posterior
    padding = posterior.isnull().any(("chain", "draw"))
    filled = posterior.fillna(0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0 / 0 R-hat of the filled padding
        expected = {
            "max R-hat": _worst(az.rhat(filled).where(~padding), np.nanargmax),
            "min bulk ESS": _worst(az.ess(filled, method="bulk").where(~padding), np.nanargmin),
            "min tail ESS": _worst(az.ess(filled, method="tail").where(~padding), np.nanargmin),
        }
    assert all(np.isfinite(value) for value, _ in expected.values())
    for check, (value, where) in expected.items():
        assert table.loc[check, "value"] == pytest.approx(value, rel=RTOL, abs=0)
        assert table.loc[check, "where"] == where
    assert table.loc["max R-hat", "where"].startswith("alpha[")  # the shifted cell is found
