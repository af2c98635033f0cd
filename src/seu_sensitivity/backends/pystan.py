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
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from filelock import FileLock

from seu_sensitivity.backends.base import STAN_STATS, Backend, BackendUnavailable, SampleResult, StanProgram, sampler_stats

__all__ = [
    "PyStanBackend",
    "build_model",
    "ensure_event_loop_compat",
    "build_lock",
    "remove_incomplete_build",
    "compile_into_cache",
]


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

def compile_into_cache(source: str) -> bool:
    """Compile ``source`` into httpstan's cache unless it is there; return whether it compiled.

    ``stan.build`` asks httpstan to compile over HTTP, and aiohttp's client
    gives up after 300 s: a compile on a busy machine (two chapters sampling
    beside it) can take longer, and the build then fails with a TimeoutError.
    This does what httpstan's "create model" handler does (stanc, then the
    extension module, then the logs stanc.log and stderr.log), with no time
    limit, so that ``stan.build`` finds the program cached. A program that
    stanc rejects is left to ``stan.build``, which reports the error in its
    own words. Call under :func:`build_lock`; pinned to httpstan 4.13.
    """
    import httpstan.cache
    import httpstan.compile
    import httpstan.models

    model_name = httpstan.models.calculate_model_name(source)
    try:
        httpstan.models.import_services_extension_module(model_name)
        return False
    except KeyError:
        pass
    httpstan.cache.delete_model_directory(model_name)
    try:
        _, warnings = httpstan.compile.compile(source, f"model_{model_name.split('/')[1]}")
    except ValueError:
        return False  # stan.build reports the syntax or semantic error
    httpstan.cache.dump_stanc_warnings(warnings, model_name)
    ensure_event_loop_compat()
    # setuptools puts the object files (about 20 MB a program) under build/ in
    # the working directory; build in a scratch folder so that nothing is left
    # in the user's project. httpstan keeps only the linked module.
    with tempfile.TemporaryDirectory(prefix="seu-stan-build-") as scratch, contextlib.chdir(scratch):
        output = asyncio.run(httpstan.models.build_services_extension_module(source))
    httpstan.cache.dump_services_extension_module_compiler_output(output, model_name)
    return True


def build_model(source: str, data: Mapping[str, Any], seed: int = 1) -> Any:
    """``stan.build(source, data)`` made safe: the way every fit here builds its model.

    Under :func:`build_lock`, an incomplete cache entry is removed and the
    program compiled by :func:`compile_into_cache` (no time limit, nothing
    left in the working directory); ``stan.build`` then finds it cached and
    checks the data. For code that needs the model object itself (log
    densities, gradients, unconstraining) rather than draws; the errors are
    ``stan.build``'s own.
    """
    import stan

    ensure_event_loop_compat()
    with build_lock(source):
        remove_incomplete_build(source)
        compile_into_cache(source)
        return stan.build(source, data=dict(data), random_seed=int(seed))


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
            import stan  # noqa: F401
        except ImportError:
            return False
        return True

    def versions(self) -> dict[str, str]:
        import httpstan
        import stan

        return {"pystan": stan.__version__, "httpstan": httpstan.__version__}

    @staticmethod
    def sampler_arguments(sampler: Mapping[str, Any]) -> dict[str, Any]:
        """Translate sampler settings to PyStan's keyword names."""
        return {_RENAME.get(key, key): value for key, value in sampler.items()}

    def sample(
        self,
        program: StanProgram,
        data: Mapping[str, Any],
        *,
        chains: int,
        warmup: int,
        draws: int,
        seed: int,
        save_warmup_stats: bool = False,
        **sampler: Any,
    ) -> SampleResult:
        start = time.perf_counter()
        model = build_model(program.source, data, seed=seed)
        built = time.perf_counter()
        fit = model.sample(
            num_chains=chains,
            num_warmup=warmup,
            num_samples=draws,
            save_warmup=save_warmup_stats,
            **self.sampler_arguments(sampler),
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
        stats, warmup_steps = sampler_stats(columns, skip)
        return SampleResult(
            draws=out,
            sample_stats=stats,
            warmup_n_steps=warmup_steps,
            timing={"build": built - start, "sample": done - built},
        )
