"""The contract every Stan backend keeps, checked on CmdStanPy and PyStan alike.

One small program (below), the same data and seed: the same draws to the
last bit (measured: CmdStan's CSV at 17 significant digits round-trips every
double, and both libraries seed chain c with (seed, c)); the same
InferenceData layout and attributes; cache hits and misses; initial values
given as ``init``, ``inits`` or ``init_radius``; variables of size zero; and
the errors a user sees for a broken program or bad data. A backend that is
not installed is skipped, saying how to install it.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pytest

import seu_sensitivity.inference.backends as backends
from seu_sensitivity.inference.backends import BACKENDS, StanProgram, get_backend
from seu_sensitivity.inference.backends.base import Backend, BackendUnavailable, StanDataError, StanProgramError
from seu_sensitivity.inference.backends.cmdstanpy import CmdStanPyBackend
from seu_sensitivity.inference.backends.pystan import PyStanBackend
from seu_sensitivity.inference.fitting import fit

pytestmark = pytest.mark.slow

#: mu free, tau constrained (its unconstrained 0 is tau = 1), gamma of size P (0 allowed), side
#: with two modes far apart (a chain stays in the one it starts in), integer and real
#: generated quantities, a matrix to check the element order
PROGRAM = """\
data {
  int<lower=1> N;
  vector[N] y;
  real<lower=0> sigma;
  int<lower=0> P;
}
transformed data {
  if (N > 50) reject("N = ", N, ": this test program takes at most 50 observations");
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[P] gamma;
  real side;
}
model {
  mu ~ normal(0, 5);
  tau ~ lognormal(0, 1);
  gamma ~ normal(0, tau);
  y ~ normal(mu, sigma);
  target += log_mix(0.5, normal_lpdf(side | -20, 1), normal_lpdf(side | 20, 1));
}
generated quantities {
  vector[N] log_lik;
  array[N] int above;
  matrix[2, 3] m;
  for (n in 1:N) {
    log_lik[n] = normal_lpdf(y[n] | mu, sigma);
    above[n] = y[n] > mu;
  }
  for (i in 1:2) for (j in 1:3) m[i, j] = 10 * i + j;
}
"""
DATA = {"N": 3, "y": [0.2, 1.1, 2.4], "sigma": 1.0, "P": 0}
SHORT = dict(chains=2, warmup=100, draws=40)
NAMES = sorted(BACKENDS)


def _unavailable(name: str) -> str | None:
    try:
        get_backend(name)
    except BackendUnavailable as error:
        return str(error)
    return None


@pytest.fixture(params=NAMES)
def backend(request) -> Backend:
    """Each backend in turn, or a skip saying why it cannot run here."""
    reason = _unavailable(request.param)
    if reason is not None:
        pytest.skip(f"{request.param} not available: {reason}")
    return get_backend(request.param)


@pytest.fixture
def both() -> dict[str, Backend]:
    missing = {name: reason for name in NAMES if (reason := _unavailable(name)) is not None}
    if missing:
        pytest.skip("comparing backends needs both; " + "; ".join(f"{k}: {v}" for k, v in missing.items()))
    return {name: get_backend(name) for name in NAMES}


@pytest.fixture
def stan_dir(tmp_path, monkeypatch) -> Path:
    """A stan/ folder holding the contract program as contract.stan (and room for broken ones)."""
    folder = tmp_path / "stan"
    folder.mkdir()
    (folder / "contract.stan").write_text(PROGRAM, encoding="utf-8")
    monkeypatch.setenv("SEU_STAN_DIR", str(folder))
    return folder


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "fits"
    monkeypatch.setenv("SEU_CACHE_DIR", str(folder))
    return folder


def contract_fit(backend: Backend, **kwargs):
    arguments = dict(SHORT, seed=11, backend=backend.name, cache=False,
                     dims={"log_lik": ["obs"], "above": ["obs"], "gamma": ["predictor"]},
                     coords={"obs": ["a", "b", "c"]}, posterior_predictive=["above"],
                     observed_data={"y": DATA["y"]})
    arguments.update(kwargs)
    data = arguments.pop("data", DATA)
    return fit("contract", data, **arguments)


# -- the same draws --------------------------------------------------------------------------


def test_same_program_data_and_seed_give_the_same_draws_on_both_backends(both):
    """Not merely the same distribution: the same numbers, every variable and sampler
    statistic, warmup statistics included, with default and with given initial values."""
    program = StanProgram("contract", None, PROGRAM)
    for inits in ({}, {"init": 0}, {"init": {"mu": 3.0, "tau": 0.5}}):
        results = {name: engine.sample(program, DATA, seed=5, save_warmup_stats=True, **SHORT, **inits)
                   for name, engine in both.items()}
        first, second = results.values()
        assert sorted(first.draws) == sorted(second.draws)
        for name in first.draws:
            assert first.draws[name].shape == second.draws[name].shape, name
            np.testing.assert_array_equal(first.draws[name], second.draws[name], err_msg=f"{name}, {inits}")
        assert sorted(first.sample_stats) == sorted(second.sample_stats)
        for name in first.sample_stats:
            assert first.sample_stats[name].dtype == second.sample_stats[name].dtype, name
            np.testing.assert_array_equal(first.sample_stats[name], second.sample_stats[name], err_msg=name)
        np.testing.assert_array_equal(first.warmup_n_steps, second.warmup_n_steps)


def test_draws_keep_full_double_precision(backend, stan_dir):
    """log_lik is computed from mu inside Stan: it must equal NumPy's normal log density at the
    draws of mu to rounding. CmdStan writes 6 significant digits unless told otherwise, and
    6-digit draws miss this by about 1e-6."""
    idata = contract_fit(backend)
    mu = idata.posterior["mu"].values[..., None]
    y = np.asarray(DATA["y"])
    expected = -0.5 * (y - mu) ** 2 - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(idata.log_likelihood["log_lik"].values, expected, rtol=1e-14, atol=1e-14)


# -- one InferenceData layout ---------------------------------------------------------------


def test_inference_data_has_one_layout_and_records_its_backend(both, stan_dir):
    fits = {name: contract_fit(engine) for name, engine in both.items()}
    first, second = fits.values()
    assert list(first.groups()) == list(second.groups())
    for group in first.groups():
        a, b = first[group], second[group]
        assert sorted(a.data_vars) == sorted(b.data_vars), group
        assert dict(a.sizes) == dict(b.sizes), group
        for name in a.data_vars:
            assert a[name].dims == b[name].dims and a[name].dtype == b[name].dtype, (group, name)
        for coord in a.coords:
            assert a[coord].values.tolist() == b[coord].values.tolist(), (group, coord)
        assert a.equals(b), f"{group}: the values differ"  # the same draws, as above
    assert first.posterior_predictive["above"].dtype.kind == "i"
    # the attributes: the same names, apart from the versions of each backend's own packages
    for name, idata in fits.items():
        versions = both[name].versions()
        assert idata.attrs["backend"] == name
        assert {key: idata.attrs[f"{key}_version"] for key in versions} == versions
        assert idata.attrs["seed"] == 11 and idata.attrs["sampling_seconds"] > 0

    def common(attrs):
        return {key for key in attrs if not key.endswith("_version")}

    assert common(first.attrs) == common(second.attrs)
    assert CmdStanPyBackend().versions()["cmdstan"].count(".") == 2  # major.minor.patch


# -- the fit cache ----------------------------------------------------------------------------


class Sampled(Exception):
    """Raised by a patched backend: the call would have sampled (a cache miss)."""


def test_cache_hits_and_misses(backend, stan_dir, cache_dir, monkeypatch):
    first = contract_fit(backend, cache=True)
    assert len(list(cache_dir.rglob("*.nc"))) == 1

    def refuse(self, *args, **kwargs):
        raise Sampled

    monkeypatch.setattr(type(backend), "sample", refuse)
    again = contract_fit(backend, cache=True)  # a hit: no sampling
    np.testing.assert_array_equal(first.posterior["mu"].values, again.posterior["mu"].values)
    for change in ({"seed": 12}, {"init": 0}, {"adapt_delta": 0.9}, {"data": {**DATA, "sigma": 2.0}}):
        with pytest.raises(Sampled):
            contract_fit(backend, cache=True, **change)
            pytest.fail(f"{change} was served from the cache")
    for package in backend.versions():  # a new release of any of the backend's packages misses
        monkeypatch.setattr(type(backend), "versions", lambda self, real=backend.versions(), p=package:
                            {**real, p: real[p] + ".1"})
        with pytest.raises(Sampled):
            contract_fit(backend, cache=True)
    monkeypatch.undo()


def test_cmdstan_output_precision_is_part_of_the_cache_key(stan_dir, cache_dir, monkeypatch):
    """A fit whose draws went through 6-digit text is another fit: changing the CSV precision
    misses the cache, so 6-digit fits stored before the precision was fixed are never served."""
    reason = _unavailable("cmdstanpy")
    if reason is not None:
        pytest.skip(f"cmdstanpy not available: {reason}")
    engine = get_backend("cmdstanpy")
    monkeypatch.setattr(CmdStanPyBackend, "sig_figs", 6)
    coarse = contract_fit(engine, cache=True)
    monkeypatch.setattr(CmdStanPyBackend, "sig_figs", 17)
    fine = contract_fit(engine, cache=True)
    assert len(list(cache_dir.rglob("*.nc"))) == 2
    assert not np.array_equal(coarse.posterior["mu"].values, fine.posterior["mu"].values)
    np.testing.assert_allclose(coarse.posterior["mu"].values, fine.posterior["mu"].values, rtol=1e-5)


def test_a_fit_can_be_saved_with_arviz_and_read_back(backend, stan_dir, cache_dir, tmp_path):
    """What a user does with a fit: idata.to_netcdf(path), later az.from_netcdf(path); on a cache
    miss and on a hit. Failed with "NetCDF: Not a valid ID" on both backends."""
    for round_ in ("miss", "hit"):
        idata = contract_fit(backend, cache=True)
        path = tmp_path / f"{backend.name}-{round_}.nc"
        idata.to_netcdf(str(path))
        back = az.from_netcdf(str(path))
        assert list(back.groups()) == list(idata.groups())
        for group in idata.groups():
            assert back[group].equals(idata[group]), group


# -- initial values ----------------------------------------------------------------------------


def test_initial_values_in_every_form(backend, stan_dir):
    """init=0, inits=0 and init_radius=0 (every unconstrained parameter at 0) are one setting
    and give the very same draws; one dict for all chains and the same dict per chain too.
    (A dict and init=0 naming the same start differ in their draws: Stan draws random values
    for unnamed parameters first, which moves the random stream.) init=0 raised
    "unexpected keyword argument 'init'" on CmdStanPy."""
    def mu(**arguments):
        return contract_fit(backend, **arguments).posterior["mu"].values

    zero = mu(init=0)
    np.testing.assert_array_equal(mu(inits=0), zero)
    np.testing.assert_array_equal(mu(init_radius=0), zero)
    start = {"mu": 0.0, "tau": 1.0}
    given = mu(init=start)
    np.testing.assert_array_equal(mu(inits=[start] * SHORT["chains"]), given)
    default = mu()
    assert not np.array_equal(default, zero) and not np.array_equal(default, given)
    assert not np.array_equal(mu(init={"mu": 4.0, "tau": 1.0}), given)
    assert not np.array_equal(mu(init_radius=0.5), default)
    with pytest.raises(ValueError, match="inits: 3 set"):
        contract_fit(backend, inits=[start] * 3)


def test_each_chain_starts_where_it_is_told(backend, stan_dir):
    """side has modes at -20 and +20, too far apart for NUTS to cross: a chain's draws stay in
    the mode its initial value names, so the values reach the right chains."""
    for start, warmup in ((20.0, 100), (-20.0, 100), (20.0, 0)):
        # warmup 0: no adaptation. CmdStanPy refused it (adaptation on by default); the backends then
        # run different Stan services (PyStan has only the adaptive one), so their draws differ.
        idata = contract_fit(backend, init=[{"side": start}, {"side": -start}], warmup=warmup)
        side = idata.posterior["side"].values
        assert np.all(np.sign(side[0]) == np.sign(start)) and np.all(np.sign(side[1]) == -np.sign(start))


# -- zero-size variables -----------------------------------------------------------------------


def test_variables_of_size_zero_are_empty_arrays_with_their_dims(backend, stan_dir):
    """gamma with P = 0 (a design with no predictors) has no CSV column in CmdStan; both backends
    give it as an empty (chain, draw, 0) array, and with P = 2 as (chain, draw, 2)."""
    empty = contract_fit(backend)
    assert empty.posterior["gamma"].shape == (SHORT["chains"], SHORT["draws"], 0)
    assert empty.posterior["gamma"].dims == ("chain", "draw", "predictor")
    two = contract_fit(backend, data={**DATA, "P": 2}, coords={"obs": ["a", "b", "c"], "predictor": ["u", "v"]})
    assert two.posterior["gamma"].shape == (SHORT["chains"], SHORT["draws"], 2)
    assert two.posterior["predictor"].values.tolist() == ["u", "v"]


# -- errors a user sees -------------------------------------------------------------------------


def test_a_broken_program_is_an_error_quoting_stanc(backend, stan_dir):
    (stan_dir / "broken.stan").write_text("parameters {\n  real mu\n}\nmodel { }\n", encoding="utf-8")
    with pytest.raises(StanProgramError, match=r"stanc rejected broken: Syntax error in 'broken', line 3") as error:
        fit("broken", {}, backend=backend.name, cache=False, **SHORT)
    assert error.value.program == "broken" and '";" expected' in error.value.stanc_message
    (stan_dir / "undeclared.stan").write_text("parameters { real mu; }\nmodel { mu ~ normal(nu, 1); }\n")
    with pytest.raises(StanProgramError, match=r"(?s)Semantic error in 'undeclared', line 2.*Identifier 'nu' not in"):
        fit("undeclared", {}, backend=backend.name, cache=False, **SHORT)


@pytest.mark.parametrize("bad, says", [
    ({"N": 3, "y": [0.2, 1.1, 2.4], "P": 0}, r"variable name=sigma"),           # missing
    ({**DATA, "sigma": -1.0}, r"sigma is -1, but must be greater than or equal to 0"),  # out of bounds
    ({**DATA, "N": 4}, r"variable name=y.*dims declared=\(4\); dims found=\(3\)"),  # wrong size
    ({"N": 51, "y": [0.0] * 51, "sigma": 1.0, "P": 0}, r"N = 51: this test program takes at most 50"),  # reject
], ids=["missing", "bound", "size", "reject"])
def test_bad_data_is_an_error_naming_the_field(backend, stan_dir, bad, says):
    with pytest.raises(StanDataError, match=f"contract rejected its data: .*{says}") as error:
        contract_fit(backend, data=bad)
    assert error.value.program == "contract"


def test_bad_initial_values_are_not_blamed_on_the_data(backend, stan_dir):
    """A start the program cannot use is the sampler's error, not a StanDataError."""
    with pytest.raises(RuntimeError, match="nan") as error:
        contract_fit(backend, init={"mu": float("nan"), "tau": 1.0})
    assert not isinstance(error.value, StanDataError)


def test_a_fit_prints_nothing(backend, stan_dir, capfd, caplog):
    """No compile, progress or log line on the user's page (a chapter cell, a worker's terminal):
    CmdStanPy logs "compiling stan file ..." and "Chain [1] start processing" at INFO, PyStan prints
    its progress. The program differs from the others by a comment, so that the first run compiles it."""
    import logging

    (stan_dir / "quiet.stan").write_text("// compiled by test_a_fit_prints_nothing\n" + PROGRAM, encoding="utf-8")
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG):
        idata = fit("quiet", DATA, backend=backend.name, cache=False, seed=2, **SHORT)
    assert idata.posterior["mu"].shape == (SHORT["chains"], SHORT["draws"])
    assert capfd.readouterr() == ("", "")
    # CmdStanPy shows its INFO records through its own handler; other libraries' records show
    # (through Python's last-resort handler) from WARNING up
    shown = [r.getMessage() for r in caplog.records
             if r.name.startswith("cmdstanpy") or r.levelno >= logging.WARNING and r.name.startswith(("httpstan", "stan"))]
    assert shown == []


def test_a_failed_fit_keeps_what_the_backend_said(backend, stan_dir):
    """Quiet, but not silent on failure: the captured console and log lines travel with the error."""
    with pytest.raises(RuntimeError) as error:
        contract_fit(backend, init={"mu": float("nan"), "tau": 1.0})
    assert "console output before the error" in "\n".join(getattr(error.value, "__notes__", []))


def test_a_missing_backend_says_how_to_install_it(monkeypatch, stan_dir):
    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.setattr(CmdStanPyBackend, "available", classmethod(lambda cls: False))
    with pytest.raises(BackendUnavailable, match=r"cmdstanpy.install_cmdstan|set CMDSTAN"):
        fit("contract", DATA, backend="cmdstanpy", cache=False)
    monkeypatch.setattr(PyStanBackend, "available", classmethod(lambda cls: False))
    with pytest.raises(BackendUnavailable, match="pip install pystan"):
        fit("contract", DATA, backend="pystan", cache=False)
