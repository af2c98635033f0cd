"""Power-scaling sensitivity: does the posterior depend on the prior, or on the data?

Raising a component of the model to a power alpha close to 1 (the prior,
p(theta)^alpha, or the likelihood) and watching how far the posterior of each
quantity moves tells whether that component drives it (Kallioinen, Paananen,
Bürkner and Vehtari 2023, "Detecting and diagnosing prior and likelihood
sensitivity with power-scaling"). The moved posteriors come from importance
weights on the existing draws (Pareto-smoothed), so no refit is needed;
ArviZ's :func:`arviz.psens` computes the derivative of the cumulative
Jensen-Shannon distance with respect to alpha at alpha = 1.

* :func:`sensitivity_table` runs both power-scalings on an InferenceData that
  has ``log_prior`` and ``log_likelihood`` groups and diagnoses each quantity
  (:func:`diagnosis`);
* :func:`hyperprior_log_density` computes the log density of h_m01's
  hyperpriors (gamma0, gamma, sigma_cell) at every draw;
* :func:`hyperprior_sensitivity` puts the two together for an h_m01 fit.

For h_m01 only the hyperpriors are power-scaled, not the priors of the
beliefs and utilities (beta, delta) nor the standard normal of the cell
deviations z: the question is whether the study's answers depend on the
choice of hyperprior. With the pilot's few choices per belief coordinate the
belief prior matters by design, and a separate question.

>>> import numpy as np, arviz as az
>>> rng = np.random.default_rng(0)
>>> y = rng.normal(1.0, 1.0, size=100)                       # data; prior mu ~ Normal(0, 10)
>>> post_sd = (1 / 10**2 + 100) ** -0.5
>>> mu = rng.normal(post_sd**2 * y.sum(), post_sd, size=(4, 1000))
>>> idata = az.from_dict(posterior={"mu": mu}, log_likelihood={"y": -0.5 * (y - mu[..., None]) ** 2})
>>> idata.add_groups(log_prior={"mu": -0.5 * (mu / 10) ** 2})
>>> table = sensitivity_table(idata)
>>> table.loc["mu", "diagnosis"], bool(table.loc["mu", "prior"] < 0.05)
('-', True)
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from seu_sensitivity.model.priors import HM01Priors

__all__ = [
    "THRESHOLD",
    "HYPERPARAMETERS",
    "REPORTED",
    "PRIOR_DATA_CONFLICT",
    "STRONG_PRIOR",
    "NO_ISSUE",
    "diagnosis",
    "sensitivity_table",
    "hyperprior_log_density",
    "hyperprior_sensitivity",
]

#: the sensitivity above which a component is said to drive a quantity (Kallioinen et al. 2023)
THRESHOLD = 0.05

#: h_m01's quantities with a hyperprior, in the order of the model
HYPERPARAMETERS: tuple[str, ...] = ("gamma0", "gamma", "sigma_cell")

#: what :func:`hyperprior_sensitivity` reports: the hyperparameters and every cell's alpha
REPORTED: tuple[str, ...] = (*HYPERPARAMETERS, "alpha")

#: the words of the diagnosis
PRIOR_DATA_CONFLICT = "prior-data conflict"
STRONG_PRIOR = "strong prior / weak likelihood"
NO_ISSUE = "-"


def diagnosis(prior: float, likelihood: float, threshold: float = THRESHOLD) -> str:
    """The diagnosis of Kallioinen et al. (2023) from the two sensitivities of one quantity.

    Sensitive to the prior and to the likelihood: the two pull in different
    directions, ``"prior-data conflict"``. Sensitive to the prior only: the
    prior is informative and the data say little, ``"strong prior / weak
    likelihood"``. Otherwise ``"-"``.

    >>> diagnosis(0.2, 0.3), diagnosis(0.2, 0.01), diagnosis(0.01, 0.3)
    ('prior-data conflict', 'strong prior / weak likelihood', '-')
    """
    if prior >= threshold:
        return PRIOR_DATA_CONFLICT if likelihood >= threshold else STRONG_PRIOR
    return NO_ISSUE


def _element_labels(values: xr.DataArray) -> list[str]:
    """The coordinate label of each element of one variable (``""`` for a scalar), in C order."""
    if not values.dims:
        return [""]
    index = values.stack(__element__=list(values.dims)).indexes["__element__"]
    return [", ".join(map(str, key)) if isinstance(key, tuple) else str(key) for key in index]


def _as_dataset(values: xr.Dataset | xr.DataArray, names: Sequence[str]) -> xr.Dataset:
    """psens gives a DataArray for one variable and a Dataset for several: always a Dataset."""
    return values.to_dataset(name=names[0]) if isinstance(values, xr.DataArray) else values


def sensitivity_table(
    idata: az.InferenceData,
    var_names: Sequence[str] | None = None,
    *,
    threshold: float = THRESHOLD,
    delta: float = 0.01,
) -> pd.DataFrame:
    """Prior and likelihood power-scaling sensitivity of each element of ``var_names``, with a diagnosis.

    Parameters
    ----------
    idata
        Posterior draws with a ``log_prior`` group (the log density of the
        prior terms to power-scale, at every draw; its variables are summed)
        and a ``log_likelihood`` group (pointwise; summed).
    var_names
        Posterior variables to report (default: every variable of the posterior).
    threshold
        Sensitivity above which a component counts as driving the quantity.
    delta
        Power-scaling step of the finite difference (ArviZ's default).

    Returns
    -------
    pandas.DataFrame
        One row per scalar element, indexed ``"var"`` or ``"var[coord]"``
        (several dimensions: ``"var[a, b]"``), with columns ``variable``,
        ``element`` (the coordinate label, ``""`` for a scalar), ``prior``,
        ``likelihood`` and ``diagnosis`` (:func:`diagnosis`).
    """
    for group in ("log_prior", "log_likelihood"):
        if group not in idata.groups():
            raise ValueError(f"sensitivity_table: the InferenceData has no {group} group "
                             f"(groups: {', '.join(idata.groups())})")
    names = list(var_names) if var_names is not None else list(idata.posterior.data_vars)
    missing = [v for v in names if v not in idata.posterior]
    if missing:
        raise KeyError(f"sensitivity_table: the posterior has no variable(s) {missing}; "
                       f"it has {sorted(idata.posterior.data_vars)}")
    prior = _as_dataset(az.psens(idata, component="prior", var_names=names, delta=delta), names)
    likelihood = _as_dataset(az.psens(idata, component="likelihood", var_names=names, delta=delta), names)
    rows = []
    for name in names:
        p_values = np.atleast_1d(prior[name].values).ravel()
        l_values = np.atleast_1d(likelihood[name].transpose(*prior[name].dims).values).ravel()
        for element, p, lk in zip(_element_labels(prior[name]), p_values, l_values):
            rows.append({"label": f"{name}[{element}]" if element else name, "variable": name, "element": element,
                         "prior": float(p), "likelihood": float(lk),
                         "diagnosis": diagnosis(float(p), float(lk), threshold)})
    table = pd.DataFrame(rows).set_index("label")
    table.index.name = None
    table.attrs.update(threshold=threshold, delta=delta)
    return table


def _fixed_quantities(idata: az.InferenceData, fixed: Iterable[str] | None) -> set[str]:
    """The hyperparameters held fixed: as given, or those whose draws are all equal."""
    if fixed is not None:
        names = set(fixed)
        unknown = names - set(HYPERPARAMETERS)
        if unknown:
            raise ValueError(f"fixed: {sorted(unknown)} are not hyperparameters of h_m01 ({', '.join(HYPERPARAMETERS)})")
        return names
    # a sampled continuous parameter never repeats one value over every draw; a fixed one always does
    return {name for name in ("gamma0", "sigma_cell")
            if name in idata.posterior and np.ptp(idata.posterior[name].values) == 0}


def hyperprior_log_density(
    idata: az.InferenceData, priors: HM01Priors | None = None, *, fixed: Iterable[str] | None = None
) -> xr.Dataset:
    """The log density of h_m01's hyperpriors at every posterior draw, term by term.

    gamma0 ~ Normal(gamma0_mu, gamma0_sd), gamma_p ~ Normal(0, gamma_sd),
    sigma_cell ~ HalfNormal(sigma_cell_sd), normalised. A quantity held fixed
    (h_m01's ``fix_gamma0`` / ``fix_sigma_cell``, e.g. complete pooling's
    sigma_cell = 0) is not a parameter and has no prior term.

    Parameters
    ----------
    idata
        An h_m01 fit (posterior variables ``gamma0``, ``gamma``, ``sigma_cell``).
    priors
        The hyperpriors the fit used (default :class:`~seu_sensitivity.model.priors.HM01Priors`).
    fixed
        Names of the fixed quantities (``"gamma0"``, ``"sigma_cell"``); default:
        those whose draws are all equal.

    Returns
    -------
    xarray.Dataset
        One variable per hyperparameter with a prior: ``gamma0`` and
        ``sigma_cell`` over (chain, draw), ``gamma`` over (chain, draw,
        predictor). Their sum over variables and elements is the log
        hyperprior density of each draw.

    >>> import arviz as az, numpy as np
    >>> idata = az.from_dict(posterior={"gamma0": np.full((1, 2), 3.0), "gamma": np.zeros((1, 2, 1)),
    ...                                 "sigma_cell": np.full((1, 2), 0.0)}, dims={"gamma": ["predictor"]})
    >>> lp = hyperprior_log_density(idata, fixed=["sigma_cell"])
    >>> sorted(lp.data_vars), round(float(lp["gamma0"][0, 0]), 4)
    (['gamma', 'gamma0'], -0.9189)
    """
    priors = priors if priors is not None else HM01Priors()
    held = _fixed_quantities(idata, fixed)
    post = idata.posterior
    terms: dict[str, xr.DataArray] = {}
    if "gamma0" not in held:
        terms["gamma0"] = xr.apply_ufunc(stats.norm(priors.gamma0_mu, priors.gamma0_sd).logpdf, post["gamma0"])
    if "gamma" in post and post["gamma"].size:
        terms["gamma"] = xr.apply_ufunc(stats.norm(0.0, priors.gamma_sd).logpdf, post["gamma"])
    if "sigma_cell" not in held:
        terms["sigma_cell"] = xr.apply_ufunc(stats.halfnorm(scale=priors.sigma_cell_sd).logpdf, post["sigma_cell"])
    return xr.Dataset(terms)


def hyperprior_sensitivity(
    idata: az.InferenceData,
    priors: HM01Priors | None = None,
    *,
    fixed: Iterable[str] | None = None,
    labels: Mapping[str, str] | None = None,
    threshold: float = THRESHOLD,
    delta: float = 0.01,
) -> pd.DataFrame:
    """Power-scaling sensitivity of an h_m01 fit to its hyperpriors and to its likelihood.

    Only the hyperpriors of gamma0, gamma and sigma_cell are power-scaled
    (:func:`hyperprior_log_density`), not the belief prior (beta, delta) nor
    the cell deviations' standard normal: the table answers "do the answers
    depend on the hyperprior choice?". The input is not changed: the
    ``log_prior`` group goes into a new InferenceData beside its posterior and
    log likelihood.

    Parameters
    ----------
    idata
        An h_m01 fit with its ``log_likelihood`` group.
    priors
        The hyperpriors the fit used (default :class:`~seu_sensitivity.model.priors.HM01Priors`).
    fixed
        Fixed hyperparameters (see :func:`hyperprior_log_density`); they are not reported.
    labels
        Readable names of the cells (cell id -> label) for the alpha rows.
    threshold, delta
        As for :func:`sensitivity_table`.

    Returns
    -------
    pandas.DataFrame
        One row per reported quantity (:data:`REPORTED`: gamma0, each
        coefficient named by its predictor, sigma_cell, each cell's alpha as
        ``"alpha: <label>"``), with columns ``variable``, ``element``,
        ``prior``, ``likelihood`` and ``diagnosis``.

    >>> # hyperprior_sensitivity(study.hierarchical, study.priors, labels=study.labels)
    """
    log_prior = hyperprior_log_density(idata, priors, fixed=fixed)
    if not log_prior.data_vars:
        raise ValueError("hyperprior_sensitivity: every hyperparameter is fixed, so there is no prior to power-scale")
    held = _fixed_quantities(idata, fixed)
    names = [v for v in REPORTED if v in idata.posterior and v not in held and idata.posterior[v].size]
    # a new InferenceData with what psens reads; the fit itself is left as it was
    scaled = az.InferenceData(posterior=idata.posterior[names], log_likelihood=idata.log_likelihood,
                              log_prior=log_prior)
    table = sensitivity_table(scaled, names, threshold=threshold, delta=delta)
    labels = dict(labels or {})
    readable = []
    for label, row in table.iterrows():
        if row["variable"] == "gamma":
            readable.append(row["element"])
        elif row["variable"] == "alpha":
            readable.append(f"alpha: {labels.get(row['element'], row['element'])}")
        else:
            readable.append(label)
    table.index = readable
    return table
