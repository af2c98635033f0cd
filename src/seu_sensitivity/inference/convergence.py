"""Vectorised convergence diagnostics: rank-normalised split R-hat, bulk ESS and tail ESS.

The same numbers as ArviZ 0.23's ``az.rhat(method="rank")``, ``az.ess(method="bulk")``
and ``az.ess(method="tail")`` (Vehtari et al. 2021, https://arxiv.org/abs/1903.08008),
computed for every element of a posterior array at once instead of one element
at a time in Python. Each function takes draws shaped ``(chain, draw, *element_dims)``
and returns an array shaped ``element_dims``; :func:`summary` returns all three
and shares the sorting they have in common.

Edge cases follow ArviZ:

* an element with any NaN draw gives NaN (ArviZ also logs a warning; no log here);
  fewer than 4 draws give NaN everywhere, and so does R-hat of a single chain;
* infinite draws are ranked as ArviZ ranks them; when more than half of the draws
  are infinite the folded draws hold inf - inf, and the tail R-hat is NaN;
* an odd number of draws drops the middle draw of each chain when splitting
  (the tail ESS quantiles still use every draw);
* a constant element has R-hat NaN (0 / 0 between and within variances) and
  bulk and tail ESS equal to the number of split draws (ArviZ's shortcut for a
  range below float resolution), i.e. ``chains * 2 * (draws // 2)``;
* where the bulk R-hat is NaN the result is NaN, where only the tail R-hat is
  NaN the bulk one is returned, and likewise for the two tail quantile ESS
  (ArviZ uses Python's ``max``/``min``, which keep the first argument unless
  the second compares greater/smaller).

Numpy's floating-point warnings are silenced: NaN is the documented answer.

>>> rng = np.random.default_rng(0)
>>> draws = rng.normal(size=(4, 500, 3))
>>> rhat(draws).shape, bool(np.all(rhat(draws) < 1.01))
((3,), True)
>>> bool(np.all(ess_bulk(draws) > 1000)), ess_tail(np.ones((2, 100))).item()
(True, 200.0)
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft, special

from .memo import remembered

__all__ = ["rhat", "ess_bulk", "ess_tail", "ess_mean", "summary"]

NAMES = ("rhat", "ess_bulk", "ess_tail")
_MIN_DRAWS = 4  # ArviZ's shape check: fewer draws give NaN
_BLOCK = 2**18  # draws per block of elements: temporaries small enough for the allocator to reuse
_TAIL_PROBS = (0.05, 0.95)
_BLOM = 3 / 8  # ArviZ's fractional offset of the ranks


def rhat(x: ArrayLike) -> NDArray[np.float64]:
    """Rank-normalised split R-hat of each element: max of the bulk and tail (folded) R-hat.

    ``x`` is shaped ``(chain, draw, *element_dims)``; the result is shaped ``element_dims``.
    NaN with fewer than 2 chains or 4 draws, for elements with NaN draws and for constant elements.

    >>> x = np.random.default_rng(1).normal(size=(4, 200))
    >>> x[0] += 3.0  # one chain stuck elsewhere
    >>> round(float(rhat(x)), 3)
    1.483
    """
    return _diagnose(x, ("rhat",))["rhat"]


def ess_bulk(x: ArrayLike) -> NDArray[np.float64]:
    """Bulk effective sample size of each element (ESS of the rank-normalised split chains).

    ``x`` is shaped ``(chain, draw, *element_dims)``; the result is shaped ``element_dims``.

    >>> x = np.random.default_rng(2).normal(size=(2, 100, 2, 2))
    >>> ess_bulk(x).shape
    (2, 2)
    """
    return _diagnose(x, ("ess_bulk",))["ess_bulk"]


def ess_tail(x: ArrayLike) -> NDArray[np.float64]:
    """Tail effective sample size of each element: min of the ESS of the 5% and 95% quantiles.

    The quantile ESS is the ESS of the split indicator draws ``x <= q`` with ``q``
    the R type-7 quantile of all draws of the element (as ArviZ's ``mquantiles``).

    >>> x = np.random.default_rng(3).normal(size=(4, 300))
    >>> bool(ess_tail(x) > 500)
    True
    """
    return _diagnose(x, ("ess_tail",))["ess_tail"]


def ess_mean(x: ArrayLike) -> NDArray[np.float64]:
    """ESS of the mean of each element: the split chains, not rank-normalised (ArviZ's ``method="mean"``).

    What PSIS-LOO's relative efficiency averages. ``x`` is shaped
    ``(chain, draw, *element_dims)``; the result is shaped ``element_dims``.

    >>> x = np.random.default_rng(5).normal(size=(4, 250, 2))
    >>> bool(np.all(ess_mean(x) > 700))
    True
    """
    return _diagnose(x, ("ess_mean",))["ess_mean"]


def summary(x: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """``{"rhat": ..., "ess_bulk": ..., "ess_tail": ...}`` of each element, sorting the draws once.

    >>> result = summary(np.random.default_rng(4).normal(size=(2, 50, 3)))
    >>> sorted(result), result["rhat"].shape
    (['ess_bulk', 'ess_tail', 'rhat'], (3,))
    """
    return _diagnose(x, NAMES)


@remembered(__name__)
def _diagnose(x: ArrayLike, names: Iterable[str]) -> dict[str, NDArray[np.float64]]:
    """The diagnostics ``names`` of every element, computed block by block of elements."""
    array = np.asarray(x, dtype=float)
    if array.ndim < 2:
        raise ValueError(f"expected draws shaped (chain, draw, *element_dims), got shape {array.shape}")
    n_chain, n_draw, shape = array.shape[0], array.shape[1], array.shape[2:]
    names = tuple(names)
    results = {name: np.full(shape, np.nan) for name in names}
    # ArviZ's shape checks: at least 4 draws, and 2 chains for R-hat
    names = tuple(name for name in names if n_draw >= _MIN_DRAWS and (n_chain >= 2 or name != "rhat"))
    if not names:
        return results
    # (element, chain, draw), so that every reduction and FFT runs along contiguous memory
    values = np.ascontiguousarray(np.moveaxis(array.reshape(n_chain, n_draw, int(np.prod(shape))), -1, 0))
    invalid = np.isnan(values).any(axis=(1, 2))
    if invalid.any():  # a finite stand-in keeps sorting and the FFT well defined; blanked below
        values = np.where(invalid[:, None, None], 0.0, values)  # a copy: ``values`` may be ``x`` itself
    step = max(1, _BLOCK // (n_chain * n_draw))
    with np.errstate(invalid="ignore", divide="ignore"):
        blocks = [_block(values[i:i + step], names) for i in range(0, len(values), step)]
    for name in names:
        result = np.concatenate([block[name] for block in blocks]) if blocks else np.empty(0)
        result[invalid] = np.nan
        results[name] = result.reshape(shape)
    return results


def _block(values: NDArray[np.float64], names: tuple[str, ...]) -> dict[str, NDArray[np.float64]]:
    """The diagnostics of one block of elements shaped ``(element, chain, draw)``."""
    out, ordered = {}, None
    if "rhat" in names or "ess_bulk" in names:
        split = _split_chains(values)
        flat = split.reshape(len(split), -1)
        order = np.argsort(flat, axis=1)
        ordered = np.take_along_axis(flat, order, axis=1)
        table = _normal_scores_table(flat.shape[1])
        bulk = _normal_scores(order, ordered, table).reshape(split.shape)
        if "ess_bulk" in names:
            out["ess_bulk"] = _ess(bulk)
        if "rhat" in names:
            folded_order, folded_ordered = _folded_sort(order, ordered)
            folded = _normal_scores(folded_order, folded_ordered, table).reshape(split.shape)
            bulk_rhat, tail_rhat = _rhat(bulk), _rhat(folded)
            # an infinite median folds infinite draws to inf - inf = NaN (sorted last), and ArviZ to NaN
            tail_rhat[np.isnan(folded_ordered[:, -1])] = np.nan
            out["rhat"] = np.where(tail_rhat > bulk_rhat, tail_rhat, bulk_rhat)  # ArviZ's max(bulk, tail)
    if "ess_mean" in names:
        out["ess_mean"] = _ess(_split_chains(values))
    if "ess_tail" in names:
        # with an even number of draws the split chains hold every draw: their sort gives the quantiles
        whole = ordered if ordered is not None and values.shape[2] % 2 == 0 else values.reshape(len(values), -1)
        low, high = (_ess(_split_chains((values <= q[:, None, None]).astype(float)))
                     for q in _quantiles(whole, _TAIL_PROBS, is_sorted=whole is ordered))
        out["ess_tail"] = np.where(high < low, high, low)  # ArviZ's min(low, high)
    return out


def _split_chains(values: NDArray) -> NDArray:
    """Halve every chain (the middle draw of an odd chain is dropped): ``(element, 2 chain, draw // 2)``."""
    half = values.shape[2] // 2
    return np.concatenate([values[:, :, :half], values[:, :, -half:]], axis=1)


def _normal_scores_table(n: int) -> NDArray[np.float64]:
    """Normal scores of the average ranks 1, 1.5, 2, ..., n of n pooled draws, at index 2 (rank - 1).

    ArviZ's ``_z_scale``: ``norm.ppf((rank - 3/8) / (n - 2 * 3/8 + 1))`` (``norm.ppf`` is ``ndtri``
    times 1 plus 0). Average ranks are multiples of 1/2, so 2n - 1 evaluations serve all elements.
    """
    ranks = 1.0 + np.arange(2 * n - 1) / 2
    return special.ndtri((ranks - _BLOM) / (n - 2 * _BLOM + 1))


def _normal_scores(order: NDArray[np.intp], ordered: NDArray[np.float64], table: NDArray[np.float64]) -> NDArray[np.float64]:
    """Normal scores of each row in its original order, from its argsort ``order`` and sorted values."""
    rows, cols = np.nonzero(ordered[:, 1:] == ordered[:, :-1])
    if len(rows) == 0:  # no ties: the sorted positions are the ranks 1..n
        sorted_scores = table[None, ::2]
    else:
        # ties (scipy.stats.rankdata "average"): sorted positions a..b all get rank (a + b) / 2 + 1
        index = np.tile(2 * np.arange(ordered.shape[1]), (len(ordered), 1))
        starts = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1] + 1)]
        first = np.flatnonzero(starts)
        last = np.r_[first[1:] - 1, len(rows) - 1]
        a, b = cols[first], cols[last] + 1
        index[rows, cols] = (a + b)[np.cumsum(starts) - 1]
        index[rows[last], b] = a + b
        sorted_scores = table[index]
    scores = np.empty_like(ordered)
    np.put_along_axis(scores, order, sorted_scores, axis=1)
    return scores


def _folded_sort(order: NDArray[np.intp], ordered: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Argsort and sorted values of ``|x - median(x)|`` per row, from the sort of ``x``.

    Rows have an even length (split chains), so the median is the mean of the two middle
    values (as ``np.median``), and the folded sorted values are two sorted runs: the lower
    half reversed and the upper half. A stable sort merges them in linear time.
    """
    half = ordered.shape[1] // 2
    median = ordered[:, half - 1:half + 1].mean(axis=1)
    runs = np.abs(np.concatenate([ordered[:, half - 1::-1], ordered[:, half:]], axis=1) - median[:, None])
    merge = np.argsort(runs, axis=1, kind="stable")
    position = np.where(merge < half, half - 1 - merge, merge)  # back to positions in ``ordered``
    return np.take_along_axis(order, position, axis=1), np.take_along_axis(runs, merge, axis=1)


def _quantiles(flat: NDArray[np.float64], probs: tuple[float, ...], is_sorted: bool = False) -> list[NDArray[np.float64]]:
    """R type-7 quantiles of each row, with the float operations of ``scipy.stats.mstats.mquantiles``
    (alphap = betap = 1) so that draws equal to a quantile fall on the same side as in ArviZ."""
    n = flat.shape[1]
    plans = []
    for p in probs:
        aleph = n * p + (1 + p * (1.0 - 1 - 1))
        k = int(np.floor(np.clip(aleph, 1, n - 1)))
        plans.append((k, float(np.clip(aleph - k, 0, 1))))
    ordered = flat if is_sorted else np.partition(flat, sorted({i for k, _ in plans for i in (k - 1, k)}), axis=1)
    return [(1.0 - gamma) * ordered[:, k - 1] + gamma * ordered[:, k] for k, gamma in plans]


def _rhat(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Gelman-Rubin R-hat over the chains of each element: ``(element, chain, draw) -> (element,)``."""
    n = values.shape[2]
    between = n * np.var(values.mean(axis=2), axis=1, ddof=1)
    within = np.var(values, axis=2, ddof=1).mean(axis=1)
    return np.sqrt((between / within + n - 1) / n)


def _autocov(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Autocovariance at every lag along the last axis, by FFT zero-padded to a fast length >= 2n."""
    n = values.shape[-1]
    size = fft.next_fast_len(2 * n, real=True)  # the 5-smooth length ArviZ gets from scipy.fftpack
    centred = values - values.mean(axis=-1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=size, axis=-1)
    # ArviZ's X * conj(X) = |X|^2, written in place: numpy's complex product is several times
    # slower, and irfft of a real (not complex) array too
    spectrum.real **= 2
    spectrum.real += np.square(spectrum.imag)
    spectrum.imag = 0.0
    acov = np.fft.irfft(spectrum, n=size, axis=-1)[..., :n]
    acov /= n
    return acov


def _ess(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """ESS of each element of ``(element, chain, draw)`` by Geyer's initial monotone sequence.

    ArviZ's loop over lag pairs, as array operations: P_j = rho(2j) + rho(2j + 1),
    truncated before the first non-positive pair, made monotone by a running minimum.
    """
    n_elements, n_chain, n_draw = values.shape
    flat = values.reshape(n_elements, -1)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    acov = _autocov(values)
    mean_var = acov[:, :, 0].mean(axis=1) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(values.mean(axis=2), axis=1, ddof=1)

    # ArviZ's loop reads pairs j = 0 .. last while 2j - 1 < n_draw - 3
    last = max((n_draw - 3) // 2, 0)
    rho = 1.0 - (mean_var[:, None] - acov[:, :, :2 * (last + 1)].mean(axis=1)) / var_plus[:, None]
    rho[:, 0] = 1.0  # set, not estimated, in ArviZ
    pairs = rho[:, 0::2] + rho[:, 1::2]
    positive = pairs > 0
    # pairs in the initial positive sequence: up to the first non-positive pair, or the last one read
    stop = np.where(positive.all(axis=1), last, np.argmin(positive, axis=1))
    kept = np.arange(last + 1)[None, :] < stop[:, None]
    monotone = np.minimum.accumulate(pairs, axis=1)
    # the even lag of the stopping pair counts once if it is positive or its pair is non-negative
    even = rho[np.arange(n_elements), 2 * stop]
    at_stop = np.where((pairs[np.arange(n_elements), stop] >= 0) | (even > 0), even, 0.0)
    tau = -1.0 + 2.0 * np.where(kept, monotone, 0.0).sum(axis=1) + at_stop

    size = n_chain * n_draw
    floor = 1 / np.log10(size)
    tau = np.where(floor > tau, floor, tau)  # ArviZ's max(tau, floor)
    ess = size / tau
    ess[np.isnan(rho[:, 1])] = np.nan  # ArviZ: NaN anywhere in the autocorrelations
    ess[constant] = float(size)
    return ess
