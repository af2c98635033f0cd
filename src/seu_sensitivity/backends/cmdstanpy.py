"""CmdStanPy backend, used when a CmdStan installation is found.

Executables are compiled once per (program source, CmdStan version) into
``~/.cache/seu_sensitivity/cmdstan/<hash>/`` (override with
``SEU_CMDSTAN_BUILD_DIR``) and reused across processes; a file lock guards
concurrent compiles.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from seu_sensitivity.backends.base import STAN_STATS, Backend, SampleResult, StanProgram, sampler_stats

__all__ = ["CmdStanPyBackend"]

#: PyStan-style sampler names -> CmdStanPy's names (a float ``inits`` is CmdStan's init radius)
_RENAME = {"delta": "adapt_delta", "max_depth": "max_treedepth", "stepsize": "step_size", "init_radius": "inits"}
BUILD_DIR_ENV = "SEU_CMDSTAN_BUILD_DIR"


def _build_root() -> Path:
    override = os.environ.get(BUILD_DIR_ENV)
    return Path(override) if override else Path.home() / ".cache" / "seu_sensitivity" / "cmdstan"


class CmdStanPyBackend(Backend):
    """Sample with CmdStanPy (``CmdStanModel.sample``)."""

    name = "cmdstanpy"
    install_hint = (
        "Install CmdStanPy and CmdStan with: pip install cmdstanpy && python -m cmdstanpy.install_cmdstan "
        "(downloads CmdStan from GitHub), or set CMDSTAN to an existing CmdStan folder."
    )

    @classmethod
    def available(cls) -> bool:
        try:
            import cmdstanpy
        except ImportError:
            return False
        try:
            cmdstanpy.cmdstan_path()
        except Exception:  # ValueError when no installation is found
            return False
        return True

    def versions(self) -> dict[str, str]:
        import cmdstanpy

        version = cmdstanpy.cmdstan_version()
        cmdstan = ".".join(map(str, version)) if version else "unknown"
        return {"cmdstanpy": cmdstanpy.__version__, "cmdstan": cmdstan}

    @staticmethod
    def sampler_arguments(sampler: Mapping[str, Any]) -> dict[str, Any]:
        return {_RENAME.get(key, key): value for key, value in sampler.items()}

    def _model(self, program: StanProgram):
        import cmdstanpy
        from filelock import FileLock

        digest = hashlib.sha256((program.source + repr(self.versions())).encode()).hexdigest()[:16]
        folder = _build_root() / digest
        folder.mkdir(parents=True, exist_ok=True)
        stem = program.name.replace("/", "__")
        stan_file = folder / f"{stem}.stan"
        with FileLock(str(folder / ".lock")):
            if not stan_file.exists():
                stan_file.write_text(program.source, encoding="utf-8")
            return cmdstanpy.CmdStanModel(stan_file=str(stan_file))

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
        model = self._model(program)
        built = time.perf_counter()
        fit = model.sample(
            data=dict(data),
            chains=chains,
            iter_warmup=warmup,
            iter_sampling=draws,
            seed=int(seed),
            save_warmup=save_warmup_stats,
            parallel_chains=min(chains, os.cpu_count() or 1),
            **self.sampler_arguments(sampler),
        )
        done = time.perf_counter()
        skip = warmup if save_warmup_stats else 0
        out: dict[str, np.ndarray] = {}
        for name in fit.metadata.stan_vars:
            values = np.asarray(fit.stan_variable(name, inc_warmup=save_warmup_stats))  # (chain*draw, *shape)
            values = values.reshape(chains, -1, *values.shape[1:])
            out[name] = values[:, skip:]
        for name, shape in zero_size_variables(_declared_dimensions(model), out, chains, draws).items():
            out[name] = np.zeros(shape)
        method = fit.method_variables()  # name -> (draw, chain), warmup included when saved
        columns = {
            name: np.asarray(method[name]).reshape(-1, chains).T  # (draw, chain[, 1]) -> (chain, draw)
            for name in STAN_STATS
            if name in method
        }
        stats, warmup_steps = sampler_stats(columns, skip)
        return SampleResult(
            draws=out,
            sample_stats=stats,
            warmup_n_steps=warmup_steps,
            timing={"build": built - start, "sample": done - built},
        )


def _declared_dimensions(model: Any) -> dict[str, int]:
    """Variable -> number of dimensions, from stanc's ``--info`` (parameters, transformed, generated)."""
    try:
        info = model.src_info()
    except Exception:  # pragma: no cover - stanc without --info: nothing to add
        return {}
    declared: dict[str, int] = {}
    for block in ("parameters", "transformed parameters", "generated quantities"):
        for name, spec in (info.get(block) or {}).items():
            declared[name] = int(spec.get("dimensions", 0))
    return declared


def zero_size_variables(declared: Mapping[str, int], present: Mapping[str, Any], chains: int,
                        draws: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the declared variables that CmdStan's CSV has no column for.

    A variable of size zero (``gamma`` when P = 0) writes no column, so
    CmdStanPy does not know it; it is returned as an empty array with every
    dimension 0, as PyStan's backend does.

    >>> zero_size_variables({"alpha": 0, "gamma": 1}, {"alpha": None}, chains=2, draws=3)
    {'gamma': (2, 3, 0)}
    """
    return {name: (chains, draws) + (0,) * ndim
            for name, ndim in declared.items() if name not in present and ndim > 0}
