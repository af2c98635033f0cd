"""Posterior summaries of the regression on log(alpha): effects, contrasts, heterogeneity.

h_m01 writes log(alpha_j) = gamma0 + X_j gamma + sigma_cell z_j. A report
asks three kinds of question of a fit, and this module answers each from the
posterior draws of an ArviZ InferenceData:

* how large is each effect? :func:`effects_table` (gamma on the log scale,
  exp(gamma) as a multiplicative effect on alpha, P(gamma > 0));
* how large is a combination of cells, such as a difference in differences?
  :func:`contrast` (draws) and :func:`summarise` (their summary);
* is there residual variation between cells? :func:`heterogeneity`
  (sigma_cell, posterior against its half-normal prior).

:func:`regression_mean` gives the regression line gamma0 + X_j gamma of every
cell, draw by draw, from which the cell deviations sigma_cell z_j follow;
:func:`pooling_path` follows the cells from that line (sigma_cell held at 0)
to independent fits as sigma_cell is held at growing values.

>>> import numpy as np, arviz as az
>>> rng = np.random.default_rng(0)
>>> idata = az.from_dict(posterior={"gamma": rng.normal([0.5, -1.0], 0.1, size=(2, 500, 2))},
...                      dims={"gamma": ["predictor"]}, coords={"predictor": ["llm", "prompt"]})
>>> table = effects_table(idata)
>>> table.loc[:, "P(gamma > 0)"].tolist()
[1.0, 0.0]
>>> round(float(table.loc["llm", "exp(gamma)"]), 1)
1.6
"""

from __future__ import annotations

from typing import Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

__all__ = ["draws_of", "tails", "summarise", "regression_summary", "effects_table", "contrast", "regression_mean",
           "heterogeneity", "prior_pull", "log_alpha_by_chain", "mean_and_mcse", "regression_gap", "pooling_path"]


def draws_of(idata: az.InferenceData, var: str) -> xr.DataArray:
    """Posterior draws of ``var`` with chain and draw stacked into one ``sample`` dimension (first).

    >>> import arviz as az, numpy as np
    >>> idata = az.from_dict(posterior={"mu": np.zeros((2, 3))})
    >>> draws_of(idata, "mu").shape
    (6,)
    """
    if var not in idata.posterior:
        raise KeyError(f"the posterior has no variable {var!r}; it has {sorted(idata.posterior.data_vars)}")
    stacked = idata.posterior[var].stack(sample=("chain", "draw"))
    return stacked.transpose("sample", ...)


def tails(prob: float) -> tuple[float, float]:
    """The quantile levels of a central ``prob`` interval: ((1 - prob) / 2, (1 + prob) / 2).

    Every interval of the package is equal-tailed and takes its ends from here.

    >>> tails(0.5)
    (0.25, 0.75)
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must be in (0, 1), got {prob}")
    return (1 - prob) / 2, (1 + prob) / 2


def summarise(draws: np.ndarray | xr.DataArray, prob: float = 0.9) -> pd.Series:
    """Mean, sd, central interval (equal-tailed, probability ``prob``) and P(> 0) of scalar draws.

    >>> s = summarise(np.arange(1, 101) - 10.5, prob=0.8)
    >>> s[["mean", "lower", "upper", "P(> 0)"]].round(6).tolist()
    [40.0, 0.4, 79.6, 0.9]
    """
    values = np.asarray(draws, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("summarise: no draws")
    low, high = tails(prob)
    lower, upper = np.quantile(values, [low, high])
    return pd.Series(
        {
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if values.size > 1 else np.nan,
            "lower": float(lower),
            "upper": float(upper),
            "P(> 0)": float(np.mean(values > 0)),
        }
    )


def regression_summary(idata: az.InferenceData, prob: float = 0.9) -> pd.DataFrame:
    """:func:`summarise` of gamma0, every coefficient (by predictor) and sigma_cell, with the MCSE of each mean.

    One row per quantity, in that order (rows absent from the posterior are
    skipped); columns ``mean``, ``sd``, ``lower``, ``upper``, ``P(> 0)`` and
    ``mcse`` (the Monte Carlo standard error of the mean). Two fits of one
    design, e.g. under other priors, give tables with the same rows.

    >>> import numpy as np, arviz as az
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"gamma0": rng.normal(3, 1, (2, 500)), "gamma": rng.normal(size=(2, 500, 1)),
    ...                                 "sigma_cell": np.abs(rng.normal(size=(2, 500)))},
    ...                      dims={"gamma": ["predictor"]}, coords={"predictor": ["llm"]})
    >>> regression_summary(idata).index.tolist()
    ['gamma0', 'llm', 'sigma_cell']
    """
    rows = {}
    for name in ("gamma0", "gamma", "sigma_cell"):
        if name not in idata.posterior:
            continue
        array = idata.posterior[name]
        if name == "gamma":
            parts = {str(label): array.sel(predictor=label) for label in array["predictor"].values}
        else:
            parts = {name: array}
        for label, draws in parts.items():
            rows[label] = {**summarise(draws, prob), "mcse": float(az.mcse(draws.values, method="mean"))}
    return pd.DataFrame.from_dict(rows, orient="index")


def effects_table(idata: az.InferenceData, var: str = "gamma", prob: float = 0.9) -> pd.DataFrame:
    """One row per predictor: the coefficient on the log scale and as a multiplicative effect on alpha.

    Columns: ``mean``, ``sd``, ``lower``, ``upper`` (central ``prob``
    interval of gamma_p); ``exp(gamma)`` (exp of the posterior median: the
    factor by which a unit change in predictor p multiplies alpha),
    ``exp lower``, ``exp upper`` (its interval: exp is monotone, so these are
    exactly the exp of the interval ends); ``P(gamma > 0)``.

    >>> import numpy as np, arviz as az
    >>> draws = np.stack([np.linspace(-1, 1, 201), np.linspace(0, 2, 201)], axis=-1)[None]
    >>> idata = az.from_dict(posterior={"gamma": draws}, dims={"gamma": ["predictor"]},
    ...                      coords={"predictor": ["a", "b"]})
    >>> t = effects_table(idata, prob=0.5)
    >>> t.loc["a", ["lower", "upper"]].round(6).tolist(), round(float(t.loc["b", "exp(gamma)"]), 4)
    ([-0.5, 0.5], 2.7183)
    """
    gamma = draws_of(idata, var)
    if gamma.ndim != 2:
        raise ValueError(f"effects_table: {var!r} must have one dimension besides the draws, has dims {gamma.dims}")
    predictor_dim = gamma.dims[1]
    labels = [str(label) for label in gamma[predictor_dim].values]
    low, high = tails(prob)
    values = gamma.values
    if values.shape[1] == 0:
        return pd.DataFrame(
            columns=["mean", "sd", "lower", "upper", "exp(gamma)", "exp lower", "exp upper", "P(gamma > 0)"]
        )
    lower, median, upper = np.quantile(values, [low, 0.5, high], axis=0)
    table = pd.DataFrame(
        {
            "mean": values.mean(axis=0),
            "sd": values.std(axis=0, ddof=1),
            "lower": lower,
            "upper": upper,
            "exp(gamma)": np.exp(median),
            "exp lower": np.exp(lower),
            "exp upper": np.exp(upper),
            "P(gamma > 0)": (values > 0).mean(axis=0),
        },
        index=pd.Index(labels, name=predictor_dim),
    )
    table.attrs["prob"] = prob
    return table


def contrast(
    idata: az.InferenceData,
    weights: Mapping[str, float],
    var: str = "log_alpha",
) -> np.ndarray:
    """Draws of sum_j weights[j] * var[j]: a linear combination of cells (or predictors).

    ``weights`` maps labels of ``var``'s dimension (cell ids for
    ``log_alpha``, predictor names for ``gamma``) to weights; labels not
    named get weight 0. A difference in differences of log(alpha) over a 2 x 2
    block of cells has weights +1, -1, -1, +1.

    >>> import numpy as np, arviz as az
    >>> la = np.array([[[1.0, 2.0, 4.0, 8.0]]])     # one draw of four cells
    >>> idata = az.from_dict(posterior={"log_alpha": la}, dims={"log_alpha": ["cell"]},
    ...                      coords={"cell": ["an", "ad", "bn", "bd"]})
    >>> contrast(idata, {"bd": 1, "bn": -1, "ad": -1, "an": 1}).tolist()
    [3.0]
    """
    values = draws_of(idata, var)
    if values.ndim != 2:
        raise ValueError(f"contrast: {var!r} must have one dimension besides the draws, has dims {values.dims}")
    dim = values.dims[1]
    labels = [str(label) for label in values[dim].values]
    unknown = [label for label in weights if str(label) not in labels]
    if unknown:
        raise KeyError(f"contrast: unknown {dim} label(s) {unknown}; known: {labels}")
    if not weights:
        raise ValueError("contrast: no weights given")
    w = np.array([float(weights.get(label, 0.0)) for label in labels])
    return values.values @ w


def regression_mean(idata: az.InferenceData, X: pd.DataFrame | None = None) -> xr.DataArray:
    """gamma0 + X_j gamma for every cell and draw: the regression line log(alpha_j) is pooled towards.

    Without ``X``, X is read from the fit's ``constant_data`` (h_m01 stores
    it there), so the result is exactly what the model used. ``X`` (rows:
    cells or any new points, columns: the fit's predictors, matched by name)
    evaluates the line elsewhere, e.g. on a grid of temperatures.
    Dimensions (sample, cell).

    >>> import numpy as np, arviz as az, pandas as pd
    >>> idata = az.from_dict(posterior={"gamma0": np.array([[3.0]]), "gamma": np.array([[[0.5]]])},
    ...                      constant_data={"X": np.array([[0.0], [1.0]])},
    ...                      dims={"gamma": ["predictor"], "X": ["cell", "predictor"]},
    ...                      coords={"cell": ["a", "b"], "predictor": ["p"]})
    >>> regression_mean(idata).values.tolist()
    [[3.0, 3.5]]
    >>> regression_mean(idata, pd.DataFrame({"p": [2.0]}, index=["new"])).values.tolist()
    [[4.0]]
    """
    if X is not None:
        return _line_at(idata, X)
    if "constant_data" not in idata.groups() or "X" not in idata.constant_data:
        raise KeyError("regression_mean: the fit has no constant_data X (fit h_m01 with seu.fit)")
    X = idata.constant_data["X"]
    gamma0 = draws_of(idata, "gamma0")
    cell_dim = X.dims[0]
    if X.shape[1] == 0:  # P = 0 (gamma may be absent): the line is the intercept alone
        zeros = xr.DataArray(np.zeros(X.shape[0]), dims=[cell_dim], coords={cell_dim: X[cell_dim].values})
        return (gamma0 + zeros).transpose("sample", cell_dim)
    gamma = draws_of(idata, "gamma")
    predictor_dim = gamma.dims[1]
    X = X.rename({X.dims[1]: predictor_dim}) if X.dims[1] != predictor_dim else X
    line = gamma0 + xr.dot(X, gamma, dim=predictor_dim)
    return line.transpose("sample", cell_dim)


def _line_at(idata: az.InferenceData, X: pd.DataFrame) -> xr.DataArray:
    """gamma0 + X gamma at the rows of ``X``, whose columns name the fit's predictors (every one, in any order)."""
    gamma0 = draws_of(idata, "gamma0")
    index = pd.Index([str(i) for i in X.index], name="cell")
    if "gamma" not in idata.posterior or X.shape[1] == 0:
        if X.shape[1]:
            raise KeyError(f"regression_mean: the fit has no coefficients, X has columns {list(X.columns)}")
        values = np.repeat(gamma0.values[:, None], len(X), axis=1)
    else:
        gamma = draws_of(idata, "gamma")
        labels = [str(label) for label in gamma[gamma.dims[1]].values]
        columns = [str(c) for c in X.columns]
        if sorted(columns) != sorted(labels):
            raise KeyError(f"regression_mean: X has columns {columns}, the fit's predictors are {labels}")
        weights = X.set_axis(columns, axis=1)[labels].to_numpy(dtype=float)
        values = gamma0.values[:, None] + gamma.values @ weights.T
    return xr.DataArray(values, dims=["sample", "cell"], coords={"cell": index.to_numpy()})


def heterogeneity(
    idata: az.InferenceData,
    prior_sd: float = 0.5,
    prob: float = 0.9,
    thresholds: Sequence[float] = (0.1, 0.25),
) -> pd.DataFrame:
    """sigma_cell, posterior against its HalfNormal(``prior_sd``) prior.

    Rows ``prior`` and ``posterior``; columns ``median``, ``lower``,
    ``upper`` (central ``prob`` interval) and ``P(sigma_cell > t)`` for each
    threshold t. sigma_cell > 0 always holds a priori, so "is there
    heterogeneity?" is read as how far the posterior moves away from zero
    relative to the prior: mass above a small threshold that grows from prior
    to posterior supports heterogeneity, mass that collapses towards zero
    supports a design matrix that explains the cells.

    >>> import numpy as np, arviz as az
    >>> idata = az.from_dict(posterior={"sigma_cell": np.full((1, 100), 0.6)})
    >>> h = heterogeneity(idata, prior_sd=0.5)
    >>> float(h.loc["posterior", "median"]), round(float(h.loc["prior", "median"]), 3)
    (0.6, 0.337)
    """
    if not prior_sd > 0:
        raise ValueError(f"prior_sd must be positive, got {prior_sd}")
    sigma = draws_of(idata, "sigma_cell").values.ravel()
    low, high = tails(prob)
    prior = stats.halfnorm(scale=prior_sd)
    rows = {
        "prior": [prior.median(), prior.ppf(low), prior.ppf(high)] + [float(prior.sf(t)) for t in thresholds],
        "posterior": list(np.quantile(sigma, [0.5, low, high])) + [float(np.mean(sigma > t)) for t in thresholds],
    }
    columns = ["median", "lower", "upper"] + [f"P(sigma_cell > {t:g})" for t in thresholds]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns).astype(float)
    table.attrs["prob"] = prob
    return table


def prior_pull(median: np.ndarray | float, sd: np.ndarray | float, prior_mu: np.ndarray | float,
               prior_sd: np.ndarray | float) -> np.ndarray:
    """How far a Normal(prior_mu, prior_sd) prior pulled a posterior centre, in the normal approximation.

    With a normal likelihood centred at L and a posterior of centre ``median``
    and sd ``sd``, the prior's weight is w = sd**2 / prior_sd**2, the posterior
    centre is (1 - w) L + w prior_mu, and the pull median - L equals
    w / (1 - w) * (prior_mu - median). Negative: the prior pulled the
    estimate down. Used on log(alpha) of an m_01 fit, whose prior is
    LogNormal(prior_mu, prior_sd), it says how much of the estimate is the
    cell's own prior rather than its choices. NaN where w >= 1 (the posterior
    is no narrower than the prior, so no likelihood centre follows).

    >>> float(prior_pull(4.0, 0.3, 3.0, 0.6))    # w = 0.25: a third of (3 - 4)
    -0.3333333333333333
    """
    median, sd, prior_mu, prior_sd = (np.asarray(v, dtype=float) for v in (median, sd, prior_mu, prior_sd))
    w = sd**2 / prior_sd**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w < 1, w / (1 - w) * (prior_mu - median), np.nan)


def log_alpha_by_chain(idata: az.InferenceData) -> np.ndarray:
    """log(alpha_j) with its chains: (chain, draw, cell) of an h_m01 fit, (chain, draw, 1) of an m_01 fit.

    >>> import numpy as np, arviz as az
    >>> log_alpha_by_chain(az.from_dict(posterior={"alpha": np.full((2, 3), np.e)})).shape
    (2, 3, 1)
    """
    if "log_alpha" in idata.posterior:
        return idata.posterior["log_alpha"].transpose("chain", "draw", ...).values
    if "alpha" not in idata.posterior:
        raise KeyError(f"the posterior has neither log_alpha nor alpha; it has {sorted(idata.posterior.data_vars)}")
    return np.log(idata.posterior["alpha"].transpose("chain", "draw", ...).values).reshape(
        idata.posterior.sizes["chain"], idata.posterior.sizes["draw"], -1)


def mean_and_mcse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means over (chain, draw) of each trailing entry of ``values``, and their Monte Carlo SEs.

    ``values`` has shape (chain, draw, ...); the standard errors are ArviZ's
    ``mcse(method="mean")``, which account for autocorrelation within chains.

    >>> import numpy as np
    >>> means, errors = mean_and_mcse(np.random.default_rng(0).normal(size=(4, 1000, 2)))
    >>> means.shape, bool((errors > 0.01).all() and (errors < 0.03).all())
    ((2,), True)
    """
    values = np.asarray(values, dtype=float)
    if values.ndim < 2:
        raise ValueError(f"mean_and_mcse: values need (chain, draw, ...) dimensions, got shape {values.shape}")
    flat = values.reshape(values.shape[0], values.shape[1], -1)
    errors = np.array([float(az.mcse(flat[..., k], method="mean")) for k in range(flat.shape[2])])
    return flat.mean(axis=(0, 1)), errors


def regression_gap(idata: az.InferenceData) -> np.ndarray:
    """Mean over cells of |log(alpha_j) - (gamma0 + X_j gamma)|, draw by draw: (chain, draw).

    In h_m01 the gap of cell j is sigma_cell |z_j|: zero under complete
    pooling, growing as the cells leave the regression line.
    """
    by_chain = log_alpha_by_chain(idata)
    line = regression_mean(idata).values.reshape(by_chain.shape)  # draws_of stacks chain-major
    return np.abs(by_chain - line).mean(axis=2)


def pooling_path(fits: Mapping[float, az.InferenceData],
                 independent: Mapping[str, az.InferenceData]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A sweep of h_m01 fits with sigma_cell held at the keys of ``fits``, against one m_01 fit per cell.

    Returns ``(estimates, path)``. ``estimates``: the posterior mean of
    log(alpha_j), one row per sigma_cell and one column per cell. ``path``,
    one row per sigma_cell: ``distance``, the mean over cells of
    |h_m01 mean - independent mean|, and ``gap``, the posterior mean of
    :func:`regression_gap`, each with its Monte Carlo standard error
    (``distance_mcse`` adds the errors of both fits in quadrature, the
    chains of the two fits being independent). As sigma_cell grows the gap
    grows and the distance falls: the cells move from the regression line to
    their independent estimates. ``independent`` is keyed by cell id and
    must cover every cell of the sweep.
    """
    if not fits:
        raise ValueError("pooling_path: no fits given")
    first = next(iter(fits.values()))
    cells = [str(c) for c in first.posterior["log_alpha"][first.posterior["log_alpha"].dims[-1]].values]
    missing = [c for c in cells if c not in independent]
    if missing:
        raise KeyError(f"pooling_path: no independent fit for cell(s) {', '.join(missing)}")
    solo = [mean_and_mcse(log_alpha_by_chain(independent[c])) for c in cells]
    solo_mean = np.array([m[0] for m, _ in solo])
    solo_mcse = np.array([e[0] for _, e in solo])
    estimates, rows = {}, {}
    for sigma, fitted in fits.items():
        means, errors = mean_and_mcse(log_alpha_by_chain(fitted))
        if len(means) != len(cells):
            raise ValueError(f"pooling_path: the fit at sigma_cell = {sigma:g} has {len(means)} cells, "
                             f"the first has {len(cells)}")
        gap = regression_gap(fitted)
        estimates[sigma] = means
        rows[sigma] = {"distance": float(np.abs(means - solo_mean).mean()),
                       "distance_mcse": float(np.sqrt(np.sum(errors**2 + solo_mcse**2)) / len(cells)),
                       "gap": float(gap.mean()),
                       "gap_mcse": float(az.mcse(gap, method="mean"))}
    index = pd.Index(list(fits), name="sigma_cell")
    return (pd.DataFrame(list(estimates.values()), index=index, columns=cells),
            pd.DataFrame(list(rows.values()), index=index))
