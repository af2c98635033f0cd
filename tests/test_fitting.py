"""fit(): InferenceData layout, generic programs, errors, Jupyter, and the fit cache through fit."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seu_sensitivity import factorial_design, simulate_cell, simulate_hierarchical, stack_cells
from seu_sensitivity.inference.backends import BACKENDS, get_backend
from seu_sensitivity.inference.backends.cmdstanpy import CmdStanPyBackend
from seu_sensitivity.inference.backends.pystan import PyStanBackend
from seu_sensitivity.inference.fitting import DEFAULT_SEED, fit, prepare, sampling_seconds
from seu_sensitivity.model.priors import HM01Priors, M01Priors
from seu_sensitivity.settings import stan_dir
from seu_sensitivity.inference.programs import x_new_frame

TINY = dict(chains=1, warmup=100, draws=60)


@pytest.fixture(scope="module")
def cell():
    data, _ = simulate_cell(M=25, R=6, D=2, K=3, alpha=10.0, seed=3, cell_id="c")
    return data


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "fits"
    monkeypatch.setenv("SEU_CACHE_DIR", str(folder))
    return folder


class Sampled(Exception):
    """Raised by the patched backend: the call would have compiled and sampled (a cache miss)."""


@pytest.fixture
def forbid_sampling(monkeypatch):
    """Make every backend's sample raise Sampled (whichever the setting or "auto" picks)."""
    def refuse(self, *args, **kwargs):
        raise Sampled

    def forbid():
        for cls in (PyStanBackend, CmdStanPyBackend):
            monkeypatch.setattr(cls, "sample", refuse)
    assert len(BACKENDS) == 2, "forbid_sampling must patch every backend"
    return forbid


@pytest.fixture
def a_backend():
    """The backend fit() picks by default, or a skip saying none is installed."""
    from seu_sensitivity.inference.backends import BackendUnavailable

    try:
        return get_backend()
    except BackendUnavailable as error:
        pytest.skip(str(error))


# -- cache through fit ----------------------------------------------------------------------


@pytest.mark.slow
def test_second_identical_call_loads_from_cache_and_every_change_misses(
    cell, cache_dir, forbid_sampling, monkeypatch, tmp_path, a_backend
):
    first = fit("m_01", cell, seed=1, **TINY)
    assert len(list(cache_dir.rglob("*.nc"))) == 1
    forbid_sampling()
    again = fit("m_01", cell, seed=1, **TINY)  # would raise Sampled on a miss
    np.testing.assert_array_equal(first.posterior["alpha"].values, again.posterior["alpha"].values)
    # the sampling time is recorded when the fit runs, and survives the cache
    assert sampling_seconds(first) > 0 and sampling_seconds(again) == sampling_seconds(first)
    assert set(again.groups()) >= {"posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data"}

    other_y = cell.y.copy()
    other_y[0] = 1 if other_y[0] != 1 else 2
    changed_data = type(cell)(w=cell.w, I=cell.I, y=other_y, K=cell.K, cell_id=cell.cell_id)
    changes = {
        "data": lambda: fit("m_01", changed_data, seed=1, **TINY),
        "priors": lambda: fit("m_01", cell, seed=1, priors=M01Priors(alpha_mu=3.5), **TINY),
        "draws": lambda: fit("m_01", cell, seed=1, chains=1, warmup=100, draws=61),
        "chains": lambda: fit("m_01", cell, seed=1, chains=2, warmup=100, draws=60),
        "sampler kwarg": lambda: fit("m_01", cell, seed=1, adapt_delta=0.95, **TINY),
        "seed": lambda: fit("m_01", cell, seed=2, **TINY),
    }
    for what, call in changes.items():
        with pytest.raises(Sampled):
            call()
            pytest.fail(f"a change of {what} was served from the cache")

    # a version of any package of the backend that runs
    backend_class = type(a_backend)
    real_versions = backend_class.versions
    for package in real_versions(a_backend):
        monkeypatch.setattr(backend_class, "versions", lambda self, p=package: {**real_versions(self), p: "0.0.0"})
        with pytest.raises(Sampled):
            fit("m_01", cell, seed=1, **TINY)
    monkeypatch.setattr(backend_class, "versions", real_versions)

    # Stan source: the same program plus a comment, from another stan folder
    other = tmp_path / "stan"
    shutil.copytree(stan_dir(), other)
    (other / "m_01.stan").write_text((stan_dir() / "m_01.stan").read_text() + "\n// edited\n")
    monkeypatch.setenv("SEU_STAN_DIR", str(other))
    with pytest.raises(Sampled):
        fit("m_01", cell, seed=1, **TINY)
    monkeypatch.delenv("SEU_STAN_DIR")
    fit("m_01", cell, seed=1, **TINY)  # and back to the original: a hit again


def test_cache_false_always_samples(cell, cache_dir, forbid_sampling, a_backend):
    forbid_sampling()
    with pytest.raises(Sampled):
        fit("m_01", cell, cache=False, **TINY)
    assert not cache_dir.exists() or not list(cache_dir.rglob("*.nc"))


# -- layout of the packaged models ------------------------------------------------------------


@pytest.mark.slow
def test_h_m01_inference_data_layout(cache_dir, a_backend):
    design = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q"]})
    data, _ = simulate_hierarchical(design, n_obs=15, R=6, D=2, K=3, seed=8)
    idata = fit("h_m01", data, chains=1, warmup=80, draws=40, seed=3, X_new={"llm[T.b]": 1.0, "prompt[T.q]": 0.0})
    post = idata.posterior
    assert set(post.data_vars) == {"gamma0", "gamma", "sigma_cell", "z", "log_alpha", "alpha", "beta", "delta", "eta",
                                   "eta_logit", "alpha_new"}
    assert post["beta"].dims == ("chain", "draw", "cell", "consequence", "feature")
    # eta: the expected utility of each cell's alternatives, from that draw's beta and delta
    assert post["eta"].dims == ("chain", "draw", "cell", "alternative") and post["eta"].shape[-1] == data.R
    from seu_sensitivity.model.choice import stacked_expected_utilities

    np.testing.assert_allclose(post["eta"].values,
                               stacked_expected_utilities(data, post["beta"].values, post["delta"].values), rtol=1e-12)
    # eta_logit: alpha_j times eta measured from the cell's mean alternative
    centred = post["eta"] - post["eta"].mean("alternative")
    np.testing.assert_allclose(post["eta_logit"].values, (post["alpha"] * centred).values, rtol=1e-10)
    assert post["delta"].dims == ("chain", "draw", "group", "increment")
    assert list(post["cell"].values) == list(data.cell_ids)
    assert list(post["predictor"].values) == list(data.X.columns)
    assert list(post["consequence"].values) == [1, 2, 3] and list(post["feature"].values) == [1, 2]
    assert list(post["group"].values) == ["all"] and list(post["new_cell"].values) == ["new"]
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "obs")
    assert idata.posterior_predictive["y"].shape == (1, 40, data.M)
    # replicated choices are stored as small integers, not PyStan's float64
    assert idata.posterior_predictive["y"].dtype.kind == "i" and idata.posterior_predictive["y"].dtype.itemsize <= 2
    np.testing.assert_array_equal(idata.observed_data["y"].values, data.y)
    np.testing.assert_array_equal(idata.constant_data["cell_index"].values, data.cell_of)
    assert idata.sample_stats["diverging"].dtype == bool
    # diagnose() reads this layout: one chain of 40 draws is flagged, with finite ESS figures
    from seu_sensitivity.inference.diagnostics import diagnose

    table = diagnose(idata)
    assert np.isfinite(table.loc["min bulk ESS", "value"]) and not table.attrs["trustworthy"]
    assert not table.loc["max R-hat", "ok"]  # R-hat needs two chains


def test_x_new_forms_and_errors():
    assert x_new_frame(None, ["a", "b"]).index.tolist() == ["reference"]
    assert x_new_frame(None, []).shape == (1, 0)
    frame = pd.DataFrame({"b": [1.0, 2.0], "a": [0.0, 1.0]}, index=["u", "v"])
    assert x_new_frame(frame, ["a", "b"]).to_numpy().tolist() == [[0.0, 1.0], [1.0, 2.0]]
    assert x_new_frame(np.array([[1.0, 2.0]]), ["a", "b"]).index.tolist() == ["new0"]
    with pytest.raises(ValueError, match="missing \\['b'\\]"):
        x_new_frame({"a": 1.0}, ["a", "b"])
    with pytest.raises(ValueError, match="expected shape \\(N, 2\\)"):
        x_new_frame(np.ones((2, 3)), ["a", "b"])


def test_prepare_builds_the_documented_h_m01_data():
    design = factorial_design({"llm": ["a", "b"]})
    data, _ = simulate_hierarchical(design, n_obs=5, R=4, D=2, K=3, seed=1)
    _, stan_data, _, _ = prepare("h_m01", data, priors=HM01Priors(gamma_sd=0.5))
    assert stan_data["gamma_sd"] == 0.5 and stan_data["N_new"] == 1 and stan_data["X_new"] == [[0.0]]
    assert (stan_data["fix_gamma0"], stan_data["fix_sigma_cell"]) == (0, 0)
    _, fixed, _, _ = prepare("h_m01", data, fixed={"gamma0": 3.0, "sigma_cell": 0.5})
    assert (fixed["fix_gamma0"], fixed["gamma0_fixed"], fixed["fix_sigma_cell"], fixed["sigma_cell_fixed"]) == (
        1, 3.0, 1, 0.5)
    _, pooled, _, _ = prepare("h_m01", data, fixed={"sigma_cell": 0.0})
    assert (pooled["fix_gamma0"], pooled["fix_sigma_cell"], pooled["sigma_cell_fixed"]) == (0, 1, 0.0)


def test_belief_scaling_follows_choices_per_belief_coordinate():
    """"auto" scales a cell exactly when it has >= SCALED_BELIEFS_MIN_CHOICES choices per
    coordinate (K - 1) D; True / False / a full {cell: bool} mapping override it, and the
    choice reaches the Stan data and the fit's constant_data."""
    from seu_sensitivity.inference.programs import SCALED_BELIEFS_MIN_CHOICES, belief_scaling, choices_per_belief_coordinate

    design = factorial_design({"llm": ["a", "b"]})
    data, _ = simulate_hierarchical(design, n_obs=40, R=4, D=2, K=3, seed=1)   # 40 / 4 = 10 per coordinate
    thin, _ = simulate_hierarchical(design, n_obs=39, R=4, D=2, K=3, seed=1)   # 9.75
    assert SCALED_BELIEFS_MIN_CHOICES == 10.0
    assert belief_scaling(data).tolist() == [1, 1] and belief_scaling(thin).tolist() == [0, 0]
    mixed = stack_cells([data.cell(data.cell_ids[0]), thin.cell(thin.cell_ids[1])], design=design)
    assert belief_scaling(mixed).tolist() == [1, 0]
    assert choices_per_belief_coordinate(mixed).tolist() == [10.0, 9.75]
    assert belief_scaling(mixed, True).tolist() == [1, 1] and belief_scaling(mixed, False).tolist() == [0, 0]
    flipped = {mixed.cell_ids[0]: False, mixed.cell_ids[1]: True}
    assert belief_scaling(mixed, flipped).tolist() == [0, 1]
    _, stan_data, layout, _ = prepare("h_m01", mixed, belief_scale=flipped)
    assert stan_data["scale_beliefs"] == [0, 1] and layout.constant_data["scale_beliefs"].tolist() == [0, 1]
    assert layout.dims["scale_beliefs"] == ["cell"]
    _, m_data, m_layout, _ = prepare("m_01", thin.cell(thin.cell_ids[0]))
    assert m_data["scale_beliefs"] == 0 and int(m_layout.constant_data["scale_beliefs"]) == 0
    assert prepare("m_01", thin.cell(thin.cell_ids[0]), belief_scale=True)[1]["scale_beliefs"] == 1

    with pytest.raises(ValueError, match=r"belief_scale: the mapping must name every cell once; unknown \['x'\], missing"):
        belief_scaling(mixed, {mixed.cell_ids[0]: True, "x": False})
    with pytest.raises(ValueError, match=f"belief_scale: cell '{mixed.cell_ids[1]}' has 1; expected True or False"):
        belief_scaling(mixed, {mixed.cell_ids[0]: True, mixed.cell_ids[1]: 1})
    with pytest.raises(ValueError, match="belief_scale: expected 'auto'"):
        belief_scaling(mixed, "always")
    with pytest.raises(TypeError, match="unexpected keyword"):
        prepare("primer/normal_means", {}, belief_scale=True)


def test_errors_name_the_problem(cell):
    with pytest.raises(TypeError, match="must be a StackedData"):
        fit("h_m01", cell)
    with pytest.raises(TypeError, match="priors must be a M01Priors"):
        fit("m_01", cell, priors=HM01Priors())
    with pytest.raises(TypeError, match="unexpected option"):
        fit("m_01", cell, X_new=[[1.0]])
    with pytest.raises(ValueError, match="seed must be an integer"):
        fit("m_01", cell, seed=None)
    with pytest.raises(FileNotFoundError, match="no Stan program 'nope'"):
        fit("nope", {})
    two_cells = simulate_hierarchical(2, n_obs=3, R=4, D=1, seed=1)[0]
    with pytest.raises(ValueError, match="only 'gamma0' and 'sigma_cell' can be fixed"):
        prepare("h_m01", two_cells, fixed={"gamma": 1.0})
    with pytest.raises(ValueError, match="sigma_cell must be a finite number >= 0"):
        prepare("h_m01", two_cells, fixed={"sigma_cell": -0.1})
    with pytest.raises(ValueError, match="centred h_m01 divides by sigma_cell"):
        prepare("h_m01_centered", two_cells, fixed={"sigma_cell": 0.0})
    assert DEFAULT_SEED == 20240611


# -- generic programs, in and out of a running event loop --------------------------------------

NORMAL = (Path(__file__).parent / "fixtures" / "stan" / "normal_tiny.stan").read_text(encoding="utf-8")


@pytest.fixture
def primer_dir(tmp_path, monkeypatch):
    folder = tmp_path / "stan"
    (folder / "primer").mkdir(parents=True)
    (folder / "primer" / "normal.stan").write_text(NORMAL)
    monkeypatch.setenv("SEU_STAN_DIR", str(folder))
    return folder


@pytest.mark.slow
def test_generic_program_with_dims_coords_and_predictive(primer_dir, cache_dir, a_backend):
    y = [0.5, 1.5, 1.0, 2.0]
    idata = fit(
        "primer/normal", {"N": 4, "y": y, "sigma": 1.0}, seed=4, **TINY,
        dims={"theta": ["side"], "y": ["obs"], "log_lik": ["obs"], "y_rep": ["obs"]},
        coords={"side": ["left", "right"], "obs": ["a", "b", "c", "d"]},
        posterior_predictive=["y_rep"], observed_data={"y": y},
    )
    assert set(idata.posterior.data_vars) == {"mu", "theta", "m", "chain_mu"}
    assert "log_lik" not in idata.posterior and "y_rep" not in idata.posterior
    assert list(idata.posterior["side"].values) == ["left", "right"]
    assert list(idata.log_likelihood["log_lik"]["obs"].values) == ["a", "b", "c", "d"]
    assert idata.posterior_predictive["y_rep"].dims == ("chain", "draw", "obs")
    np.testing.assert_allclose(idata.observed_data["y"].values, y)
    # posterior of mu: conjugate normal, N(sum y / (N + 1/25), ...): mean 1.24 with 60 draws, sd 0.5
    assert abs(float(idata.posterior["mu"].mean()) - 5.0 / (4 + 1 / 25)) < 0.5
    with pytest.raises(KeyError, match="no variable 'nothing'"):
        fit("primer/normal", {"N": 4, "y": y, "sigma": 1.0}, posterior_predictive=["nothing"], cache=False, **TINY)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_fit_works_inside_a_running_event_loop(primer_dir, name):
    """As in a Jupyter kernel (nbclient), where PyStan's asyncio.run would otherwise fail."""
    from seu_sensitivity.inference.backends import BackendUnavailable

    try:
        get_backend(name)
    except BackendUnavailable as error:
        pytest.skip(str(error))

    async def in_kernel():
        return fit("primer/normal", {"N": 2, "y": [0.0, 1.0], "sigma": 1.0}, seed=5, cache=False, backend=name, **TINY)

    idata = asyncio.run(in_kernel())
    assert idata.posterior["mu"].shape == (1, 60)
