"""PyStan 3 backend (installs from PyPI with its own stanc and Stan headers).

httpstan caches every compiled program under ``~/.cache/httpstan`` keyed by
its source, so a program compiles once per machine and is reused across
processes. Works inside a Jupyter kernel: when an event loop is already
running (nbclient, IPython), ``nest_asyncio`` is applied first, since PyStan
calls ``asyncio.run`` internally.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.resources
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from filelock import FileLock

from seu_sensitivity.inference.backends.base import STAN_STATS, Backend, BackendUnavailable, SampleResult
from seu_sensitivity.inference.backends.base import StanDataError, StanProgram, StanProgramError, SamplingRun
from seu_sensitivity.inference.backends.base import sample_result
from seu_sensitivity.inference.backends.quiet import captured_console

__all__ = [
    "PyStanBackend",
    "build_model",
    "ensure_event_loop_compat",
    "build_lock",
    "remove_incomplete_build",
    "compile_into_cache",
    "run_stanc",
    "give_stanc_time",
    "STANC_TIMEOUT",
]

#: seconds stanc may take to translate a program. httpstan allows 1 s, which
#: stanc exceeded on a loaded machine (subprocess.TimeoutExpired); it takes
#: about 0.3 s for h_m01 on an idle one.
STANC_TIMEOUT = 300.0


def build_lock(source: str) -> FileLock:
    """A machine-wide lock for compiling one Stan program.

    httpstan writes each compiled program into one shared cache folder; two
    processes compiling the same program at once (parallel chapters,
    validation workers) corrupt that entry (seen here: "TAPE_ERROR" and a
    missing stanc.log). Holding this lock around ``stan.build`` serialises
    them; the second process then finds the finished build in the cache.
    """
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:20]
    folder = Path(tempfile.gettempdir()) / "seu-stan-build"
    folder.mkdir(exist_ok=True)
    return FileLock(str(folder / f"{digest}.lock"))


def remove_incomplete_build(source: str) -> bool:
    """Delete httpstan's cache entry of ``source`` when it is incomplete; return whether it was.

    A complete entry holds the extension module, stderr.log and stanc.log; an
    entry missing any of them (an interrupted or concurrent build) makes
    every later build fail, so it is removed and rebuilt. Call under
    :func:`build_lock`.
    """
    import httpstan.cache
    import httpstan.models

    folder = httpstan.cache.model_directory(httpstan.models.calculate_model_name(source))
    if not folder.exists():
        return False
    has_module = any(path.name.startswith("stan_services_model_") for path in folder.iterdir())
    if has_module and (folder / "stderr.log").is_file() and (folder / "stanc.log").is_file():
        return False
    httpstan.cache.delete_model_directory(httpstan.models.calculate_model_name(source))
    return True

def run_stanc(source: str, stan_model_name: str, *, timeout: float | None = None,
              display_name: str | None = None) -> tuple[str, str]:
    """httpstan's ``compile.compile`` (same stanc binary and arguments) with a time limit of
    ``timeout`` s (default :data:`STANC_TIMEOUT`).

    Returns (C++ code, stanc's warnings). A program stanc rejects raises
    :class:`StanProgramError` with stanc's message, the program called
    ``display_name`` (default: its model name) instead of by a temporary path.

    >>> run_stanc("parameters { real mu } model { }", "model_x", display_name="broken.stan")
    Traceback (most recent call last):
    ...
    seu_sensitivity.inference.backends.base.StanProgramError: stanc rejected broken.stan: Syntax error in 'broken.stan', line 1, ...
    """
    timeout = STANC_TIMEOUT if timeout is None else timeout
    with importlib.resources.as_file(importlib.resources.files("httpstan") / "stanc") as stanc_binary, \
            tempfile.TemporaryDirectory(prefix="httpstan_") as folder:
        path = Path(folder) / f"{stan_model_name}.stan"
        path.write_text(source, encoding="utf-8")
        arguments = [stanc_binary, "--name", stan_model_name, "--warn-pedantic", "--print-cpp", str(path)]
        try:
            completed = subprocess.run(arguments, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"stanc did not finish translating {display_name or stan_model_name} in {timeout:.0f} s "
                               f"(seu_sensitivity.inference.backends.pystan.STANC_TIMEOUT)") from None
    stderr = completed.stderr.decode().strip()
    if completed.returncode != 0:
        raise StanProgramError(display_name or stan_model_name, stderr.replace(str(path), display_name or path.name))
    return completed.stdout.decode().strip(), stderr


def _httpstan_compile(program_code: str, stan_model_name: str) -> tuple[str, str]:
    """Drop-in for ``httpstan.compile.compile`` (same result; ValueError with stanc's message) with
    :data:`STANC_TIMEOUT` instead of its 1 s."""
    try:
        return run_stanc(program_code, stan_model_name)
    except StanProgramError as error:
        raise ValueError(error.stanc_message) from None


def give_stanc_time() -> None:
    """Make httpstan's own stanc calls allow :data:`STANC_TIMEOUT` rather than 1 s.

    ``httpstan.models.build_services_extension_module`` translates the
    program again (for the C++ it compiles) through
    ``httpstan.compile.compile``, as does httpstan's "create model" handler;
    both look the function up on its module at each call, so pointing it at
    :func:`_httpstan_compile` reaches them. Pinned to httpstan 4.13.
    """
    import httpstan.compile

    httpstan.compile.compile = _httpstan_compile


def compile_into_cache(source: str, name: str | None = None) -> bool:
    """Compile ``source`` into httpstan's cache unless it is there; return whether it compiled.

    ``stan.build`` asks httpstan to compile over HTTP, with two time limits
    that a busy machine (two chapters sampling beside it) exceeds: aiohttp's
    client gives up after 300 s, and httpstan gives stanc 1 s (seen:
    "subprocess.TimeoutExpired: ... stanc ... timed out after 1 seconds").
    This does what httpstan's "create model" handler does (stanc, then the
    extension module, then the logs stanc.log and stderr.log) with stanc
    allowed :data:`STANC_TIMEOUT` (see :func:`give_stanc_time`) and no
    limit on the C++ compile, so that
    ``stan.build`` finds the program cached. A program stanc rejects raises
    :class:`StanProgramError` with stanc's message (``stan.build`` would say
    only "Syntax error"), naming the program ``name``. Call under
    :func:`build_lock`; pinned to httpstan 4.13.
    """
    import httpstan.cache
    import httpstan.models

    model_name = httpstan.models.calculate_model_name(source)
    try:
        httpstan.models.import_services_extension_module(model_name)
        return False
    except KeyError:
        pass
    httpstan.cache.delete_model_directory(model_name)
    give_stanc_time()
    _, warnings = run_stanc(source, f"model_{model_name.split('/')[1]}", display_name=name)
    httpstan.cache.dump_stanc_warnings(warnings, model_name)
    ensure_event_loop_compat()
    # setuptools puts the object files (about 20 MB a program) under build/ in
    # the working directory; build in a scratch folder so that nothing is left
    # in the user's project. httpstan keeps only the linked module.
    with tempfile.TemporaryDirectory(prefix="seu-stan-build-") as scratch, contextlib.chdir(scratch):
        output = asyncio.run(httpstan.models.build_services_extension_module(source))
    httpstan.cache.dump_services_extension_module_compiler_output(output, model_name)
    return True


def build_model(source: str, data: Mapping[str, Any], seed: int = 1, *, name: str | None = None) -> Any:
    """``stan.build(source, data)`` made safe: the way every fit here builds its model.

    Under :func:`build_lock`, an incomplete cache entry is removed and the
    program compiled by :func:`compile_into_cache` (no time limit, nothing
    left in the working directory); ``stan.build`` then finds it cached and
    checks the data. For code that needs the model object itself (log
    densities, gradients, unconstraining) rather than draws. A program stanc
    rejects raises :class:`StanProgramError`, data Stan rejects
    :class:`StanDataError`, both naming the program ``name`` and quoting Stan.
    """
    stan = import_stan()
    ensure_event_loop_compat()
    # the compiler's and PyStan's console output stays off the user's page
    # (it is attached to the error when the build fails)
    with build_lock(source), captured_console():
        remove_incomplete_build(source)
        compile_into_cache(source, name)
        try:
            return stan.build(source, data=dict(data), random_seed=int(seed))
        except RuntimeError as error:  # httpstan's message for data the program rejects
            raise StanDataError(name or "the Stan program", str(error)) from None


def import_stan() -> Any:
    """The ``stan`` module, imported without PyStan 3.10's warning about setuptools' ``pkg_resources``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import stan
    return stan


#: CmdStanPy-style sampler names -> PyStan's names
_RENAME = {"adapt_delta": "delta", "max_treedepth": "max_depth", "step_size": "stepsize"}


def ensure_event_loop_compat() -> None:
    """Apply ``nest_asyncio`` when called with an event loop running (Jupyter), else do nothing."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    try:
        import nest_asyncio
    except ImportError as error:  # pragma: no cover - nest-asyncio is a requirement
        raise BackendUnavailable(
            "PyStan inside a running event loop (a Jupyter kernel) needs nest-asyncio: pip install nest-asyncio"
        ) from error
    nest_asyncio.apply()


class PyStanBackend(Backend):
    """Sample with PyStan 3 (``stan.build`` + ``model.sample``).

    Sampler settings use CmdStanPy's names (``adapt_delta``, ``max_treedepth``,
    ``step_size``); PyStan's own names (``delta``, ``max_depth``, ``stepsize``)
    are accepted too.
    """

    name = "pystan"
    install_hint = "Install PyStan 3 with: pip install pystan (Linux or macOS, needs a C++ compiler)."

    @classmethod
    def available(cls) -> bool:
        try:
            import httpstan  # noqa: F401

            import_stan()
        except ImportError:
            return False
        return True

    def versions(self) -> dict[str, str]:
        import httpstan

        stan = import_stan()
        return {"pystan": stan.__version__, "httpstan": httpstan.__version__}

    @staticmethod
    def sampler_arguments(sampler: Mapping[str, Any]) -> dict[str, Any]:
        """Translate sampler settings to PyStan's keyword names."""
        return {_RENAME.get(key, key): value for key, value in sampler.items()}

    def _run(self, program: StanProgram, data: Mapping[str, Any], run: SamplingRun) -> SampleResult:
        chains, warmup, draws, seed, save_warmup_stats = (run.chains, run.warmup, run.draws, run.seed,
                                                          run.save_warmup_stats)
        inits = run.inits
        arguments = self.sampler_arguments(run.settings)
        if inits.values is not None:
            arguments["init"] = inits.values
        if inits.radius is not None:
            arguments["init_radius"] = inits.radius
        start = time.perf_counter()
        model = build_model(program.source, data, seed=seed, name=program.name)
        built = time.perf_counter()
        with captured_console():  # PyStan's progress and messages, attached to the error if sampling fails
            fit = model.sample(
                num_chains=chains,
                num_warmup=warmup,
                num_samples=draws,
                save_warmup=save_warmup_stats,
                **arguments,
            )
        done = time.perf_counter()
        skip = warmup if save_warmup_stats else 0

        def chains_first(array: np.ndarray) -> np.ndarray:
            # PyStan: (*stan_shape, n_saved * chains), chain index fastest
            lead = array.shape[:-1]
            array = array.reshape(*lead, -1, chains)  # (*shape, draw, chain)
            return np.moveaxis(array, (-1, -2), (0, 1))  # (chain, draw, *shape)

        out: dict[str, np.ndarray] = {}
        for name, dims in zip(fit.param_names, fit.dims):
            if 0 in dims:  # zero-size variable (e.g. gamma when P = 0)
                out[name] = np.zeros((chains, draws, *dims))
                continue
            values = chains_first(np.asarray(fit[name]))
            out[name] = values[:, skip:].reshape((chains, draws, *dims))
        columns = {
            name: chains_first(np.asarray(fit[name])[0])
            for name in STAN_STATS
            if name in fit.sample_and_sampler_param_names
        }
        return sample_result(out, columns, skip, build_seconds=built - start, sample_seconds=done - built)
