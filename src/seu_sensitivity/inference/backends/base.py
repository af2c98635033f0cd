"""The small interface every sampling backend implements.

A backend turns (Stan program, data dict, sampler settings) into draws as
plain NumPy arrays with leading (chain, draw) axes; :mod:`seu_sensitivity.inference.fitting`
turns those into an ArviZ ``InferenceData``. Backends know nothing about
particular models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["Backend", "BackendUnavailable", "Inits", "StanDataError", "StanProgramError", "SampleResult", "StanProgram", "SAMPLE_STATS", "STAN_STATS",
           "SamplingRun", "sample_result", "sampler_stats", "split_inits"]

#: sampler diagnostics every backend returns, under ArviZ's names
SAMPLE_STATS = ("lp", "acceptance_rate", "step_size", "tree_depth", "n_steps", "diverging", "energy")
#: Stan's sampler-statistic column -> ArviZ name (the same in PyStan and CmdStan output)
STAN_STATS = {
    "lp__": "lp",
    "accept_stat__": "acceptance_rate",
    "stepsize__": "step_size",
    "treedepth__": "tree_depth",
    "n_leapfrog__": "n_steps",
    "divergent__": "diverging",
    "energy__": "energy",
}
_INTEGER_STATS = ("tree_depth", "n_steps")


def sampler_stats(
    columns: Mapping[str, np.ndarray], n_warmup_saved: int
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Sampler statistics under ArviZ's names, with warmup draws split off.

    ``columns`` maps Stan's column names (``lp__``, ``n_leapfrog__``, ...) to
    arrays (chain, draw) whose first ``n_warmup_saved`` draws are warmup.
    Returns the post-warmup statistics with ArviZ dtypes (``diverging`` bool,
    counts int64) and the warmup leapfrog steps (None unless warmup was saved).
    """
    stats: dict[str, np.ndarray] = {}
    warmup_steps = None
    for stan_name, arviz_name in STAN_STATS.items():
        if stan_name not in columns:
            continue
        values = np.asarray(columns[stan_name])
        if stan_name == "n_leapfrog__" and n_warmup_saved:
            warmup_steps = values[:, :n_warmup_saved].astype(np.int64)
        values = values[:, n_warmup_saved:]
        if arviz_name == "diverging":
            values = values.astype(bool)
        elif arviz_name in _INTEGER_STATS:
            values = values.astype(np.int64)
        stats[arviz_name] = values
    return stats, warmup_steps


@dataclass(frozen=True)
class Inits:
    """Where chains start: given ``values`` (one dict per chain) or random within ``radius``.

    ``radius`` r draws every unconstrained coordinate uniformly from (-r, r);
    0 starts them all at 0; ``None`` with no values is Stan's default (2).
    Parameters missing from ``values`` start at random, within Stan's default.
    """

    values: list[dict[str, Any]] | None = None
    radius: float | None = None


#: the names under which a caller may say where chains start (PyStan's, CmdStanPy's, and the radius)
INIT_NAMES = ("init", "inits", "init_radius")


def split_inits(sampler: Mapping[str, Any], chains: int) -> tuple[Inits, dict[str, Any]]:
    """Take the initial values out of ``sampler`` settings, checked, in one form for every backend.

    Accepted, under ``init`` (PyStan's name) or ``inits`` (CmdStanPy's): a
    dict of values (every chain), a list of one dict per chain, or a number
    (the radius; 0 starts at 0, as in both libraries); or ``init_radius``, a
    number. Returns the :class:`Inits` and the remaining settings.

    >>> split_inits({"init": 0, "adapt_delta": 0.9}, chains=2)
    (Inits(values=None, radius=0.0), {'adapt_delta': 0.9})
    >>> split_inits({"inits": {"mu": 1.0}}, chains=2)[0].values
    [{'mu': 1.0}, {'mu': 1.0}]
    >>> split_inits({"init": [{"mu": 1.0}]}, chains=2)
    Traceback (most recent call last):
    ...
    ValueError: init: 1 set(s) of initial values for 2 chains; give one dict per chain, or one dict for all
    """
    rest = {key: value for key, value in sampler.items() if key not in INIT_NAMES}
    given = [key for key in ("init", "inits") if sampler.get(key) is not None]
    if len(given) > 1:
        raise ValueError("init and inits are the same setting (PyStan's and CmdStanPy's name); give one")
    radius = sampler.get("init_radius")
    if radius is not None:
        radius = _radius("init_radius", radius)
    if not given:
        return Inits(radius=radius), rest
    name = given[0]
    value = sampler[name]
    if isinstance(value, Mapping):
        values = [dict(value) for _ in range(chains)]
    elif isinstance(value, (list, tuple)) and all(isinstance(item, Mapping) for item in value):
        if len(value) != chains:
            raise ValueError(f"{name}: {len(value)} set(s) of initial values for {chains} chains; "
                             "give one dict per chain, or one dict for all")
        values = [dict(item) for item in value]
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if radius is not None:
            raise ValueError(f"{name}={value!r} is a radius, and init_radius={radius!r} another; give one")
        return Inits(radius=_radius(name, value)), rest
    else:
        raise ValueError(f"{name}: expected a dict of initial values, a list of one dict per chain, or a number "
                         f"(the radius of random initial values), got {type(value).__name__}")
    if radius is not None:
        # CmdStan takes either values or a radius, so neither backend takes both
        raise ValueError(f"{name} gives initial values and init_radius a radius; give one "
                         "(parameters missing from the values start at random within 2)")
    return Inits(values=values), rest


def _radius(name: str, value: Any) -> float:
    try:
        radius = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number >= 0 (the radius of random initial values), got {value!r}") from None
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"{name}: expected a finite number >= 0 (the radius of random initial values), got {value!r}")
    return radius


class BackendUnavailable(ImportError):
    """The requested backend cannot run here; the message says how to install it."""


class StanProgramError(ValueError):
    """stanc rejected a Stan program: the message names the program and quotes stanc (line, column, why).

    The same error from every backend, with ``program`` and ``stanc_message`` as attributes.
    """

    def __init__(self, program: str, stanc_message: str) -> None:
        self.program = program
        self.stanc_message = stanc_message
        super().__init__(f"stanc rejected {program}: {stanc_message}")


class StanDataError(ValueError):
    """A Stan program rejected its data: the message names the program and quotes Stan's check.

    The same error from every backend, with ``program`` and ``stan_message`` as attributes.
    """

    def __init__(self, program: str, stan_message: str) -> None:
        self.program = program
        self.stan_message = stan_message
        super().__init__(f"{program} rejected its data: {stan_message}")


@dataclass(frozen=True)
class StanProgram:
    """A Stan program: its name (path under ``stan/`` without ``.stan``), file and source text.

    ``source`` is self-contained, every ``#include`` expanded: the backends
    compile it as it is, and the fit cache hashes it.
    """

    name: str
    path: Path
    source: str

    @classmethod
    def from_file(cls, name: str, path: str | Path) -> "StanProgram":
        """The program in ``path``, its includes expanded
        (:func:`seu_sensitivity.inference.programs.expand_includes`)."""
        from seu_sensitivity.inference.programs import expand_includes

        path = Path(path)
        return cls(name=name, path=path, source=expand_includes(path))


@dataclass
class SampleResult:
    """Draws of one sampling run.

    Attributes
    ----------
    draws : name -> array (chain, draw, *stan_shape), every variable the program
        writes (parameters, transformed parameters, generated quantities)
    sample_stats : ArviZ name (see :data:`SAMPLE_STATS`) -> array (chain, draw)
    warmup_n_steps : (chain, warmup draw) leapfrog steps during warmup, if recorded
    timing : seconds: ``build`` (compile + data setup) and ``sample``
    """

    draws: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    warmup_n_steps: np.ndarray | None = None
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def gradient_evaluations(self) -> int:
        """Leapfrog steps (= gradient evaluations) over warmup (when recorded) and sampling."""
        total = int(np.sum(self.sample_stats["n_steps"]))
        if self.warmup_n_steps is not None:
            total += int(np.sum(self.warmup_n_steps))
        return total


def sample_result(draws: dict[str, np.ndarray], stat_columns: Mapping[str, np.ndarray], skip: int, *,
                  build_seconds: float, sample_seconds: float) -> SampleResult:
    """The :class:`SampleResult` of a run: draws, the sampler statistics from their ``(chain, draw)``
    columns (the first ``skip`` draws are warm-up; see :func:`sampler_stats`) and the timing."""
    stats, warmup_steps = sampler_stats(stat_columns, skip)
    return SampleResult(draws=draws, sample_stats=stats, warmup_n_steps=warmup_steps,
                        timing={"build": build_seconds, "sample": sample_seconds})


@dataclass(frozen=True)
class SamplingRun:
    """One call of :meth:`Backend.sample`, in the one form every backend reads."""

    chains: int
    warmup: int
    draws: int
    seed: int
    save_warmup_stats: bool
    inits: Inits
    settings: dict[str, Any]  #: Stan's own sampler settings, in PyStan's names


class Backend(ABC):
    """A way to run Stan's NUTS sampler."""

    #: "pystan" or "cmdstanpy"
    name: str = ""
    #: how to install this backend, used in error messages
    install_hint: str = ""
    #: significant digits of the draws as handed over (text); None: exact binary doubles
    sig_figs: int | None = None

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """True when the backend can run here (imports work, toolchain found)."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Versions of everything that could change the draws (part of the cache key)."""

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
        """Run NUTS. ``sampler`` holds Stan's own settings (``adapt_delta``, ``max_depth``, ...)
        and the initial values (``init``, ``inits`` or ``init_radius``; see :func:`split_inits`)."""
        inits, settings = split_inits(sampler, chains)
        run = SamplingRun(chains=chains, warmup=warmup, draws=draws, seed=int(seed),
                          save_warmup_stats=save_warmup_stats, inits=inits, settings=settings)
        return self._run(program, data, run)

    @abstractmethod
    def _run(self, program: StanProgram, data: Mapping[str, Any], run: SamplingRun) -> SampleResult:
        """Sample ``program`` on ``data`` as ``run`` says (initial values already checked)."""
