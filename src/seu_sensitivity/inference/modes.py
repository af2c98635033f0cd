"""Chains that sit in different regions of the posterior: per-chain summaries that show separate modes.

R-hat says that chains disagree, not how. When a posterior has two regions
that the sampler rarely crosses, each chain stays in one of them, and the
chains' own means of a quantity differ by far more than their Monte Carlo
errors. :func:`chain_summary` gives each chain's mean and its Monte Carlo
standard error (from that chain's effective sample size, ArviZ's estimator);
:func:`separated_chains` compares the chains of each quantity and groups the
chains into modes: consecutive chains (ordered by their mean) belong to the
same mode unless their means are more than ``threshold`` Monte Carlo errors
apart. For chains of one posterior that ratio is about half-normal, so a
separation above 4 happens by chance with probability about 6e-5 per pair.

The log density (``lp``, from the sampler statistics) is the natural
quantity to look at first: chains in different modes sit at different
heights.

>>> import numpy as np, arviz as az
>>> rng = np.random.default_rng(3)
>>> shift = np.array([[0.0], [0.0], [0.11], [0.11]])           # chains 2 and 3 elsewhere
>>> idata = az.from_dict(posterior={"delta": 0.08 + shift + 0.01 * rng.normal(size=(4, 500))},
...                      sample_stats={"lp": -233 + 30 * shift + rng.normal(size=(4, 500))})
>>> table = separated_chains(idata, ["delta", "lp"])
>>> int(table.loc["lp", "modes"]), table.loc["lp", "chains by mode"]
(2, '0, 1 | 2, 3')
"""

from __future__ import annotations

from typing import Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["chain_summary", "separated_chains", "chain_modes", "chain_stacking_weights", "stacked_draws",
           "mode_diagnostics", "SEPARATION_THRESHOLD"]

#: chains whose means differ by more than this many Monte Carlo standard errors are in different modes
SEPARATION_THRESHOLD = 4.0


def _scalar_draws(idata: az.InferenceData, var_names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{"delta[ellsberg, 1]": (chain, draw) array, ...}`` for posterior variables and sampler statistics."""
    out: dict[str, np.ndarray] = {}
    for name in var_names:
        if name in idata.posterior:
            array = idata.posterior[name]
        elif hasattr(idata, "sample_stats") and name in idata.sample_stats:
            array = idata.sample_stats[name]
        else:
            raise ValueError(f"var_names: {name!r} is neither a posterior variable nor a sampler statistic")
        array = array.transpose("chain", "draw", ...)
        element_dims = array.dims[2:]
        values = array.values
        for index in np.ndindex(values.shape[2:]):
            draws = values[(slice(None), slice(None), *index)]
            if np.isnan(draws).all():  # padding of a ragged parameter
                continue
            labels = [str(array[dim].values[i]) for dim, i in zip(element_dims, index)]
            out[name + (f"[{', '.join(labels)}]" if labels else "")] = np.asarray(draws, dtype=float)
    return out


def chain_summary(idata: az.InferenceData, var_names: Sequence[str] = ("lp",)) -> pd.DataFrame:
    """Each chain's mean, standard deviation and Monte Carlo standard error of the mean, per scalar quantity.

    ``var_names`` name posterior variables or sampler statistics (``"lp"``,
    the log density). Returns a long table with columns ``quantity``,
    ``chain``, ``mean``, ``sd`` and ``mcse``.
    """
    rows = []
    for quantity, draws in _scalar_draws(idata, var_names).items():
        for chain, values in enumerate(draws):
            rows.append({"quantity": quantity, "chain": chain, "mean": float(values.mean()),
                         "sd": float(values.std(ddof=1)),
                         "mcse": float(az.mcse(values[None, :], method="mean"))})
    return pd.DataFrame(rows, columns=["quantity", "chain", "mean", "sd", "mcse"])


def _modes(means: np.ndarray, mcses: np.ndarray, threshold: float) -> list[list[int]]:
    """Chains grouped into modes: sorted by mean, split where neighbours are > threshold MCSEs apart."""
    order = np.argsort(means)
    groups = [[int(order[0])]]
    for previous, current in zip(order[:-1], order[1:]):
        gap = abs(means[current] - means[previous]) / np.hypot(mcses[current], mcses[previous])
        if gap > threshold:
            groups.append([])
        groups[-1].append(int(current))
    return [sorted(group) for group in groups]


def separated_chains(
    idata: az.InferenceData,
    var_names: Sequence[str] = ("lp",),
    *,
    threshold: float = SEPARATION_THRESHOLD,
) -> pd.DataFrame:
    """For each scalar quantity: how far apart the chains' means are, and the modes they form.

    One row per quantity: ``separation`` (the largest difference of two
    chains' means, in Monte Carlo standard errors of that difference),
    ``lowest`` and ``highest`` (the extreme chain means), ``modes`` (the
    number of groups of chains whose neighbouring means agree within
    ``threshold`` errors), ``chains by mode`` (``"0, 1 | 2, 3"``, modes in
    increasing order of their means) and ``separated`` (more than one mode).
    ``table.attrs["separated"]`` is True when any quantity is.
    """
    summary = chain_summary(idata, var_names)
    rows = {}
    for quantity, per_chain in summary.groupby("quantity", sort=False):
        means, mcses = per_chain["mean"].to_numpy(), per_chain["mcse"].to_numpy()
        difference = np.abs(means[:, None] - means[None, :])
        separation = float(np.max(difference / np.hypot(mcses[:, None], mcses[None, :]))) if len(means) > 1 else 0.0
        modes = _modes(means, mcses, threshold)
        rows[quantity] = {"separation": separation, "lowest": float(means.min()), "highest": float(means.max()),
                          "modes": len(modes), "chains by mode": " | ".join(", ".join(map(str, m)) for m in modes),
                          "separated": len(modes) > 1}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["separated"] = bool(table["separated"].any()) if len(table) else False
    table.attrs["threshold"] = threshold
    return table


def chain_modes(idata: az.InferenceData, quantity: str = "lp", *, threshold: float = SEPARATION_THRESHOLD
                ) -> list[list[int]]:
    """Chains (by position) grouped into modes by one scalar quantity, modes in increasing order of its mean."""
    summary = chain_summary(idata, [quantity])
    if summary["quantity"].nunique() != 1:
        raise ValueError(f"quantity: {quantity!r} must be a scalar (one value per draw)")
    return _modes(summary["mean"].to_numpy(), summary["mcse"].to_numpy(), threshold)


def chain_stacking_weights(idata: az.InferenceData, *, by_mode: bool = True, var_name: str | None = None
                           ) -> pd.Series:
    """Bayesian stacking of chains (Yao, Vehtari and Gelman 2022): a weight per chain.

    When chains do not mix, each is a sample from a different part of the
    posterior, and the plain mixture of chains weights each part by how many
    chains happened to land there. Stacking instead chooses the weights that
    maximise the leave-one-out predictive density of the mixture: each part
    is treated as a model, its pointwise PSIS-LOO is computed from its own
    draws, and the weights are ArviZ's stacking weights (``az.compare(...,
    method="stacking")``).

    With ``by_mode`` (the default) the parts are the modes of
    :func:`chain_modes` (by the log density), and a mode's weight is shared
    equally by its chains: chains of one mode predict alike, and stacking
    them one by one would put a mode's whole weight on one arbitrary chain,
    throwing away the others' draws. ``idata`` needs a ``log_likelihood``
    group (``var_name`` picks one variable of it when there are several).
    """
    if not hasattr(idata, "log_likelihood"):
        raise ValueError("idata: stacking chains needs a log_likelihood group")
    chains = list(idata.posterior["chain"].values)
    parts = chain_modes(idata) if by_mode else [[position] for position in range(len(chains))]
    models = {f"part {i}": idata.isel(chain=members) for i, members in enumerate(parts)}
    if len(models) == 1:
        part_weights = {"part 0": 1.0}
    else:
        part_weights = az.compare(models, method="stacking", var_name=var_name)["weight"].astype(float).to_dict()
    weights = pd.Series(0.0, index=pd.Index(chains, name="chain"))
    for i, members in enumerate(parts):
        for position in members:
            weights.iloc[position] = part_weights[f"part {i}"] / len(members)
    return weights / weights.sum()


def stacked_draws(idata: az.InferenceData, weights: pd.Series, *, var_names: Sequence[str] | None = None,
                  draws: int | None = None, seed: int = 0) -> xr.Dataset:
    """Draws of the stacked mixture of chains: one pseudo-chain of ``draws`` draws (default: all).

    Each draw picks a chain with probability ``weights`` and then one of that
    chain's draws at random, so summaries of the result are summaries of the
    stacked posterior.
    """
    posterior = idata.posterior if var_names is None else idata.posterior[list(var_names)]
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    total = draws if draws is not None else n_chains * n_draws
    probabilities = np.asarray(weights.reindex(posterior["chain"].values), dtype=float)
    if probabilities.shape != (n_chains,) or np.isnan(probabilities).any():
        raise ValueError(f"weights: need one weight per chain {list(posterior['chain'].values)}")
    rng = np.random.default_rng(seed)
    chain_index = rng.choice(n_chains, size=total, p=probabilities / probabilities.sum())
    draw_index = rng.integers(0, n_draws, size=total)
    stacked = posterior.stack(sample=("chain", "draw")).isel(sample=chain_index * n_draws + draw_index)
    stacked = stacked.drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
    return stacked.assign_coords(draw=np.arange(total)).expand_dims(chain=[0]).transpose("chain", "draw", ...)


def mode_diagnostics(idata: az.InferenceData, *, min_weight: float = 0.01, var_name: str | None = None) -> pd.DataFrame:
    """Each mode's chains, stacking weight, and the convergence of each group of quantities within the mode.

    One row per mode of :func:`chain_modes` (modes in increasing order of the
    log density's mean): ``chains`` (1-based, as a reader counts them),
    ``weight`` (:func:`chain_stacking_weights` summed over the mode),
    ``kept`` (weight above ``min_weight``), and per group of
    :func:`~seu_sensitivity.inference.diagnostics.diagnose_by_group`
    (``reported``, ``beliefs and utilities``) its largest R-hat, smallest bulk
    ESS and verdict, computed from the mode's own chains (a one-chain mode has
    no R-hat and fails). ``table.attrs["reported_ok"]`` is True when every kept
    mode's reported quantities pass: the stacked posterior can then be
    reported, each of its parts having converged.
    """
    from seu_sensitivity.inference.diagnostics import diagnose_by_group

    weights = chain_stacking_weights(idata, var_name=var_name)
    rows = []
    for members in chain_modes(idata):
        part = idata.isel(chain=members)
        row = {"chains": ", ".join(str(m + 1) for m in members),
               "weight": float(weights.iloc[members].sum()), "kept": bool(weights.iloc[members].sum() > min_weight)}
        for group, result in diagnose_by_group(part).iterrows():
            row[f"{group}: max R-hat"] = float(result["max R-hat"])
            row[f"{group}: min bulk ESS"] = float(result["min bulk ESS"])
            row[f"{group}: ok"] = bool(result["ok"])  # False for one chain: nothing to agree with
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="mode"))
    kept = table[table["kept"]]
    table.attrs["reported_ok"] = bool(len(kept) and kept.get("reported: ok", pd.Series(False)).all())
    return table
