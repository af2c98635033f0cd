"""Backend selection, install messages, sampler-name translation and draw layout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

import seu_sensitivity.inference.backends as backends
from seu_sensitivity.inference.backends import BackendUnavailable, StanProgram, get_backend
from seu_sensitivity.inference.backends.base import Inits, StanProgramError, split_inits
from seu_sensitivity.inference.backends.cmdstanpy import CmdStanPyBackend
from seu_sensitivity.inference.backends.pystan import PyStanBackend, ensure_event_loop_compat
from seu_sensitivity.settings import BACKEND_ENV, backend_setting

needs_pystan = pytest.mark.skipif(not PyStanBackend.available(), reason="PyStan is not importable (pip install pystan)")


@pytest.fixture(autouse=True)
def fresh_instances(monkeypatch):
    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.delenv(BACKEND_ENV, raising=False)  # these tests are about "auto" unless they set it


def test_auto_prefers_cmdstanpy_when_cmdstan_is_found(monkeypatch):
    monkeypatch.setattr(CmdStanPyBackend, "available", classmethod(lambda cls: True))
    assert get_backend("auto").name == "cmdstanpy"


@needs_pystan
def test_auto_falls_back_to_pystan(monkeypatch):
    monkeypatch.setattr(CmdStanPyBackend, "available", classmethod(lambda cls: False))
    assert get_backend("auto").name == "pystan"


def test_explicit_missing_backend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(CmdStanPyBackend, "available", classmethod(lambda cls: False))
    with pytest.raises(BackendUnavailable, match="install_cmdstan"):
        get_backend("cmdstanpy")
    monkeypatch.setattr(PyStanBackend, "available", classmethod(lambda cls: False))
    with pytest.raises(BackendUnavailable, match="pip install pystan"):
        get_backend("pystan")
    with pytest.raises(BackendUnavailable, match="no Stan backend"):
        get_backend("auto")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backend 'stan'"):
        get_backend("stan")


def test_sampler_names_are_translated_both_ways():
    assert PyStanBackend.sampler_arguments({"adapt_delta": 0.95, "max_treedepth": 12}) == {"delta": 0.95, "max_depth": 12}
    assert CmdStanPyBackend.sampler_arguments({"delta": 0.9, "max_depth": 11}) == {"adapt_delta": 0.9, "max_treedepth": 11}


def test_initial_values_take_one_form_for_both_backends():
    """init (PyStan's name) and inits (CmdStanPy's) mean the same; a number is the radius, as
    init_radius is; one dict serves every chain. Wrong forms fail naming the setting."""
    assert split_inits({"init": 0, "adapt_delta": 0.9}, 2) == (Inits(radius=0.0), {"adapt_delta": 0.9})
    assert split_inits({"inits": 0.5}, 2) == split_inits({"init_radius": 0.5}, 2) == (Inits(radius=0.5), {})
    assert split_inits({"init": {"mu": 1.0}}, 2)[0] == Inits(values=[{"mu": 1.0}, {"mu": 1.0}])
    assert split_inits({"inits": [{"mu": 1.0}, {"mu": 2.0}]}, 2)[0].values == [{"mu": 1.0}, {"mu": 2.0}]
    assert split_inits({}, 3) == (Inits(), {})
    with pytest.raises(ValueError, match="init and inits are the same setting"):
        split_inits({"init": 0, "inits": 0}, 2)
    with pytest.raises(ValueError, match="inits: 3 set"):
        split_inits({"inits": [{}, {}, {}]}, 2)
    with pytest.raises(ValueError, match="init_radius: expected a finite number >= 0"):
        split_inits({"init_radius": -1}, 2)
    with pytest.raises(ValueError, match="init: expected a dict of initial values.*got str"):
        split_inits({"init": "zero"}, 2)
    with pytest.raises(ValueError, match="init gives initial values and init_radius a radius"):
        split_inits({"init": {"mu": 0.0}, "init_radius": 1.0}, 2)


def test_backend_setting_is_read_from_seu_backend(monkeypatch):
    """One setting, SEU_BACKEND, picks the backend of every fit that names none (a chapter never does)."""
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert backend_setting() == "auto"
    monkeypatch.setattr(CmdStanPyBackend, "available", classmethod(lambda cls: True))
    monkeypatch.setattr(PyStanBackend, "available", classmethod(lambda cls: True))
    monkeypatch.setattr(CmdStanPyBackend, "__init__", lambda self: None)
    assert get_backend().name == "cmdstanpy"  # auto prefers CmdStanPy
    monkeypatch.setenv(BACKEND_ENV, "pystan")
    assert backend_setting() == "pystan" and get_backend().name == "pystan"
    assert get_backend("auto").name == "cmdstanpy"  # naming a backend overrides the setting
    monkeypatch.setenv(BACKEND_ENV, " CmdStanPy ")
    assert get_backend().name == "cmdstanpy"
    monkeypatch.setenv(BACKEND_ENV, "stan")
    with pytest.raises(ValueError, match="SEU_BACKEND='stan': expected one of auto, cmdstanpy, pystan"):
        get_backend()
    import inspect

    from seu_sensitivity.inference.fitting import fit

    assert inspect.signature(fit).parameters["backend"].default is None  # fit() follows the setting


def test_cmdstan_version_in_the_cache_key_has_its_patch_number(tmp_path, monkeypatch):
    """2.35.0 and 2.35.1 may sample differently: the version read from CmdStan's makefile is complete."""
    import cmdstanpy

    from seu_sensitivity.inference.backends.cmdstanpy import cmdstan_full_version

    (tmp_path / "makefile").write_text("## CmdStan\nCMDSTAN_VERSION := 2.35.1\nSTAN ?= stan/\n")
    monkeypatch.setattr(cmdstanpy, "cmdstan_path", lambda: str(tmp_path))
    assert CmdStanPyBackend.versions(object.__new__(CmdStanPyBackend))["cmdstan"] == "2.35.1"
    assert cmdstan_full_version(tmp_path / "nowhere") is None


@needs_pystan
def test_pystan_versions_name_both_packages():
    versions = get_backend("pystan").versions()
    assert set(versions) == {"pystan", "httpstan"} and all(versions.values())


def test_event_loop_compat_patches_a_running_loop():
    async def inside():
        ensure_event_loop_compat()
        return asyncio.run(asyncio.sleep(0, result="nested ok"))  # fails without nest_asyncio

    assert asyncio.run(inside()) == "nested ok"


TINY = (Path(__file__).parent / "fixtures" / "stan" / "normal_tiny.stan").read_text(encoding="utf-8")


@needs_pystan
@pytest.mark.slow
def test_pystan_draws_have_chain_draw_layout():
    """(chain, draw, *shape) with Stan's row/column indices intact, and warmup steps kept apart."""
    result = get_backend("pystan").sample(
        StanProgram("tiny", None, TINY), {"N": 2, "y": [0.0, 1.0], "sigma": 1.0}, chains=2, warmup=50, draws=30, seed=3, save_warmup_stats=True
    )
    assert result.draws["m"].shape == (2, 30, 2, 3)
    np.testing.assert_array_equal(result.draws["m"][1, 7], [[11, 12, 13], [21, 22, 23]])
    np.testing.assert_array_equal(result.draws["mu"], result.draws["chain_mu"])
    assert result.sample_stats["diverging"].dtype == bool and result.sample_stats["n_steps"].shape == (2, 30)
    assert result.warmup_n_steps.shape == (2, 50)
    assert result.gradient_evaluations == result.warmup_n_steps.sum() + result.sample_stats["n_steps"].sum()
    # the two chains are different chains, not one chain split in two
    assert not np.array_equal(result.draws["mu"][0], result.draws["mu"][1])


@needs_pystan
def test_incomplete_httpstan_build_is_removed_and_a_complete_one_kept(tmp_path, monkeypatch):
    """An entry missing stanc.log (a build interrupted by a concurrent one) must not poison later builds."""
    import httpstan.cache

    from seu_sensitivity.inference.backends.pystan import build_lock, remove_incomplete_build

    monkeypatch.setattr(httpstan.cache, "cache_directory", lambda: tmp_path)
    source = "parameters { real mu; } model { mu ~ normal(0, 1); }"
    import httpstan.models

    folder = httpstan.cache.model_directory(httpstan.models.calculate_model_name(source))
    folder.mkdir(parents=True)
    (folder / "stan_services_model_x.so").write_bytes(b"")
    (folder / "stderr.log").write_text("")
    with build_lock(source):
        assert remove_incomplete_build(source) is True
    assert not folder.exists()
    folder.mkdir(parents=True)
    for name in ("stan_services_model_x.so", "stderr.log", "stanc.log"):
        (folder / name).write_text("")
    assert remove_incomplete_build(source) is False and folder.exists()
    assert build_lock(source).lock_file == build_lock(source).lock_file  # one lock per program
    assert build_lock(source).lock_file != build_lock(source + " ").lock_file


def test_sampler_stats_split_warmup_and_use_arviz_names_and_dtypes():
    from seu_sensitivity.inference.backends.base import sampler_stats

    steps = np.arange(2 * 5).reshape(2, 5).astype(float)  # (chain, draw), first 2 draws warmup
    columns = {"n_leapfrog__": steps, "divergent__": np.array([[0, 0, 1, 0, 0], [0, 0, 0, 0, 1.0]]),
               "lp__": -steps}
    stats, warmup = sampler_stats(columns, n_warmup_saved=2)
    assert set(stats) == {"n_steps", "diverging", "lp"}
    assert stats["n_steps"].dtype == np.int64 and stats["diverging"].dtype == bool
    np.testing.assert_array_equal(stats["n_steps"], [[2, 3, 4], [7, 8, 9]])
    np.testing.assert_array_equal(warmup, [[0, 1], [5, 6]])
    assert stats["diverging"].sum() == 2
    _, no_warmup = sampler_stats(columns, n_warmup_saved=0)
    assert no_warmup is None


def test_cmdstanpy_zero_size_variables_are_filled_as_empty_arrays():
    """CmdStan writes no CSV column for gamma when P = 0: the backend adds it, empty, like PyStan's."""
    import doctest

    import seu_sensitivity.inference.backends.cmdstanpy as module
    from seu_sensitivity.inference.backends.cmdstanpy import zero_size_variables

    declared = {"alpha": 1, "gamma": 1, "gamma0_free": 1, "log_lik": 1, "sigma_cell": 0}
    present = {"alpha": np.ones((2, 5, 3)), "log_lik": np.ones((2, 5, 7)), "sigma_cell": np.ones((2, 5))}
    assert zero_size_variables(declared, present, chains=2, draws=5) == {"gamma": (2, 5, 0), "gamma0_free": (2, 5, 0)}
    assert doctest.testmod(module).failed == 0


@needs_pystan
def test_compile_into_cache_survives_a_slow_stanc(tmp_path, monkeypatch):
    """httpstan gives stanc 1 s, which a loaded machine exceeded ("subprocess.TimeoutExpired:
    ... timed out after 1 seconds"); compile_into_cache gives it STANC_TIMEOUT. Simulated: a
    stanc that needs 5 s (any shorter limit times out); the C++ build is skipped."""
    import subprocess

    import httpstan.cache
    import httpstan.compile
    import httpstan.models

    from seu_sensitivity.inference.backends import pystan as module

    real_run = subprocess.run

    def slow_stanc(args, *rest, timeout=None, **kwargs):
        if Path(str(args[0])).name == "stanc" and timeout is not None and timeout < 5:
            raise subprocess.TimeoutExpired(args, timeout)
        return real_run(args, *rest, timeout=timeout, **kwargs)

    async def no_cxx_build(source):
        # the real one translates the program again, through httpstan.compile.compile (then builds C++)
        httpstan.compile.compile(source, "model_again")
        return "compiler output"

    monkeypatch.setattr(subprocess, "run", slow_stanc)
    monkeypatch.setattr(httpstan.cache, "cache_directory", lambda: tmp_path)
    monkeypatch.setattr(httpstan.models, "build_services_extension_module", no_cxx_build)
    monkeypatch.setattr(httpstan.compile, "compile", httpstan.compile.compile)  # restored after the test
    source = "parameters { real mu; } model { mu ~ normal(2, 1); }"
    assert module.compile_into_cache(source) is True
    folder = httpstan.cache.model_directory(httpstan.models.calculate_model_name(source))
    assert (folder / "stanc.log").is_file() and (folder / "stderr.log").read_text() == "compiler output"
    assert module.STANC_TIMEOUT >= 60
    # a stanc that never finishes is a clear error, not a hang
    monkeypatch.setattr(module, "STANC_TIMEOUT", 1.0)
    with pytest.raises(TimeoutError, match="stanc did not finish translating slow.stan in 1 s"):
        module.run_stanc(source, "model_x", display_name="slow.stan")


@needs_pystan
@pytest.mark.slow
def test_compile_into_cache_builds_a_complete_entry_once(tmp_path, monkeypatch):
    """The build that sidesteps aiohttp's 300 s limit leaves what httpstan's own handler
    leaves (a loadable module, stanc.log, stderr.log), so stan.build finds it cached, and
    nothing in the working directory; a second call compiles nothing, and a program stanc
    rejects is an error quoting stanc (stan.build itself would say only "Syntax error")."""
    import httpstan.cache
    import httpstan.models

    from seu_sensitivity.inference.backends.pystan import compile_into_cache, remove_incomplete_build

    import subprocess

    import httpstan.compile

    monkeypatch.setattr(httpstan.cache, "cache_directory", lambda: tmp_path)
    monkeypatch.setattr(httpstan.compile, "compile", httpstan.compile.compile)  # restored after the test
    real_run = subprocess.run

    def slow_stanc(args, *rest, timeout=None, **kwargs):  # as on a loaded machine: any limit under 5 s times out
        if Path(str(args[0])).name == "stanc" and timeout is not None and timeout < 5:
            raise subprocess.TimeoutExpired(args, timeout)
        return real_run(args, *rest, timeout=timeout, **kwargs)

    monkeypatch.setattr(subprocess, "run", slow_stanc)
    workdir = tmp_path / "project"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    source = "parameters { real mu; } model { mu ~ normal(1, 1); }"
    assert compile_into_cache(source) is True
    # setuptools' object files do not land in the working directory (a user's project)
    assert list(workdir.iterdir()) == []
    assert Path.cwd() == workdir
    folder = httpstan.cache.model_directory(httpstan.models.calculate_model_name(source))
    assert (folder / "stanc.log").is_file() and (folder / "stderr.log").is_file()
    assert remove_incomplete_build(source) is False  # complete
    assert compile_into_cache(source) is False
    # the entry loads as httpstan loads it before sampling (sampling itself runs in worker
    # processes that would not see this test's cache folder)
    module = httpstan.models.import_services_extension_module(httpstan.models.calculate_model_name(source))
    assert hasattr(module, "hmc_nuts_diag_e_adapt_wrapper")
    with pytest.raises(StanProgramError, match="stanc rejected broken: Syntax error in 'broken', line 1, column 21"):
        compile_into_cache("parameters { real mu } model { }", "broken")
