"""Simulated decision problems and choices with known truth.

Same seed, same data: every function takes ``seed`` (an int, a
``numpy.random.Generator`` or None) and draws everything from it in a fixed
order. Parameters not given are drawn from the model's prior.

>>> cell, truth = simulate_cell(M=50, R=10, D=3, K=3, alpha=20.0, seed=1)
>>> cell.M, truth["alpha"]
(50, 20.0)
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from seu_sensitivity.model.choice import expected_utilities, sample_choices, subjective_probabilities, utilities
from seu_sensitivity.model.design import Design
from seu_sensitivity.model.priors import HM01Priors, M01Priors
from seu_sensitivity.model.stacking import CellData, StackedData, resolve_groups, stack_cells

__all__ = ["random_menus", "random_features", "simulate_cell", "simulate_hierarchical"]

Seed = int | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def random_menus(M: int, R: int, seed: Seed = None, min_size: int = 2, max_size: int | None = None) -> np.ndarray:
    """(M, R) 0/1 availability: each problem offers between min_size and max_size
    (default min(4, R)) distinct alternatives, sizes uniform."""
    if max_size is None:
        max_size = min(4, R)
    if not 2 <= min_size <= max_size <= R:
        raise ValueError(f"need 2 <= min_size <= max_size <= R, got {min_size}, {max_size}, R = {R}")
    rng = _rng(seed)
    I = np.zeros((M, R), dtype=np.int64)
    sizes = rng.integers(min_size, max_size + 1, size=M)
    for m, size in enumerate(sizes):
        I[m, rng.choice(R, size=size, replace=False)] = 1
    return I


def random_features(R: int, D: int, seed: Seed = None) -> np.ndarray:
    """(R, D) standard normal feature vectors."""
    return _rng(seed).standard_normal((R, D))


def _choices(rng: np.random.Generator, alpha: float, beta: np.ndarray, delta: np.ndarray, w: np.ndarray, I: np.ndarray):
    psi = subjective_probabilities(beta, w)
    eta = expected_utilities(psi, utilities(delta))
    return sample_choices(rng, alpha, eta, I), psi, eta


def simulate_cell(
    M: int = 100,
    R: int = 30,
    D: int = 5,
    K: int = 3,
    *,
    alpha: float | None = None,
    beta: np.ndarray | None = None,
    delta: np.ndarray | None = None,
    w: np.ndarray | None = None,
    I: np.ndarray | None = None,
    priors: M01Priors = M01Priors(),
    seed: Seed = None,
    cell_id: str | None = None,
) -> tuple[CellData, dict[str, Any]]:
    """Simulate one cell of m_01; returns (data, truth).

    truth holds alpha, beta (K x D), delta (K-1), upsilon, psi (R x K) and eta (R).
    Features and menus are drawn when not given.
    """
    rng = _rng(seed)
    if w is None:
        w = random_features(R, D, rng)
    w = np.asarray(w, dtype=float)
    R, D = w.shape
    if I is None:
        I = random_menus(M, R, rng)
    if alpha is None:
        alpha = float(np.exp(rng.normal(priors.alpha_mu, priors.alpha_sd)))
    beta = rng.normal(0.0, priors.beta_sd, size=(K, D)) if beta is None else np.asarray(beta, dtype=float)
    delta = rng.dirichlet(np.ones(K - 1)) if delta is None else np.asarray(delta, dtype=float)
    y, psi, eta = _choices(rng, alpha, beta, delta, w, I)
    cell = CellData(w=w, I=I, y=y, K=K, cell_id=cell_id)
    truth = {"alpha": alpha, "beta": beta, "delta": delta, "upsilon": utilities(delta), "psi": psi, "eta": eta}
    return cell, truth


def _per_cell(value: int | Sequence[int] | Mapping[str, int], ids: list[str], name: str) -> list[int]:
    if isinstance(value, Mapping):
        missing = [i for i in ids if i not in value]
        if missing:
            raise ValueError(f"{name}: no value for cell(s) {', '.join(missing)}")
        return [int(value[i]) for i in ids]
    if np.ndim(value) == 0:
        return [int(value)] * len(ids)
    value = list(value)
    if len(value) != len(ids):
        raise ValueError(f"{name}: {len(value)} values for {len(ids)} cells")
    return [int(v) for v in value]


def simulate_hierarchical(
    design: Design | int,
    n_obs: int | Sequence[int] | Mapping[str, int] = 100,
    R: int = 30,
    D: int = 5,
    K: int | Mapping[str, int] = 3,
    *,
    utility_group: str | Mapping[str, Any] | None = None,
    shared_features: bool = True,
    gamma0: float | None = None,
    gamma: Sequence[float] | Mapping[str, float] | None = None,
    sigma_cell: float | None = None,
    priors: HM01Priors = HM01Priors(),
    seed: Seed = None,
) -> tuple[StackedData, dict[str, Any]]:
    """Simulate h_m01 data on a design; returns (stacked data, truth).

    Parameters
    ----------
    design
        A Design, or a number of cells J for an exchangeable hierarchy (P = 0).
    n_obs
        Observations per cell: one number, one per cell, or cell id -> number.
    K
        Consequences: one number, or utility group -> number.
    utility_group
        As in :func:`~seu_sensitivity.model.stacking.stack_cells`; default one group.
    shared_features
        One feature matrix for all cells (the seed's design) or one per cell
        (as in the pilot data, where features are each model's own embeddings).
    gamma0, gamma, sigma_cell
        Regression parameters; those not given are drawn from ``priors``.

    truth holds gamma0, gamma (Series by predictor), sigma_cell, z, log_alpha
    and alpha (Series by cell), beta (cell id -> K x D) and delta (group -> K-1).
    """
    rng = _rng(seed)
    if isinstance(design, Design):
        X = design.X
        design_obj: Design | None = design
    else:
        J = int(design)
        if J < 1:
            raise ValueError(f"design: need at least one cell, got {J}")
        X = pd.DataFrame(index=pd.Index([f"cell{j + 1}" for j in range(J)], name="cell_id"))
        design_obj = None
    ids = [str(i) for i in X.index]
    sizes = _per_cell(n_obs, ids, "n_obs")

    if gamma0 is None:
        gamma0 = float(rng.normal(priors.gamma0_mu, priors.gamma0_sd))
    if gamma is None:
        gamma_values = rng.normal(0.0, priors.gamma_sd, size=X.shape[1])
    elif isinstance(gamma, Mapping):
        unknown = set(gamma) - set(X.columns)
        missing = [c for c in X.columns if c not in gamma]
        if unknown or missing:
            raise ValueError(
                f"gamma: unknown predictor(s) {sorted(unknown)}; missing {missing}; predictors: {list(X.columns)}"
            )
        gamma_values = np.array([gamma[c] for c in X.columns], dtype=float)
    else:
        gamma_values = np.asarray(gamma, dtype=float)
        if gamma_values.shape != (X.shape[1],):
            raise ValueError(f"gamma: expected {X.shape[1]} coefficients ({list(X.columns)}), got {gamma_values.shape}")
    if sigma_cell is None:
        sigma_cell = float(abs(rng.normal(0.0, priors.sigma_cell_sd)))
    if sigma_cell < 0:
        raise ValueError(f"sigma_cell must be non-negative, got {sigma_cell}")
    z = rng.standard_normal(len(ids))
    log_alpha = gamma0 + X.to_numpy(dtype=float) @ gamma_values + sigma_cell * z

    labels, group_names = resolve_groups(utility_group, ids, design_obj)
    K_of_group = {g: (int(K[g]) if isinstance(K, Mapping) else int(K)) for g in group_names}
    delta = {g: rng.dirichlet(np.ones(K_of_group[g] - 1)) for g in group_names}

    shared_w = random_features(R, D, rng) if shared_features else None
    cells: list[CellData] = []
    betas: dict[str, np.ndarray] = {}
    for j, cell_id in enumerate(ids):
        w = shared_w if shared_w is not None else random_features(R, D, rng)
        K_j = K_of_group[labels[j]]
        betas[cell_id] = rng.normal(0.0, priors.beta_sd, size=(K_j, D))
        I = random_menus(sizes[j], R, rng)
        y, _, _ = _choices(rng, float(np.exp(log_alpha[j])), betas[cell_id], delta[labels[j]], w, I)
        cells.append(CellData(w=w, I=I, y=y, K=K_j, cell_id=cell_id))

    data = stack_cells(cells, design=design_obj if design_obj is not None else X, utility_group=labels)
    truth = {
        "gamma0": float(gamma0),
        "gamma": pd.Series(gamma_values, index=list(X.columns), dtype=float),
        "sigma_cell": float(sigma_cell),
        "z": pd.Series(z, index=ids),
        "log_alpha": pd.Series(log_alpha, index=ids),
        "alpha": pd.Series(np.exp(log_alpha), index=ids),
        "beta": betas,
        "delta": delta,
    }
    return data, truth

