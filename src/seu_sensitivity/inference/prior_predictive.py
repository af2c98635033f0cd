"""Prior predictive simulation of h_m01 on a design, and summaries of a fit against known truth.

Prior predictive
    :func:`prior_predictive` draws the regression parameters (gamma0, gamma,
    sigma_cell, z) from their priors, turns them into alpha for every cell of a
    design, draws beliefs (beta), utilities (delta) and features, and asks what
    choices such decision makers would make on random menus: how often they
    pick the SEU maximiser, and how far their choice probabilities are from
    uniform (normalised entropy). Everything is vectorised over prior draws and
    cells with :mod:`seu_sensitivity.model.choice`.

    :func:`log_alpha_prior_moments` gives the exact prior mean and standard
    deviation of log(alpha_j) for each cell, against which the simulation (and
    a chapter's figures) can be checked.

Fit summaries
    :func:`recovery_table` lines up posterior means and central intervals of
    gamma0, gamma, sigma_cell and alpha_j with the values a simulation used;
    :func:`coverage_lower_bound` says how few covered intervals would be
    surprising; :func:`per_cell_statistic` evaluates a posterior predictive
    test statistic cell by cell.

>>> from seu_sensitivity.model.design import factorial_design
>>> design = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q"]})
>>> prior = prior_predictive(design, n_draws=200, n_obs=20, R=8, D=2, seed=1)
>>> prior.alpha.shape, prior.p_maximiser.shape
((200, 4), (200, 4))
>>> bool(((prior.p_maximiser >= prior.uniform_rate - 1e-12) & (prior.p_maximiser <= 1)).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.stats import binom

from seu_sensitivity.inference.effects import tails
from seu_sensitivity.inference.ppc import per_cell
from seu_sensitivity.model.choice import choice_log_probabilities, expected_utilities, subjective_probabilities, utilities
from seu_sensitivity.model.design import Design
from seu_sensitivity.model.priors import HM01Priors
from seu_sensitivity.model.simulate import random_menus

__all__ = [
    "PriorPredictive",
    "draw_regression_prior",
    "log_alpha_prior_moments",
    "alpha_prior_quantiles",
    "eta_spread_prior",
    "menu_behaviour",
    "prior_predictive",
    "recovery_table",
    "coverage_lower_bound",
    "per_cell_statistic",
    "choice_concentration",
]

Seed = int | np.random.Generator | None

#: prior draws processed together in prior_predictive (draws x cells x menus x alternatives floats)
_CHUNK_ELEMENTS = 2_000_000


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _design_matrix(design: Design | pd.DataFrame) -> pd.DataFrame:
    return design.X if isinstance(design, Design) else design


def log_alpha_prior_moments(
    design: Design | pd.DataFrame, priors: HM01Priors = HM01Priors(), *, sigma_cell: float | None = None
) -> pd.DataFrame:
    """Exact prior mean and standard deviation of log(alpha_j) for each cell.

    log alpha_j = gamma0 + x_j . gamma + sigma_cell z_j with independent
    gamma0 ~ N(mu0, s0), gamma_p ~ N(0, s_gamma), sigma_cell ~ HalfNormal(s_sigma),
    z_j ~ N(0, 1), so E[log alpha_j] = mu0 and
    Var[log alpha_j] = s0^2 + |x_j|^2 s_gamma^2 + s_sigma^2 (E[sigma_cell^2] = s_sigma^2).
    The distribution is not exactly normal (sigma_cell z_j is a scale mixture);
    :func:`alpha_prior_quantiles` gives its exact quantiles. With ``sigma_cell`` given, it is held at
    that value (as ``fit(..., fixed={"sigma_cell": s})`` does) instead of drawn:
    the last term is s^2 and the prior of log alpha_j is exactly normal.

    >>> from seu_sensitivity.model.design import factorial_design
    >>> m = log_alpha_prior_moments(factorial_design({"llm": ["a", "b"]}))
    >>> m.round(3).to_dict("list")
    {'mean': [3.0, 3.0], 'sd': [1.118, 1.5]}
    >>> log_alpha_prior_moments(factorial_design({"llm": ["a", "b"]}), sigma_cell=2.0)["sd"].round(3).tolist()
    [2.236, 2.449]
    """
    X = _design_matrix(design).to_numpy(dtype=float)
    if sigma_cell is not None and not (np.isfinite(sigma_cell) and sigma_cell >= 0):
        raise ValueError(f"sigma_cell must be a finite number >= 0, got {sigma_cell!r}")
    cell_variance = priors.sigma_cell_sd**2 if sigma_cell is None else float(sigma_cell) ** 2
    variance = priors.gamma0_sd**2 + (X**2).sum(axis=1) * priors.gamma_sd**2 + cell_variance
    return pd.DataFrame(
        {"mean": np.full(X.shape[0], priors.gamma0_mu), "sd": np.sqrt(variance)},
        index=_design_matrix(design).index,
    )


def alpha_prior_quantiles(
    design: Design | pd.DataFrame, priors: HM01Priors = HM01Priors(),
    probs: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95), *, nodes: int = 120,
) -> pd.DataFrame:
    """Exact prior quantiles of alpha_j for each cell (rows: cells, columns: ``probs``).

    Given sigma_cell, log alpha_j is normal with mean mu0 and variance
    s0^2 + |x_j|^2 s_gamma^2 + sigma_cell^2, so its CDF is an expectation over
    the half-normal sigma_cell = s_sigma |u|, u ~ N(0, 1). Gauss-Hermite
    quadrature in u (``nodes`` points) is exact to rounding for this smooth
    integrand, and root finding inverts the CDF. Quantiles of a few hundred
    prior draws are off by a lot in the upper tail of this heavy-tailed prior.

    >>> from seu_sensitivity.model.design import factorial_design
    >>> q = alpha_prior_quantiles(factorial_design({"llm": ["a", "b"]}), probs=(0.5,))
    >>> bool(np.allclose(q[0.5], np.exp(3.0)))
    True
    """
    X = _design_matrix(design)
    probs = [float(p) for p in probs]
    if not all(0 < p < 1 for p in probs):
        raise ValueError(f"probs must lie strictly between 0 and 1, got {probs}")
    fixed_variance = priors.gamma0_sd**2 + (X.to_numpy(dtype=float) ** 2).sum(axis=1) * priors.gamma_sd**2
    u, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / weights.sum()
    mu = priors.gamma0_mu

    def quantile(p: float, variance: float) -> float:
        sd = np.sqrt(variance + (priors.sigma_cell_sd * u) ** 2)
        cdf_gap = lambda t: float(weights @ stats.norm.cdf((t - mu) / sd)) - p  # noqa: E731
        return float(np.exp(optimize.brentq(cdf_gap, mu - 20 * sd.max(), mu + 20 * sd.max(), xtol=1e-12)))

    return pd.DataFrame([[quantile(p, v) for p in probs] for v in fixed_variance], index=X.index, columns=probs)


def eta_spread_prior(w: np.ndarray, K: int, beta_sd: float, n_draws: int = 4000, seed: Seed = None) -> np.ndarray:
    """Prior draws of the spread of the expected utilities: the sd of eta over the alternatives.

    beta ~ Normal(0, ``beta_sd``) (K x D) and delta ~ Dirichlet(1) on the
    features ``w`` (R x D) of one cell. The choices see alpha times this
    spread, so the belief prior sets the scale on which alpha is read: a
    wider ``beta_sd`` spreads eta more and lets a smaller alpha explain the
    same choices.

    >>> import numpy as np
    >>> w = np.random.default_rng(0).normal(size=(30, 3))
    >>> narrow, wide = (np.median(eta_spread_prior(w, 3, sd, seed=1)) for sd in (1.0, 2.0))
    >>> bool(0 < narrow < wide < 0.5)
    True
    """
    w = np.asarray(w, dtype=float)
    if w.ndim != 2:
        raise ValueError(f"eta_spread_prior: w must be alternatives x features, got shape {w.shape}")
    if int(K) < 2:
        raise ValueError(f"eta_spread_prior: K must be at least 2, got {K}")
    if not beta_sd > 0:
        raise ValueError(f"eta_spread_prior: beta_sd must be positive, got {beta_sd}")
    rng = _rng(seed)
    beta = rng.normal(0.0, beta_sd, size=(n_draws, int(K), w.shape[1]))
    delta = rng.dirichlet(np.ones(int(K) - 1), size=n_draws)
    return expected_utilities(subjective_probabilities(beta, w), utilities(delta)).std(axis=-1)


def draw_regression_prior(
    design: Design | pd.DataFrame, priors: HM01Priors = HM01Priors(), n_draws: int = 4000, seed: Seed = None
) -> dict[str, np.ndarray]:
    """Prior draws of gamma0 (S), gamma (S, P), sigma_cell (S), z (S, J) and log_alpha (S, J).

    >>> from seu_sensitivity.model.design import factorial_design
    >>> draws = draw_regression_prior(factorial_design({"llm": ["a", "b", "c"]}), n_draws=5, seed=1)
    >>> draws["gamma"].shape, draws["log_alpha"].shape
    ((5, 2), (5, 3))
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    rng = _rng(seed)
    X = _design_matrix(design).to_numpy(dtype=float)
    gamma0 = rng.normal(priors.gamma0_mu, priors.gamma0_sd, size=n_draws)
    gamma = rng.normal(0.0, priors.gamma_sd, size=(n_draws, X.shape[1]))
    sigma_cell = np.abs(rng.normal(0.0, priors.sigma_cell_sd, size=n_draws))
    z = rng.standard_normal((n_draws, X.shape[0]))
    log_alpha = gamma0[:, None] + gamma @ X.T + sigma_cell[:, None] * z
    return {"gamma0": gamma0, "gamma": gamma, "sigma_cell": sigma_cell, "z": z, "log_alpha": log_alpha}


def menu_behaviour(
    alpha: np.ndarray, eta: np.ndarray, I: np.ndarray, rng: np.random.Generator | None = None
) -> dict[str, np.ndarray]:
    """How decision makers with sensitivity alpha and expected utilities eta choose from menus I.

    alpha : (...); eta : (..., R); I : (M, R). Returns, each of shape (...):

    ``p_maximiser``
        probability of choosing the SEU maximiser of the menu, averaged over the M menus;
    ``entropy``
        entropy of the choice probabilities divided by log(menu size), averaged
        over menus: 1 is uniform choice, 0 is deterministic;
    ``rate_maximiser`` (only when ``rng`` is given)
        the share of M simulated choices that picked the maximiser.

    >>> out = menu_behaviour(np.array([0.0, 1e4]), np.array([[0.2, 0.9, 0.5]] * 2), np.array([[1, 1, 1]]))
    >>> out["p_maximiser"].round(3).tolist(), out["entropy"].round(3).tolist()
    ([0.333, 1.0], [1.0, 0.0])
    """
    I = np.asarray(I)
    eta = np.asarray(eta, dtype=float)
    log_p = choice_log_probabilities(alpha, eta, I)  # (..., M, R)
    p = np.exp(log_p)
    on_menu = np.where(I == 1, eta[..., None, :], -np.inf)  # (..., M, R)
    best = on_menu.argmax(axis=-1)  # (..., M)
    p_best = np.take_along_axis(p, best[..., None], axis=-1)[..., 0]
    sizes = I.sum(axis=1)
    plogp = np.where(I == 1, p * np.where(p > 0, log_p, 0.0), 0.0)  # 0 log 0 = 0, off-menu terms 0
    entropy = -plogp.sum(axis=-1) / np.log(sizes)
    out = {"p_maximiser": p_best.mean(axis=-1), "entropy": entropy.mean(axis=-1)}
    if rng is not None:
        cumulative = np.cumsum(p, axis=-1)
        u = rng.random(p.shape[:-1]) * cumulative[..., -1]
        chosen = (cumulative < u[..., None]).sum(axis=-1)
        out["rate_maximiser"] = (chosen == best).mean(axis=-1)
    return out


@dataclass(frozen=True)
class PriorPredictive:
    """Prior predictive draws of h_m01 on a design (S draws, J cells).

    Attributes
    ----------
    cell_ids : list of J cell ids (the rows of the design)
    gamma0, sigma_cell : (S,); gamma : (S, P); log_alpha, alpha : (S, J)
    p_maximiser : (S, J) probability of choosing the SEU maximiser, averaged over menus
    rate_maximiser : (S, J) share of simulated choices that picked the maximiser
    entropy : (S, J) normalised choice entropy (1 uniform, 0 deterministic)
    uniform_rate : float, the maximiser rate of uniform choice, mean of 1 / menu size
    menus : (M, R) the menus every draw chose from
    """

    cell_ids: list[str]
    gamma0: np.ndarray
    gamma: np.ndarray
    sigma_cell: np.ndarray
    log_alpha: np.ndarray
    alpha: np.ndarray
    p_maximiser: np.ndarray
    rate_maximiser: np.ndarray
    entropy: np.ndarray
    uniform_rate: float
    menus: np.ndarray

    def alpha_quantiles(self, probs: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Quantiles of alpha per cell (rows: cells, columns: probabilities)."""
        return pd.DataFrame(np.quantile(self.alpha, probs, axis=0).T, index=self.cell_ids, columns=list(probs))


def prior_predictive(
    design: Design | pd.DataFrame,
    priors: HM01Priors = HM01Priors(),
    *,
    n_draws: int = 1000,
    n_obs: int = 100,
    R: int = 30,
    D: int = 5,
    K: int = 3,
    seed: Seed = None,
) -> PriorPredictive:
    """Simulate h_m01's prior predictive behaviour on every cell of a design.

    For each of ``n_draws`` prior draws: the regression parameters give
    log(alpha_j) for every cell; each cell draws its beliefs
    beta_j ~ N(0, beta_sd) (K x D); the cells share utility increments
    delta ~ Dirichlet(1) and a feature matrix w (R x D, standard normal,
    redrawn per prior draw, as :func:`~seu_sensitivity.model.simulate.simulate_hierarchical`
    does). All draws and cells choose from the same ``n_obs`` random menus of
    2 to 4 alternatives, so differences between cells come from the model,
    not from the menus.

    >>> from seu_sensitivity.model.design import factorial_design
    >>> p = prior_predictive(factorial_design({"llm": ["a", "b"]}), n_draws=50, n_obs=10, R=6, D=2, seed=3)
    >>> p.alpha_quantiles().shape
    (2, 3)
    """
    rng = _rng(seed)
    X = _design_matrix(design)
    J = X.shape[0]
    regression = draw_regression_prior(X, priors, n_draws, rng)
    menus = random_menus(n_obs, R, rng)
    alpha = np.exp(regression["log_alpha"])
    # beliefs, utilities and features of every draw (drawn up front, so the
    # result does not depend on the chunking below)
    beta = rng.normal(0.0, priors.beta_sd, size=(n_draws, J, K, D))
    delta = rng.dirichlet(np.ones(K - 1), size=n_draws)  # (S, K-1)
    w = rng.standard_normal((n_draws, 1, R, D))
    eta = expected_utilities(subjective_probabilities(beta, w), utilities(delta)[:, None, :])  # (S, J, R)

    chunk = max(1, _CHUNK_ELEMENTS // (J * n_obs * R))
    pieces: dict[str, list[np.ndarray]] = {"p_maximiser": [], "entropy": [], "rate_maximiser": []}
    for start in range(0, n_draws, chunk):
        part = menu_behaviour(alpha[start : start + chunk], eta[start : start + chunk], menus, rng)
        for name in pieces:
            pieces[name].append(part[name])
    return PriorPredictive(
        cell_ids=[str(i) for i in X.index],
        gamma0=regression["gamma0"],
        gamma=regression["gamma"],
        sigma_cell=regression["sigma_cell"],
        log_alpha=regression["log_alpha"],
        alpha=alpha,
        p_maximiser=np.concatenate(pieces["p_maximiser"]),
        rate_maximiser=np.concatenate(pieces["rate_maximiser"]),
        entropy=np.concatenate(pieces["entropy"]),
        uniform_rate=float(np.mean(1.0 / menus.sum(axis=1))),
        menus=menus,
    )


# ---------------------------------------------------------------------------
# Summaries of a fit to simulated data
# ---------------------------------------------------------------------------


def recovery_table(idata, truth: Mapping[str, object], prob: float = 0.9) -> pd.DataFrame:
    """Posterior against the truth of a simulation, for gamma0, gamma, sigma_cell and alpha_j.

    ``idata`` is an h_m01 fit (posterior gamma0, gamma (predictor), sigma_cell,
    alpha (cell)); ``truth`` is the truth dict of
    :func:`~seu_sensitivity.model.simulate.simulate_hierarchical`. Returns one row per
    scalar with columns ``group`` (gamma0, gamma, sigma_cell, alpha), ``truth``,
    ``mean``, ``lower``, ``upper`` (central ``prob`` interval), ``covered`` and
    ``z`` ((mean - truth) / posterior sd), indexed by a readable label.
    """
    levels = list(tails(prob))
    posterior = idata.posterior
    rows = []

    def add(group: str, label: str, draws: np.ndarray, true_value: float) -> None:
        draws = np.asarray(draws, dtype=float).ravel()
        lower, upper = np.quantile(draws, levels)
        mean, sd = draws.mean(), draws.std(ddof=1)
        rows.append({"label": label, "group": group, "truth": float(true_value), "mean": mean,
                     "lower": lower, "upper": upper, "covered": bool(lower <= true_value <= upper),
                     "z": (mean - true_value) / sd if sd > 0 else np.nan})

    add("gamma0", "gamma0", posterior["gamma0"].values, truth["gamma0"])
    gamma_truth = truth["gamma"]
    for name in posterior["gamma"].coords["predictor"].values:
        add("gamma", f"gamma[{name}]", posterior["gamma"].sel(predictor=name).values, gamma_truth[str(name)])
    add("sigma_cell", "sigma_cell", posterior["sigma_cell"].values, truth["sigma_cell"])
    alpha_truth = truth["alpha"]
    for cell in posterior["alpha"].coords["cell"].values:
        add("alpha", f"alpha[{cell}]", posterior["alpha"].sel(cell=cell).values, alpha_truth[str(cell)])
    return pd.DataFrame(rows).set_index("label")


def coverage_lower_bound(n: int, prob: float, level: float = 0.005) -> int:
    """Fewest covered intervals out of ``n`` that is not surprising at ``level``.

    If each of ``n`` central ``prob`` intervals covers its truth independently
    with probability ``prob`` (calibrated intervals), the number covered is
    Binomial(n, prob); the bound is the largest c with P(count < c) <= level.
    Intervals of one fit are correlated, so read this as a rough guard.

    >>> coverage_lower_bound(18, 0.9)
    12
    """
    if n < 1 or not 0 < prob < 1 or not 0 < level < 1:
        raise ValueError("need n >= 1 and prob, level in (0, 1)")
    c = 0
    while c + 1 <= n and binom.cdf(c, n, prob) <= level:
        c += 1
    return c


def choice_concentration(I: np.ndarray, y: np.ndarray) -> np.ndarray | float:
    """How unequally choices spread over alternatives: the SD of the choice shares.

    The share of each alternative is the fraction of the problems offering it
    in which it was chosen (:func:`~seu_sensitivity.inference.ppc.choice_shares`);
    uniform choice gives shares near 1 / menu size for every alternative and a
    small SD, a strict SEU maximiser gives shares near 0 or 1 and a large SD.
    A statistic of the data alone, sensitive to alpha. y : (..., M) -> (...).

    >>> I = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    >>> float(choice_concentration(I, np.array([1, 1, 2])))   # shares 1/2, 1/2, 1/2
    0.0
    """
    from seu_sensitivity.inference.ppc import choice_shares

    result = np.nanstd(choice_shares(I, y), axis=-1)
    return float(result) if np.ndim(result) == 0 else result


def per_cell_statistic(
    data, y: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], np.ndarray | float] = choice_concentration
) -> np.ndarray:
    """A test statistic evaluated separately on each cell of stacked data.

    ``data`` is a :class:`~seu_sensitivity.model.stacking.StackedData`; ``y`` is
    (..., M) in its stacking order (observed choices, or posterior predictive
    replications); ``statistic(I, y)`` is vectorised over leading axes of y.
    Returns (..., J).
    """
    values = per_cell(data, y, statistic).values()
    return np.stack([np.asarray(value) for value in values], axis=-1)
