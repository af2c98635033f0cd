"""Pareto-smoothed importance sampling and PSIS-LOO, vectorised across observations.

ArviZ 0.23's ``az.psislw`` smooths the importance weights of one observation
at a time in a Python loop, which dominates ``az.loo`` on the application
chapter's ~6000 observations. This module reproduces ArviZ's algorithm
(Vehtari et al. 2024; the generalised Pareto fit of Zhang & Stephens 2009)
step for step, but for a block of observations at once: the tail length is
fixed by the number of draws, so the tails of all observations are fitted
together by broadcasting over the grid of candidate GPD parameters.

* :func:`psislw`: smoothed log weights and Pareto k, the numbers of
  ``az.psislw`` (whose numpy input is the transpose, observations first);
* :func:`loo`: the ``ELPDData`` of ``az.loo(idata, pointwise=True, reff=reff)``,
  usable by ``az.compare``.

>>> rng = np.random.default_rng(0)
>>> lw, k = psislw(rng.normal(size=(1000, 3)))
>>> lw.shape, k.shape, bool(np.allclose(np.exp(lw).sum(axis=0), 1.0))
((1000, 3), (3,), True)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .memo import remembered

__all__ = ["psislw", "loo"]

#: ArviZ floors the tail cutoff at the smallest normal double
_CUTOFF_MIN = float(np.log(np.finfo(float).tiny))
#: elements of the (observations x grid x tail) array of one GPD fit block, to bound memory
_BLOCK_ELEMENTS = 2_000_000


def _tail_length(n_samples: int, reff: float) -> int:
    """ArviZ's number of tail draws: ceil(min(S / 5, 3 sqrt(S / reff)))."""
    return int(np.ceil(min(n_samples / 5.0, 3 * (n_samples / reff) ** 0.5)))


def _block_rows(n_samples: int, tail: int) -> int:
    """Observations per block, so that a block's draws and its GPD grid stay near _BLOCK_ELEMENTS."""
    grid = 30 + int(tail**0.5)
    return max(1, _BLOCK_ELEMENTS // max(n_samples, grid * tail))


def _logsumexp_rows(x: np.ndarray, b_inv: float = 1.0) -> np.ndarray:
    """log(sum(exp(x)) / b_inv) along axis 1, in ArviZ's operation order (so the rounding matches)."""
    top = x.max(axis=1)
    return np.log(np.exp(x - top[:, None]).sum(axis=1)) + (top - np.log(b_inv))


def _gpdfit(ary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zhang & Stephens' empirical Bayes GPD fit of each row of ``ary`` (rows sorted ascending).

    ArviZ's ``_gpdfit`` broadcast over rows; returns (k, sigma) per row, k with
    ArviZ's weakly informative prior (shrinkage towards 0.5 worth 10 draws).
    """
    n = ary.shape[1]
    m_est = 30 + int(n**0.5)
    b = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1, dtype=float) - 0.5))
    b = b / (3 * ary[:, int(n / 4 + 0.5) - 1])[:, None] + 1 / ary[:, -1][:, None]  # (rows, grid)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        k_grid = np.multiply(b[:, :, None], ary[:, None, :])  # the largest array: computed in place
        np.log1p(np.negative(k_grid, out=k_grid), out=k_grid)
        k_grid = k_grid.mean(axis=2)
        len_scale = n * (np.log(-(b / k_grid)) - k_grid - 1)
        weights = 1 / np.exp(len_scale[:, None, :] - len_scale[:, :, None]).sum(axis=2)
        # ArviZ drops negligible (and NaN) weights before normalising; zeroing them is the same
        keep = weights >= 10 * np.finfo(float).eps
        weights = np.where(keep, weights, 0.0)
        total = weights.sum(axis=1, keepdims=True)
        b_post = np.where(keep, b * (weights / total), 0.0).sum(axis=1)
        b_post = np.where(total[:, 0] > 0, b_post, 0.0)  # ArviZ: an empty sum when nothing is kept
        k_post = np.log1p(-b_post[:, None] * ary).mean(axis=1)
        sigma = -k_post / b_post
    k_post = (n * k_post + 10 * 0.5) / (n + 10)
    return k_post, sigma


def _gpinv(probs: np.ndarray, kappa: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """GPD quantiles of ``probs`` (all in (0, 1)) for each row's (kappa, sigma); NaN rows where sigma <= 0."""
    kappa, sigma = kappa[:, None], sigma[:, None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        general = np.expm1(-kappa * np.log1p(-probs)) / kappa
        x = np.where(np.abs(kappa) < np.finfo(float).eps, -np.log1p(-probs), general) * sigma
    return np.where(sigma <= 0, np.nan, x)


def _smooth_rows(x: np.ndarray, tail: int) -> np.ndarray:
    """Smooth and normalise in place the log weights ``x`` (observations x draws); returns k."""
    n_samples = x.shape[1]
    x -= x.max(axis=1, keepdims=True)  # numerical accuracy, as ArviZ
    kth = n_samples - tail - 1  # ArviZ's x[argsort(x)[-tail - 1]]: a value, so ties do not matter
    cutoff = np.maximum(np.partition(x, kth, axis=1)[:, kth], _CUTOFF_MIN)
    in_tail = x > cutoff[:, None]
    tail_len = in_tail.sum(axis=1)
    k = np.full(x.shape[0], np.inf)  # ArviZ's k for tails of 4 draws or fewer
    # ties at the cutoff shorten a tail, so group observations by their tail length
    for length in np.unique(tail_len[tail_len > 4]):
        rows = np.flatnonzero(tail_len == length)
        # tail draws in their original order, then argsorted as ArviZ does (same tie order)
        cols = np.nonzero(in_tail[rows])[1].reshape(len(rows), length)
        values = x[rows[:, None], cols]
        order = np.argsort(values, axis=1)
        cols = np.take_along_axis(cols, order, axis=1)
        exp_cutoff = np.exp(cutoff[rows])[:, None]
        k_rows, sigma = _gpdfit(np.exp(np.take_along_axis(values, order, axis=1)) - exp_cutoff)
        k[rows] = k_rows
        fitted = np.isfinite(k_rows)  # ArviZ leaves the weights unsmoothed when the fit failed
        probs = np.arange(0.5, length) / length
        with np.errstate(invalid="ignore", divide="ignore"):
            smoothed = np.log(_gpinv(probs, k_rows[fitted], sigma[fitted]) + exp_cutoff[fitted])
        # truncate at the largest raw weight, 0; only the smoothed tail can exceed it
        x[rows[fitted, None], cols[fitted]] = np.where(smoothed > 0, 0.0, smoothed)
    x -= _logsumexp_rows(x)[:, None]
    return k


def psislw(log_weights: np.ndarray, reff: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Pareto-smoothed, truncated and normalised log importance weights, and the Pareto k.

    ``log_weights`` is ``(draws,)`` or ``(draws, observations)``, the draws of
    all chains stacked; ``reff`` is the relative MCMC efficiency (ESS / draws),
    which sets the tail length. Returns arrays shaped like the input and like
    its observations. The numbers are those of ArviZ 0.23's
    ``az.psislw(log_weights.T, reff)`` (to rounding); for LOO pass minus the
    log likelihood, as ``az.loo`` does.

    >>> rng = np.random.default_rng(1)
    >>> lw, k = psislw(-rng.normal(size=(400, 2)), reff=0.9)
    >>> lw.shape, bool(np.all(k < 0.7))
    ((400, 2), True)
    """
    log_weights = np.asarray(log_weights, dtype=float)
    if log_weights.ndim not in (1, 2) or log_weights.shape[0] < 2:
        raise ValueError(f"psislw: expected (draws,) or (draws, observations) with 2+ draws, got {log_weights.shape}")
    columns = log_weights.reshape(log_weights.shape[0], -1)
    n_samples, n_obs = columns.shape
    tail = _tail_length(n_samples, reff)
    out, k = np.empty_like(columns), np.empty(n_obs)
    step = _block_rows(n_samples, tail)
    for start in range(0, n_obs, step):  # blocks of observations bound the memory of the GPD fits
        rows = columns[:, start:start + step].T.copy()  # a C-ordered copy: smoothed in place, the input untouched
        k[start:start + step] = _smooth_rows(rows, tail)
        out[:, start:start + step] = rows.T
    if log_weights.ndim == 1:
        return out[:, 0], k[0]
    return out, k


@remembered("seu_sensitivity.inference.psis")
def _pointwise(values: np.ndarray, reff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loo_i, lppd_i, Pareto k) of each column of the (draws x observations) log likelihood ``values``."""
    n_samples = values.shape[0]
    tail = _tail_length(n_samples, reff)
    loo_i, lppd_i, k = (np.empty(values.shape[1]) for _ in range(3))
    step = _block_rows(n_samples, tail)
    for start in range(0, values.shape[1], step):
        ll = np.ascontiguousarray(values[:, start:start + step].T)
        weights = -ll
        k[start:start + step] = _smooth_rows(weights, tail)
        loo_i[start:start + step] = _logsumexp_rows(weights + ll)
        lppd_i[start:start + step] = _logsumexp_rows(ll, b_inv=n_samples)
    return loo_i, lppd_i, k


def loo(idata: Any, *, reff: float | None = None, var_name: str | None = None) -> Any:
    """PSIS-LOO of ``idata``: the ``ELPDData`` of ``az.loo(idata, pointwise=True, reff=reff)`` (log scale).

    Same fields (elpd_loo, se, p_loo, n_samples, n_data_points, warning,
    loo_i, pareto_k, scale, good_k), numbers equal to rounding, and the same
    single warning when some Pareto k exceeds ArviZ's threshold
    ``min(1 - 1/log10(S), 0.7)``; so ``az.compare`` accepts it in place of
    ArviZ's. ``reff=None`` computes ArviZ's default (mean ESS of the posterior
    over the draws, 1 for a single chain).

    >>> import arviz as az
    >>> rng = np.random.default_rng(2)
    >>> idata = az.from_dict(posterior={"mu": rng.normal(size=(2, 200))},
    ...                      log_likelihood={"y": rng.normal(-1.0, 0.1, size=(2, 200, 5))})
    >>> result = loo(idata, reff=1.0)
    >>> result["scale"], int(result["n_data_points"]), result["loo_i"].shape
    ('log', 5, (5,))
    """
    import arviz as az
    from arviz.stats.stats_utils import ELPDData, get_log_likelihood

    idata = az.convert_to_inference_data(idata)
    log_likelihood = get_log_likelihood(idata, var_name=var_name).transpose("chain", "draw", ...)
    n_samples = log_likelihood.sizes["chain"] * log_likelihood.sizes["draw"]
    obs_shape = log_likelihood.shape[2:]
    n_data_points = np.prod(obs_shape)
    if reff is None:  # ArviZ's default
        posterior = idata.posterior
        if len(posterior.chain) == 1:
            reff = 1.0
        else:
            ess = az.ess(posterior, method="mean")
            reff = np.hstack([ess[v].values.flatten() for v in ess.data_vars]).mean() / n_samples

    values = np.asarray(log_likelihood.values, dtype=float).reshape(n_samples, -1)
    loo_i, lppd_i, k = _pointwise(values, float(reff))

    good_k = min(1 - 1 / np.log10(n_samples), 0.7)
    warn = bool(np.any(k > good_k))
    if warn:
        warnings.warn(
            f"Pareto k above {good_k:.2f} for some observations: their PSIS-LOO estimates are "
            "unreliable (the leave-one-out posterior differs too much from the full one; "
            "influential observations or a non-robust model)."
        )
    elpd = loo_i.sum()
    se = (n_data_points * np.var(loo_i)) ** 0.5
    p_loo = lppd_i.sum() - elpd
    if np.equal(elpd, loo_i).all():
        warnings.warn(
            "every pointwise LOO value equals the total: the log likelihood does not look "
            "element-wise (one value per observation)."
        )
    template = log_likelihood.isel(chain=0, draw=0, drop=True)
    return ELPDData(
        data=[elpd, se, p_loo, n_samples, n_data_points, warn,
              template.copy(data=loo_i.reshape(obs_shape)).rename("loo_i"),
              template.copy(data=k.reshape(obs_shape)).rename("pareto_shape"), "log", good_k],
        index=["elpd_loo", "se", "p_loo", "n_samples", "n_data_points", "warning", "loo_i", "pareto_k",
               "scale", "good_k"],
    )
