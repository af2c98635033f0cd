"""Comparing models by PSIS-LOO: the comparison table, its reliability, and fits assembled for it.

* :func:`loo_table`: PSIS-LOO of each model (:func:`seu_sensitivity.inference.psis.loo`)
  and ArviZ's ranked comparison (``az.compare``);
* :func:`pareto_k_counts`: how many observations of each model have a Pareto k
  above the reliability thresholds;
* :func:`relative_efficiency`: the ESS / draws ratio PSIS needs, robust to
  padded (NaN) and constant posterior entries;
* :func:`independent_inference_data`: separate single-cell fits as one
  InferenceData over the stacked observations, so that they compare with a
  hierarchical fit observation by observation.

Where many observations have Pareto k above 0.7 the PSIS estimate of that
observation is unreliable; :mod:`seu_sensitivity.inference.kfold` then
compares the models by exact refits, holding out whole base problems.

>>> import arviz as az
>>> rng = np.random.default_rng(0)
>>> fits = {name: az.from_dict(posterior={"mu": rng.normal(size=(2, 200))},
...                            log_likelihood={"y": rng.normal(level, 0.1, size=(2, 200, 8))}, dims={"y": ["obs"]})
...         for name, level in (("worse", -2.0), ("better", -1.0))}
>>> comparison, loos = loo_table(fits)
>>> list(comparison.index), list(pareto_k_counts(loos).columns)
(['better', 'worse'], ['k > 0.7', 'k > 1', 'max k'])
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from seu_sensitivity.inference import psis
from seu_sensitivity.inference.convergence import ess_mean

__all__ = ["loo_table", "pareto_k_counts", "relative_efficiency", "independent_inference_data"]


def relative_efficiency(idata: Any) -> float:
    """Mean relative efficiency (ESS / draws) of the posterior, for PSIS-LOO, ignoring NaN and constant entries.

    ArviZ's default averages the ESS of every posterior variable, and one NaN
    (the padding of h_m01's ragged beta and delta, or a quantity held fixed)
    turns its average into NaN; here those entries are left out.

    >>> import arviz as az
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"a": rng.normal(size=(4, 1000)), "pad": np.full((4, 1000), np.nan)})
    >>> 0.8 < relative_efficiency(idata) < 1.2
    True
    """
    posterior = idata.posterior
    n = posterior.sizes["chain"] * posterior.sizes["draw"]
    if posterior.sizes["chain"] < 2:
        return 1.0
    # vectorised (convergence.ess_mean gives ArviZ's numbers), not ArviZ's loop over elements
    values = np.concatenate([
        ess_mean(posterior[v].transpose("chain", "draw", ...).values).ravel() for v in posterior.data_vars
    ])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    return float(np.mean(values) / n)


def loo_table(models: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """PSIS-LOO of each model and ArviZ's comparison (``az.compare``, stacking weights).

    Returns ``(comparison, loos)``: the comparison table (ranked, best first)
    and each model's ``ELPDData`` (for the Pareto k diagnostics). All models
    must have the same number of observations; each model's relative
    efficiency is :func:`relative_efficiency`.
    """
    import arviz as az

    sizes = {name: idata.log_likelihood["y"].sizes["obs"] for name, idata in models.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"loo_table: the models have different numbers of observations: {sizes}")
    loos = {name: psis.loo(idata, reff=relative_efficiency(idata)) for name, idata in models.items()}
    comparison = az.compare(dict(loos))
    return comparison, loos


def pareto_k_counts(loos: Mapping[str, Any], thresholds: Sequence[float] = (0.7, 1.0)) -> pd.DataFrame:
    """Number of observations whose Pareto k exceeds each threshold, and the largest k, per model."""
    rows = {}
    for name, loo in loos.items():
        k = np.asarray(loo.pareto_k)
        rows[name] = {f"k > {t:g}": int(np.sum(k > t)) for t in thresholds} | {"max k": float(np.max(k))}
    return pd.DataFrame.from_dict(rows, orient="index")


def independent_inference_data(fits: Mapping[str, Any], order: Sequence[str]):
    """Single-cell fits as one InferenceData over the stacked observations, for LOO.

    The log likelihoods of the cells are concatenated along ``obs`` in
    ``order`` (the stacking order of the hierarchical data), so observation
    ``m`` is the same choice in every model compared. Pairing draw d of every
    cell's fit is a draw of the joint posterior, because the cells' posteriors
    are independent. The posterior holds each cell's alpha (dimension
    ``cell``) so that the relative efficiency can be estimated; observed data
    and posterior predictive draws are concatenated when every fit has them.
    All fits must have the same chains and draws.
    """
    import arviz as az

    order = [str(c) for c in order]
    missing = [c for c in order if c not in fits]
    if missing:
        raise KeyError(f"independent_inference_data: no fit for cell(s) {', '.join(missing)}")
    shapes = {c: (fits[c].log_likelihood["y"].sizes["chain"], fits[c].log_likelihood["y"].sizes["draw"]) for c in order}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"independent_inference_data: fits differ in (chains, draws): {shapes}")
    log_lik = np.concatenate([fits[c].log_likelihood["y"].transpose("chain", "draw", ...).values for c in order], axis=-1)
    alpha = np.stack([fits[c].posterior["alpha"].transpose("chain", "draw").values for c in order], axis=-1)
    groups: dict[str, Any] = {"posterior": {"alpha": alpha}, "log_likelihood": {"y": log_lik}}
    if all("observed_data" in fits[c].groups() for c in order):
        groups["observed_data"] = {"y": np.concatenate([fits[c].observed_data["y"].values for c in order])}
    if all("posterior_predictive" in fits[c].groups() for c in order):
        groups["posterior_predictive"] = {
            "y": np.concatenate(
                [fits[c].posterior_predictive["y"].transpose("chain", "draw", ...).values for c in order], axis=-1
            )
        }
    return az.from_dict(
        **groups,
        dims={"alpha": ["cell"], "y": ["obs"]},
        coords={"cell": order, "obs": list(range(log_lik.shape[-1]))},
        attrs={"model": "m_01 x J (independent)"},
    )
