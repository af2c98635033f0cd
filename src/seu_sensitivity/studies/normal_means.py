"""Pooling, shrinkage and the population scale: the logic of the hierarchical primer.

The chapter ``foundations/hierarchical_primer.qmd`` argues with two kinds of
evidence: Stan fits (through :func:`seu_sensitivity.fit`) and exact results of
the normal-normal model, which this module computes so that the fits can be
checked against them.

The normal-normal ("normal means") model with known standard errors::

    y_j ~ Normal(theta_j, sigma_j)            sigma_j known
    theta_j ~ Normal(mu, tau)                 the population
    mu ~ Normal(mu_loc, mu_scale),  tau ~ a prior on (0, inf)

Given (mu, tau) each theta_j has a normal posterior whose mean is a weighted
average of its own estimate and the population mean, with the *shrinkage
weight* w_j = (1/sigma_j^2) / (1/sigma_j^2 + 1/tau^2):

>>> w = shrinkage_weight(V=np.array([100.0, 25.0]), tau=10.0)
>>> w.round(3).tolist()
[0.5, 0.8]
>>> mean, sd = conditional_posterior(y=np.array([20.0, 20.0]), V=np.array([100.0, 25.0]), mu=0.0, tau=10.0)
>>> mean.round(3).tolist()
[10.0, 16.0]

With mu given a normal prior, mu integrates out in closed form and the
marginal posterior of tau is one-dimensional, so every posterior expectation
is an exact quadrature (:func:`normal_means_posterior`): the yardstick for
the sampled fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "TauPrior",
    "NormalMeansPosterior",
    "shrinkage_weight",
    "conditional_posterior",
    "complete_pooling_estimate",
    "normal_means_data",
    "normal_means_posterior",
    "simulate_normal_means",
    "shrinkage_summary",
    "predictive_same_group",
    "predictive_new_group",
    "simulate_crossed",
    "mcse_mean",
    "ess_per_gradient",
    "posterior_correlation",
]

ArrayLike = Sequence[float] | np.ndarray
Seed = int | np.random.Generator | None

#: Stan codes of the pooling switch in ``stan/primer/normal_means.stan``
POOLING_CODES = {"complete": 1, "none": 2, "partial": 3}
#: Stan codes of the population-scale prior switch
TAU_PRIOR_CODES = {"uniform": 1, "half-normal": 2, "half-cauchy": 3}


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# --------------------------------------------------------------------------- shrinkage


def shrinkage_weight(V: ArrayLike | float, tau: float | np.ndarray) -> np.ndarray:
    """Weight of a group's own estimate in its partial-pooling posterior mean.

    ``w = (1/V) / (1/V + 1/tau^2)``: the group's precision as a share of the
    total precision (its own plus the population's). ``w -> 1`` (no pooling)
    when the population is wide or the group precise, ``w -> 0`` (complete
    pooling) when the population is narrow or the group noisy. ``tau`` may be
    an array of draws: the result then has the draws' shape plus, when V is
    a vector, a last axis over groups.

    >>> shrinkage_weight([1.0, 4.0, 9.0], tau=2.0).round(3).tolist()
    [0.8, 0.5, 0.308]
    >>> float(shrinkage_weight(4.0, tau=0.0))
    0.0
    """
    V = np.asarray(V, dtype=float)
    tau = np.asarray(tau, dtype=float)
    if np.any(V <= 0):
        raise ValueError("shrinkage_weight: the sampling variances V must be positive")
    if np.any(tau < 0):
        raise ValueError("shrinkage_weight: the population scale tau must be non-negative")
    # draws of tau along leading axes, groups along a new last axis (only when V is per group)
    tau2 = tau[..., None] ** 2 if (tau.ndim and V.ndim) else tau**2
    # written as tau^2 / (tau^2 + V) so that tau = 0 gives exactly 0 (complete pooling)
    return tau2 / (tau2 + V)


def conditional_posterior(y: ArrayLike, V: ArrayLike, mu: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of theta_j given the population (mu, tau) and the data.

    The conjugate normal update: mean ``w_j y_j + (1 - w_j) mu`` with
    ``w_j = shrinkage_weight(V_j, tau)``, variance ``1 / (1/V_j + 1/tau^2)``.

    >>> mean, sd = conditional_posterior([28.0], [225.0], mu=5.0, tau=15.0)
    >>> round(float(mean[0]), 3), round(float(sd[0]), 3)
    (16.5, 10.607)
    """
    y = np.asarray(y, dtype=float)
    V = np.asarray(V, dtype=float)
    w = shrinkage_weight(V, tau)
    mean = w * y + (1.0 - w) * mu
    sd = np.sqrt(w * V)  # 1/(1/V + 1/tau^2) = V * tau^2/(tau^2 + V) = w V
    return mean, sd


def complete_pooling_estimate(y: ArrayLike, sigma: ArrayLike) -> tuple[float, float]:
    """Precision-weighted mean of the group estimates and its standard error.

    The complete-pooling estimate of the common effect (every theta_j equal),
    which is the flat-prior posterior mean and sd of that common effect.

    >>> mean, se = complete_pooling_estimate([1.0, 3.0], [1.0, 1.0])
    >>> mean, round(se, 4)
    (2.0, 0.7071)
    """
    y = np.asarray(y, dtype=float)
    precision = 1.0 / np.asarray(sigma, dtype=float) ** 2
    return float(np.sum(precision * y) / np.sum(precision)), float(1.0 / np.sqrt(np.sum(precision)))


# --------------------------------------------------------------------------- Stan data


@dataclass(frozen=True)
class TauPrior:
    """Prior on the population scale tau.

    ``kind`` is ``"uniform"`` (on (0, upper)), ``"half-normal"`` or
    ``"half-cauchy"`` (location 0, scale ``scale``).

    >>> TauPrior("half-normal", scale=5.0).density(np.array([0.0])).round(4).tolist()
    [0.1596]
    >>> TauPrior("uniform", upper=100.0).label
    'Uniform(0, 100)'
    """

    kind: Literal["uniform", "half-normal", "half-cauchy"] = "half-cauchy"
    scale: float = 5.0
    upper: float = 100.0

    def __post_init__(self) -> None:
        if self.kind not in TAU_PRIOR_CODES:
            raise ValueError(f"TauPrior: kind must be one of {sorted(TAU_PRIOR_CODES)}, got {self.kind!r}")
        if not (self.scale > 0 and self.upper > 0):
            raise ValueError("TauPrior: scale and upper must be positive")

    @property
    def label(self) -> str:
        if self.kind == "uniform":
            return f"Uniform(0, {self.upper:g})"
        name = "Half-normal" if self.kind == "half-normal" else "Half-Cauchy"
        return f"{name}(0, {self.scale:g})"

    def density(self, tau: np.ndarray) -> np.ndarray:
        """Prior density at tau (zero outside the support)."""
        tau = np.asarray(tau, dtype=float)
        if self.kind == "uniform":
            return np.where((tau >= 0) & (tau <= self.upper), 1.0 / self.upper, 0.0)
        if self.kind == "half-normal":
            return np.where(tau >= 0, 2.0 * stats.norm.pdf(tau, scale=self.scale), 0.0)
        return np.where(tau >= 0, 2.0 * stats.cauchy.pdf(tau, scale=self.scale), 0.0)

    def sample(self, size: int, seed: Seed = None) -> np.ndarray:
        """Draws from the prior."""
        rng = _rng(seed)
        if self.kind == "uniform":
            return rng.uniform(0.0, self.upper, size)
        if self.kind == "half-normal":
            return np.abs(rng.normal(0.0, self.scale, size))
        return np.abs(self.scale * rng.standard_cauchy(size))

    def to_stan(self) -> dict[str, Any]:
        return {"tau_prior": TAU_PRIOR_CODES[self.kind], "tau_scale": float(self.scale), "tau_upper": float(self.upper)}


def normal_means_data(
    y: ArrayLike,
    sigma: ArrayLike,
    *,
    pooling: Literal["complete", "none", "partial"] = "partial",
    centered: bool = False,
    tau_prior: TauPrior = TauPrior(),
    mu_loc: float = 0.0,
    mu_scale: float = 20.0,
    theta_scale: float = 50.0,
    fixed_population: tuple[float, float] | None = None,
    sigma_new: float | None = None,
) -> dict[str, Any]:
    """Stan data for ``stan/primer/normal_means.stan``.

    ``pooling`` picks the model on the pooling spectrum; ``centered`` the
    parameterisation of partial pooling; ``fixed_population=(mu, tau)`` makes
    the population known, so the fit samples the conditional posterior
    p(theta | mu, tau, y); ``theta_scale`` is the sd of the independent
    Normal(mu_loc, theta_scale) priors of no pooling; ``sigma_new`` is the
    standard error of the new group's predicted measurement (default: the
    root mean square of ``sigma``).

    >>> d = normal_means_data([1.0, 2.0], [1.0, 1.0], pooling="none")
    >>> d["J"], d["pooling"], d["fix_population"]
    (2, 2, 0)
    """
    y = np.asarray(y, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    if y.shape != sigma.shape or y.ndim != 1:
        raise ValueError(f"normal_means_data: y and sigma must be 1-d of equal length, got {y.shape} and {sigma.shape}")
    if np.any(sigma <= 0):
        raise ValueError("normal_means_data: standard errors must be positive")
    if pooling not in POOLING_CODES:
        raise ValueError(f"normal_means_data: pooling must be one of {sorted(POOLING_CODES)}, got {pooling!r}")
    if fixed_population is not None and pooling != "partial":
        raise ValueError("normal_means_data: a fixed population only makes sense with partial pooling")
    mu_fixed, tau_fixed = fixed_population if fixed_population is not None else (0.0, 1.0)
    return {
        "J": int(y.size),
        "y": y.tolist(),
        "sigma": sigma.tolist(),
        "pooling": POOLING_CODES[pooling],
        "centered": int(bool(centered)),
        "fix_population": int(fixed_population is not None),
        **tau_prior.to_stan(),
        "mu_loc": float(mu_loc),
        "mu_scale": float(mu_scale),
        "theta_scale": float(theta_scale),
        "mu_fixed": float(mu_fixed),
        "tau_fixed": float(tau_fixed),
        "sigma_new": float(sigma_new if sigma_new is not None else np.sqrt(np.mean(sigma**2))),
    }


def simulate_normal_means(
    J: int, *, mu: float, tau: float, sigma: ArrayLike | float, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw theta_j ~ Normal(mu, tau) and y_j ~ Normal(theta_j, sigma_j); returns (y, sigma, theta).

    >>> y, sigma, theta = simulate_normal_means(4, mu=0.0, tau=1.0, sigma=0.5, seed=1)
    >>> y.shape, sigma.tolist()
    ((4,), [0.5, 0.5, 0.5, 0.5])
    """
    rng = _rng(seed)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (J,)).copy()
    theta = mu + tau * rng.standard_normal(J)
    y = theta + sigma * rng.standard_normal(J)
    return y, sigma, theta


# --------------------------------------------------------------------------- exact posterior


@dataclass
class NormalMeansPosterior:
    """Exact posterior of the normal-means model on a grid of tau values.

    ``density`` is the normalised marginal posterior p(tau | y) on ``tau``;
    ``mu_mean`` / ``mu_var`` are E[mu | tau, y] and Var[mu | tau, y] on the grid.
    Expectations over tau use the trapezoid rule.
    """

    y: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray
    density: np.ndarray
    mu_mean: np.ndarray
    mu_var: np.ndarray
    prior: TauPrior = field(default_factory=TauPrior)

    def expect(self, values: np.ndarray) -> np.ndarray:
        """E[f(tau) | y] for f evaluated on the grid (leading axis = grid)."""
        values = np.asarray(values, dtype=float)
        dens = self.density.reshape((-1,) + (1,) * (values.ndim - 1))
        return np.trapezoid(values * dens, self.tau, axis=0)

    @property
    def tau_mean(self) -> float:
        return float(self.expect(self.tau))

    @property
    def tau_sd(self) -> float:
        return float(np.sqrt(self.expect(self.tau**2) - self.tau_mean**2))

    def tau_cdf(self, value: float) -> float:
        """P(tau <= value | y)."""
        return float(self.expect((self.tau <= value).astype(float)))

    @property
    def mu_posterior_mean(self) -> float:
        return float(self.expect(self.mu_mean))

    def _weights(self) -> np.ndarray:
        return shrinkage_weight(self.sigma**2, self.tau)  # (grid, J)

    @property
    def theta_mean(self) -> np.ndarray:
        """E[theta_j | y]: the shrinkage formula averaged over p(tau | y)."""
        w = self._weights()
        return self.expect(w * self.y + (1.0 - w) * self.mu_mean[:, None])

    @property
    def theta_sd(self) -> np.ndarray:
        """sd[theta_j | y] by the law of total variance."""
        w = self._weights()
        cond_mean = w * self.y + (1.0 - w) * self.mu_mean[:, None]
        cond_var = w * self.sigma**2 + (1.0 - w) ** 2 * self.mu_var[:, None]
        second = self.expect(cond_var + cond_mean**2)
        return np.sqrt(second - self.theta_mean**2)

    @property
    def pooling_factor(self) -> np.ndarray:
        """E[1 - w_j | y]: how far each group is pulled towards the population mean (0 none, 1 all the way)."""
        return self.expect(1.0 - self._weights())


def normal_means_posterior(
    y: ArrayLike,
    sigma: ArrayLike,
    prior: TauPrior = TauPrior(),
    *,
    mu_loc: float = 0.0,
    mu_scale: float = 20.0,
    n_grid: int = 20_000,
    tau_max: float | None = None,
) -> NormalMeansPosterior:
    """Exact marginal posterior of tau (and conditional moments of mu) by quadrature.

    With mu ~ Normal(mu_loc, mu_scale) the group effects and mu integrate out:
    y | tau ~ Normal(mu_loc 1, diag(sigma^2 + tau^2) + mu_scale^2 1 1^T), and
    mu | tau, y is normal with precision ``1/mu_scale^2 + sum 1/(sigma_j^2 + tau^2)``.
    The grid is geometric (dense near 0, where the funnel's neck is) up to
    ``tau_max`` (default: the uniform prior's upper bound, else 100 times the
    largest of the standard errors and the prior scale).

    >>> post = normal_means_posterior([0.0, 0.0], [1.0, 1.0], TauPrior("half-normal", scale=1.0))
    >>> 0 < post.tau_mean < 1
    True
    """
    y = np.asarray(y, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    if tau_max is None:
        tau_max = prior.upper if prior.kind == "uniform" else 100.0 * max(sigma.max(), prior.scale)
    tau = np.concatenate([[0.0], np.geomspace(tau_max * 1e-7, tau_max, n_grid - 1)])
    v = sigma[None, :] ** 2 + tau[:, None] ** 2  # marginal variance of y_j given tau
    precision = 1.0 / mu_scale**2 + np.sum(1.0 / v, axis=1)
    mu_mean = (mu_loc / mu_scale**2 + np.sum(y / v, axis=1)) / precision
    # log p(y | tau) = log p(y | mu, tau) + log p(mu) - log p(mu | y, tau) at mu = mu_mean
    log_lik = (
        np.sum(stats.norm.logpdf(y[None, :], loc=mu_mean[:, None], scale=np.sqrt(v)), axis=1)
        + stats.norm.logpdf(mu_mean, loc=mu_loc, scale=mu_scale)
        + 0.5 * np.log(2.0 * np.pi / precision)
    )
    with np.errstate(divide="ignore"):
        log_post = np.log(prior.density(tau)) + log_lik
    log_post -= np.max(log_post)
    density = np.exp(log_post)
    density /= np.trapezoid(density, tau)
    return NormalMeansPosterior(y=y, sigma=sigma, tau=tau, density=density, mu_mean=mu_mean, mu_var=1.0 / precision, prior=prior)


# --------------------------------------------------------------------------- summaries


def shrinkage_summary(
    labels: Sequence[str],
    no_pooling: ArrayLike,
    partial_pooling: ArrayLike,
    population_mean: float,
    size: ArrayLike | None = None,
) -> pd.DataFrame:
    """One row per group: its no-pooling and partial-pooling estimates and how far it moved.

    ``shift`` is partial - no pooling; ``pulled`` the share of the distance to
    the population mean that was covered (0: not moved, 1: moved all the way).

    >>> shrinkage_summary(["a"], [10.0], [6.0], 2.0)["pulled"].tolist()
    [0.5]
    """
    no_pooling = np.asarray(no_pooling, dtype=float)
    partial_pooling = np.asarray(partial_pooling, dtype=float)
    out = pd.DataFrame(
        {"no_pooling": no_pooling, "partial_pooling": partial_pooling}, index=pd.Index(list(labels), name="group")
    )
    if size is not None:
        out.insert(0, "size", np.asarray(size))
    out["shift"] = partial_pooling - no_pooling
    distance = population_mean - no_pooling
    with np.errstate(divide="ignore", invalid="ignore"):
        out["pulled"] = np.where(np.abs(distance) > 0, out["shift"] / distance, np.nan)
    return out


def mcse_mean(draws: np.ndarray) -> float:
    """Monte Carlo standard error of the mean of (chain, draw) draws (ArviZ's estimator).

    >>> rng = np.random.default_rng(1)
    >>> 0.0045 < mcse_mean(rng.standard_normal((4, 10_000))) < 0.0055  # 1/sqrt(40000) = 0.005
    True
    """
    import arviz as az

    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2:
        raise ValueError(f"mcse_mean: expected (chain, draw) draws, got shape {draws.shape}")
    return float(az.mcse(draws, method="mean"))


def ess_per_gradient(idata: Any, var_names: Sequence[str]) -> float:
    """Smallest bulk ESS over ``var_names`` per 1000 gradient evaluations (leapfrog steps, sampling only).

    The cost-adjusted efficiency that compares two parameterisations fairly:
    one that takes longer trajectories must buy proportionally more ESS.
    """
    import arviz as az

    ess = az.ess(idata, var_names=list(var_names), method="bulk")
    smallest = min(float(ess[name].min()) for name in var_names)
    return 1000.0 * smallest / float(idata.sample_stats["n_steps"].sum())


def posterior_correlation(idata: Any, a: str, b: str) -> float:
    """Posterior correlation of two scalar parameters, all chains pooled."""
    x = np.asarray(idata.posterior[a]).ravel()
    z = np.asarray(idata.posterior[b]).ravel()
    if np.std(x) == 0 or np.std(z) == 0:
        return float("nan")
    return float(np.corrcoef(x, z)[0, 1])


# --------------------------------------------------------------------------- prediction


def predictive_same_group(theta: np.ndarray, sigma: float, seed: Seed = None) -> np.ndarray:
    """Population as *parameter*: replicate a measurement of an existing group.

    One y_rep ~ Normal(theta, sigma) per posterior draw of that group's theta:
    the population enters only through the posterior of theta.
    """
    theta = np.asarray(theta, dtype=float).ravel()
    return theta + sigma * _rng(seed).standard_normal(theta.size)


def predictive_new_group(mu: np.ndarray, tau: np.ndarray, sigma: float, seed: Seed = None) -> np.ndarray:
    """Population as *missing data*: a measurement of a group not yet seen.

    Per posterior draw of (mu, tau): theta_new ~ Normal(mu, tau), then
    y_new ~ Normal(theta_new, sigma). Its variance is
    E[tau^2] + Var[mu] + sigma^2, wider than any one group's replicate.

    >>> y = predictive_new_group(np.zeros(100_000), np.full(100_000, 3.0), 4.0, seed=1)
    >>> round(float(np.std(y)), 1)
    5.0
    """
    rng = _rng(seed)
    mu = np.asarray(mu, dtype=float).ravel()
    tau = np.asarray(tau, dtype=float).ravel()
    if mu.shape != tau.shape:
        raise ValueError(f"predictive_new_group: mu and tau draws differ in number ({mu.size} vs {tau.size})")
    theta_new = mu + tau * rng.standard_normal(mu.size)
    return theta_new + sigma * rng.standard_normal(mu.size)


# --------------------------------------------------------------------------- crossed effects


def simulate_crossed(
    n_persons: int,
    n_items: int,
    *,
    mu_alpha: float = 1.0,
    mu_gamma: float = -0.5,
    sigma_alpha: float = 1.0,
    sigma_gamma: float = 0.7,
    sigma_y: float = 0.5,
    fix_mu_alpha: bool = False,
    mu_scale: float = 5.0,
    sd_scale: float = 2.0,
    seed: Seed = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Crossed person x item data (every person answers every item once).

    Returns ``(stan_data, truth)`` for ``stan/primer/crossed_effects.stan``:
    y = alpha_person + gamma_item + noise. ``truth`` holds the effects and the
    means; only ``mu_alpha + mu_gamma`` (their sum) is identified by data.

    >>> data, truth = simulate_crossed(3, 2, seed=1)
    >>> data["N"], data["person"][:3], data["item"][:3]
    (6, [1, 1, 2], [1, 2, 1])
    """
    rng = _rng(seed)
    alpha = mu_alpha + sigma_alpha * rng.standard_normal(n_persons)
    gamma = mu_gamma + sigma_gamma * rng.standard_normal(n_items)
    person, item = np.meshgrid(np.arange(n_persons), np.arange(n_items), indexing="ij")
    person, item = person.ravel(), item.ravel()
    y = alpha[person] + gamma[item] + sigma_y * rng.standard_normal(person.size)
    data = {
        "N": int(y.size),
        "P": int(n_persons),
        "I": int(n_items),
        "person": (person + 1).tolist(),
        "item": (item + 1).tolist(),
        "y": y.tolist(),
        "fix_mu_alpha": int(bool(fix_mu_alpha)),
        "mu_scale": float(mu_scale),
        "sd_scale": float(sd_scale),
    }
    truth = {"alpha": alpha, "gamma": gamma, "mu_alpha": mu_alpha, "mu_gamma": mu_gamma, "sum": mu_alpha + mu_gamma}
    return data, truth
