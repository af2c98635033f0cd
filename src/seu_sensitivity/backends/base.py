"""The small interface every sampling backend implements.

A backend turns (Stan program, data dict, sampler settings) into draws as
plain NumPy arrays with leading (chain, draw) axes; :mod:`seu_sensitivity.fitting`
turns those into an ArviZ ``InferenceData``. Backends know nothing about
particular models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["Backend", "BackendUnavailable", "SampleResult", "StanProgram", "SAMPLE_STATS", "STAN_STATS", "sampler_stats"]

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


class BackendUnavailable(ImportError):
    """The requested backend cannot run here; the message says how to install it."""


@dataclass(frozen=True)
class StanProgram:
    """A Stan program: its name (path under ``stan/`` without ``.stan``), file and source text."""

    name: str
    path: Path
    source: str

    @classmethod
    def from_file(cls, name: str, path: str | Path) -> "StanProgram":
        path = Path(path)
        return cls(name=name, path=path, source=path.read_text(encoding="utf-8"))


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


class Backend(ABC):
    """A way to run Stan's NUTS sampler."""

    #: "pystan" or "cmdstanpy"
    name: str = ""
    #: how to install this backend, used in error messages
    install_hint: str = ""

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """True when the backend can run here (imports work, toolchain found)."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Versions of everything that could change the draws (part of the cache key)."""

    @abstractmethod
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
        """Run NUTS. ``sampler`` holds Stan's own settings (``adapt_delta``, ``max_depth``, ...)."""
