"""The SEU softmax choice model in NumPy, vectorised over posterior draws.

Every function accepts leading "draws" axes (any number, including none) in
front of the model's own axes and broadcasts over them, so the same code
evaluates one parameter point or a whole posterior::

    psi      = subjective_probabilities(beta, w)   # (..., R, K)  softmax(beta w_r)
    upsilon  = utilities(delta)                    # (..., K)     0, cumsum(delta)
    eta      = expected_utilities(psi, upsilon)    # (..., R)     psi_r . upsilon
    logit    = utility_logits(alpha, eta)          # (..., R)     alpha (eta_r - mean eta): what the choices identify
    p        = choice_probabilities(alpha, eta, I) # (..., M, R)  softmax(alpha eta) on each menu
    loglik   = log_likelihood(alpha, eta, I, y)    # (..., M)

All softmaxes are computed on the log scale (log-sum-exp), so alpha in the
thousands neither overflows nor returns NaN. This is the twin of the Stan
programs: the tests check that Stan's ``log_lik`` equals :func:`log_likelihood`
on the same draws.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import log_softmax, logsumexp

from seu_sensitivity.model.stacking import CellData, StackedData

__all__ = [
    "subjective_probabilities",
    "utilities",
    "expected_utilities",
    "utility_logits",
    "utility_rotation",
    "choice_log_probabilities",
    "choice_probabilities",
    "log_likelihood",
    "cell_log_likelihood",
    "stacked_log_likelihood",
    "sample_choices",
]

#: draws x observations x menu entries processed at once by log_likelihood
_CHUNK_ELEMENTS = 4_000_000


def subjective_probabilities(beta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """psi_r = softmax(beta w_r): each alternative's probabilities over K consequences.

    beta : (..., K, D); w : (R, D) or (..., R, D). Returns (..., R, K).
    """
    beta = np.asarray(beta, dtype=float)
    w = np.asarray(w, dtype=float)
    logits = w @ np.swapaxes(beta, -1, -2)  # (..., R, K)
    return np.exp(log_softmax(logits, axis=-1))


def utilities(delta: np.ndarray, atol: float = 1e-6) -> np.ndarray:
    """upsilon from increments: upsilon_1 = 0, upsilon_k = delta_1 + ... + delta_{k-1}, upsilon_K = 1.

    delta : (..., K-1) on the simplex (non-negative, summing to one). Returns (..., K).
    """
    delta = np.asarray(delta, dtype=float)
    if delta.ndim == 0 or delta.shape[-1] < 1:
        raise ValueError("delta must have K - 1 >= 1 increments on its last axis")
    if np.any(delta < -atol) or not np.allclose(delta.sum(axis=-1), 1.0, atol=atol):
        raise ValueError("delta must lie on the simplex: non-negative increments summing to 1")
    upsilon = np.concatenate([np.zeros(delta.shape[:-1] + (1,)), np.cumsum(delta, axis=-1)], axis=-1)
    upsilon[..., -1] = 1.0  # exact, not 1 - rounding
    return upsilon


def expected_utilities(psi: np.ndarray, upsilon: np.ndarray) -> np.ndarray:
    """eta_r = sum_k psi_rk upsilon_k. psi : (..., R, K); upsilon : (..., K). Returns (..., R)."""
    psi = np.asarray(psi, dtype=float)
    upsilon = np.asarray(upsilon, dtype=float)
    return np.einsum("...rk,...k->...r", psi, upsilon)


def utility_rotation(delta: np.ndarray) -> np.ndarray:
    """Q(delta): the orthogonal K x K matrix with which the Stan programs sample beta.

    m_01 and h_m01 set ``beta = Q(delta) @ beta_rot``. The first column of Q is
    the unit vector along c = upsilon - mean(upsilon), the only direction in
    which beta moves eta to first order, so the data inform the first row of
    ``beta_rot`` whatever delta is. The last column is the constant vector
    1/sqrt(K): logits shifted by a constant leave psi unchanged, so the last
    row of ``beta_rot`` is known from the prior alone. Q is a rotation for
    every delta: the Normal prior of beta and the posterior are unchanged.
    (The programs may then sample the other rows multiplied by 1 + alpha |c|;
    see :func:`beta_rot_from_free`.)

    Construction (as in Stan's ``utility_rotation``): ``ref`` is the unit vector
    along the decreasing ramp (K-1, ..., 1, 0) centred; ``basis`` the Q factor
    of [1, ref, e_1, ..., e_{K-2}] (as Stan's ``qr_thin_Q``) with its first
    column moved to the end and signs set so that its first column is ref and
    its last is +1/sqrt(K); H the Householder reflection taking ref to c_hat,
    which keeps the constant vector. Q = H basis.

    delta : (..., K-1) on the simplex. Returns (..., K, K).

    >>> Q = utility_rotation(np.array([0.2, 0.5, 0.3]))
    >>> bool(np.allclose(Q @ Q.T, np.eye(4)))
    True
    >>> c = utilities(np.array([0.2, 0.5, 0.3])); c = c - c.mean()
    >>> bool(np.allclose(Q[:, 0], c / np.linalg.norm(c)))
    True
    >>> bool(np.allclose(Q[:, -1], 0.5))
    True
    """
    upsilon = utilities(delta)
    K = upsilon.shape[-1]
    ramp = np.linspace(0.0, 1.0, K)
    ref = (ramp.mean() - ramp) / np.linalg.norm(ramp - ramp.mean())
    q, r = np.linalg.qr(np.column_stack([np.ones(K), ref, np.eye(K)[:, : K - 2]]))
    q = q * np.sign(np.diag(r))  # Stan's qr_thin_Q: R with a positive diagonal
    basis = np.column_stack([q[:, 1:], q[:, 0]])
    basis[:, 0] *= np.sign(basis[:, 0] @ ref)  # the signs Stan's program sets
    basis[:, -1] *= np.sign(basis[:, -1].sum())
    c = upsilon - upsilon.mean(axis=-1, keepdims=True)
    v = ref - c / np.linalg.norm(c, axis=-1, keepdims=True)  # never 0: c_hat . ref < 0
    vb = np.einsum("...k,kl->...l", v, basis)  # v' basis
    return basis - (2.0 / np.sum(v * v, axis=-1))[..., None, None] * v[..., :, None] * vb[..., None, :]


def beta_rot_from_free(
    beta_free: np.ndarray, alpha: np.ndarray, delta: np.ndarray, scaled: bool = True
) -> np.ndarray:
    """``beta_rot`` from the coordinates ``beta_free`` the Stan programs sample.

    With ``scaled`` (the programs' ``scale_beliefs`` = 1, see
    :func:`seu_sensitivity.inference.programs.belief_scaling`) ``beta_free`` is
    ``beta_rot`` with its first K - 1 rows multiplied by 1 + alpha |c|,
    c = upsilon - mean(upsilon); without it the two are equal. The choice probabilities depend
    on alpha times the spread of the expected utilities; where alpha |c| is
    large (nearly deterministic choices) this scale follows alpha and removes
    the funnel between alpha and the beliefs, and where it is small (nearly
    random choices) it stays near 1 and leaves the prior's scale alone. The
    last row (constant logits) is not scaled. ``beta = Q(delta) @ beta_rot``
    (:func:`utility_rotation`).

    beta_free : (..., K, D); alpha : (...); delta : (..., K-1). Returns (..., K, D).

    >>> b = beta_rot_from_free(np.ones((3, 1)), np.array(2.0), np.array([0.5, 0.5]))
    >>> b[:, 0].round(4).tolist()   # |c| = sqrt(0.5): rows 1-2 divided by 1 + 2 sqrt(0.5)
    [0.4142, 0.4142, 1.0]
    >>> beta_rot_from_free(np.ones((3, 1)), np.array(2.0), np.array([0.5, 0.5]), scaled=False)[:, 0].tolist()
    [1.0, 1.0, 1.0]
    """
    beta_free = np.asarray(beta_free, dtype=float)
    if not scaled:
        return beta_free.copy()
    upsilon = utilities(delta)
    spread = np.linalg.norm(upsilon - upsilon.mean(axis=-1, keepdims=True), axis=-1)
    scale = 1.0 + np.asarray(alpha, dtype=float) * spread
    beta_rot = beta_free.copy()
    beta_rot[..., :-1, :] = beta_free[..., :-1, :] / scale[..., None, None]
    return beta_rot


def _alpha_eta(alpha: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alpha = np.asarray(alpha, dtype=float)
    eta = np.asarray(eta, dtype=float)
    if not np.all(np.isfinite(alpha)) or np.any(alpha < 0):
        raise ValueError("alpha must be finite and non-negative")
    return alpha, eta


def utility_logits(alpha: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """alpha (eta_r - mean_r eta_r): the expected utilities on the log-odds scale of the choices.

    The choice probabilities are a softmax of alpha eta over each menu, so they
    do not change when every eta_r of a cell moves by the same amount: the
    choices identify alpha times the differences of the expected utilities,
    not the level of eta. Measured from the mean over the R alternatives, these
    logits carry everything the choices say about alpha and eta (the softmax
    of the logits over a menu is the choice probability), and nothing else.
    NaN padding (alternatives a cell does not have) is ignored in the mean.

    alpha : (...); eta : (..., R). Returns (..., R).

    >>> eta = np.array([0.2, 0.5, 0.8])
    >>> utility_logits(10.0, eta).round(6).tolist()
    [-3.0, 0.0, 3.0]
    >>> bool(np.allclose(utility_logits(10.0, eta + 0.1), utility_logits(10.0, eta)))  # the level is not seen
    True
    """
    alpha, eta = _alpha_eta(alpha, eta)
    return alpha[..., None] * (eta - np.nanmean(eta, axis=-1, keepdims=True))


def choice_log_probabilities(alpha: np.ndarray, eta: np.ndarray, I: np.ndarray) -> np.ndarray:
    """log P(choose r | menu m) = alpha eta_r - logsumexp over the menu; -inf off the menu.

    alpha : (...); eta : (..., R); I : (M, R). Returns (..., M, R).
    """
    alpha, eta = _alpha_eta(alpha, eta)
    I = np.asarray(I)
    logits = (alpha[..., None] * eta)[..., None, :]  # (..., 1, R)
    logits = np.where(I == 1, logits, -np.inf)  # (..., M, R)
    return log_softmax(logits, axis=-1)


def choice_probabilities(alpha: np.ndarray, eta: np.ndarray, I: np.ndarray) -> np.ndarray:
    """P(choose r | menu m): softmax of alpha eta over each menu, zero off the menu.

    alpha : (...); eta : (..., R); I : (M, R). Returns (..., M, R); rows sum to 1.
    """
    return np.exp(choice_log_probabilities(alpha, eta, I))


def _padded_menus(I: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, S) alternative indices of each menu, padded with 0, and their mask."""
    I = np.asarray(I)
    sizes = I.sum(axis=1)
    S = int(sizes.max())
    order = np.argsort(-I, axis=1, kind="stable")[:, :S]  # available alternatives first, in increasing r
    mask = np.arange(S)[None, :] < sizes[:, None]
    return np.where(mask, order, 0), mask


def log_likelihood(alpha: np.ndarray, eta: np.ndarray, I: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log P(y_m | menu m) for every observation.

    alpha : (...); eta : (..., R); I : (M, R); y : (M,) 1-based menu positions.
    Returns (..., M). Works on menus (M x max menu size), not M x R, and in
    chunks of draws, so a posterior of thousands of draws fits in memory.
    """
    alpha, eta = _alpha_eta(alpha, eta)
    y = np.asarray(y)
    menu, mask = _padded_menus(I)
    lead = np.broadcast_shapes(alpha.shape, eta.shape[:-1])
    alpha_flat = np.broadcast_to(alpha, lead).reshape(-1)
    eta_flat = np.broadcast_to(eta, lead + eta.shape[-1:]).reshape(-1, eta.shape[-1])
    out = np.empty((alpha_flat.shape[0], menu.shape[0]))
    step = max(1, _CHUNK_ELEMENTS // max(1, menu.size))
    chosen = np.take_along_axis(menu, (y - 1)[:, None], axis=1)[:, 0]
    for start in range(0, alpha_flat.shape[0], step):
        stop = start + step
        utility = alpha_flat[start:stop, None] * eta_flat[start:stop]  # (n, R)
        on_menu = np.where(mask, utility[:, menu], -np.inf)  # (n, M, S)
        out[start:stop] = utility[:, chosen] - logsumexp(on_menu, axis=-1)
    return out.reshape(lead + (menu.shape[0],))


def cell_log_likelihood(cell: CellData, alpha: np.ndarray, beta: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Per-observation log likelihood of m_01 for one cell.

    alpha : (...); beta : (..., K, D); delta : (..., K-1). Returns (..., M).
    """
    eta = expected_utilities(subjective_probabilities(beta, cell.w), utilities(delta))
    return log_likelihood(alpha, eta, cell.I, cell.y)


def _per_index(values: np.ndarray | Sequence[np.ndarray], count: int, axis_name: str) -> list[np.ndarray]:
    """Split an array with a (cells|groups) axis, or accept a list of ragged arrays."""
    if isinstance(values, np.ndarray):
        if values.ndim < 3 and axis_name == "cells":
            raise ValueError("beta as an array must have shape (..., J, K, D)")
        axis = values.ndim - (3 if axis_name == "cells" else 2)
        if values.shape[axis] != count:
            raise ValueError(f"expected {count} {axis_name} on axis {axis}, got {values.shape[axis]}")
        return [np.take(values, i, axis=axis) for i in range(count)]
    values = list(values)
    if len(values) != count:
        raise ValueError(f"expected {count} {axis_name}, got {len(values)}")
    return [np.asarray(v, dtype=float) for v in values]


def stacked_expected_utilities(
    data: StackedData,
    beta: np.ndarray | Sequence[np.ndarray],
    delta: np.ndarray | Sequence[np.ndarray],
) -> np.ndarray:
    """eta of every cell and alternative of h_m01: (..., J, R).

    beta : (..., J, K, D) or a list of J arrays (..., K_j, D); delta :
    (..., G, K-1) or a list of G arrays (..., K_g - 1). Padding beyond a
    cell's K (NaN in the posterior's rectangular arrays) is ignored.
    """
    betas = _per_index(beta, data.J, "cells")
    deltas = _per_index(delta, data.G, "groups")
    upsilons = [utilities(d[..., : K_g - 1]) for d, K_g in zip(deltas, data.K_group)]
    etas = []
    for j in range(data.J):
        K_j = int(data.K[j])
        psi = subjective_probabilities(betas[j][..., :K_j, :], data.w[data.feature_set[j] - 1])
        etas.append(expected_utilities(psi, upsilons[data.group[j] - 1]))
    return np.stack(etas, axis=-2)


def stacked_log_likelihood(
    data: StackedData,
    alpha: np.ndarray,
    beta: np.ndarray | Sequence[np.ndarray],
    delta: np.ndarray | Sequence[np.ndarray],
) -> np.ndarray:
    """Per-observation log likelihood of h_m01 given cell-level parameters.

    alpha : (..., J); beta : (..., J, K, D) or a list of J arrays (..., K_j, D);
    delta : (..., G, K-1) or a list of G arrays (..., K_g - 1). Returns (..., M)
    in the stacking order of ``data``.
    """
    alpha = np.asarray(alpha, dtype=float)
    if alpha.shape[-1] != data.J:
        raise ValueError(f"alpha must have J = {data.J} cells on its last axis, got {alpha.shape}")
    eta = stacked_expected_utilities(data, beta, delta)
    out = np.empty(alpha.shape[:-1] + (data.M,))
    for j in range(data.J):
        rows = np.flatnonzero(data.cell_of == j + 1)
        out[..., rows] = log_likelihood(alpha[..., j], eta[..., j, :], data.I[rows], data.y[rows])
    return out


def sample_choices(rng: np.random.Generator, alpha: float, eta: np.ndarray, I: np.ndarray) -> np.ndarray:
    """Draw one choice per menu: (M,) 1-based positions among the available alternatives."""
    probs = choice_probabilities(alpha, eta, I)  # (M, R)
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cumulative[:, -1]
    alternative = (cumulative < u[:, None]).sum(axis=1)
    alternative = np.minimum(alternative, probs.shape[1] - 1)
    # guard against landing on an unavailable alternative through rounding
    alternative = np.where(np.asarray(I)[np.arange(len(alternative)), alternative] == 1, alternative,
                           np.argmax(probs, axis=1))
    return np.cumsum(I, axis=1)[np.arange(len(alternative)), alternative]
