"""Figures of the hierarchical formulation (the regression on log alpha, stacking, pooling).

Every function draws on Axes it is given and returns what it drew from, so a
chapter lays out panels and a test can inspect them:

* :func:`design_matrix_heatmap`: X as a heatmap, the reference row marked;
* :func:`coefficient_illustration`: X next to the log(alpha) distribution of each cell it implies;
* :func:`stacked_schematic`: a real :class:`~seu_sensitivity.model.stacking.StackedData` as cell blocks and its cell[m] vector;
* :func:`pooling_path`: cell estimates as sigma_cell is fixed at increasing values, against independent fits;
* :func:`sigma_posteriors`: posteriors of sigma_cell against the half-normal prior.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> from seu_sensitivity.model.design import factorial_design
>>> fig, ax = plt.subplots()
>>> design = factorial_design({"llm": ["A", "B"], "prompt": ["neutral", "directive"]})
>>> _ = design_matrix_heatmap(ax, design)
>>> [p.get_gid() for p in ax.patches]
['reference-row']
>>> plt.close(fig)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from scipy import stats

from seu_sensitivity.model.design import CELL_ID_SEP, Design
from seu_sensitivity.plots import PALETTE, cell_colors
from seu_sensitivity.model.stacking import StackedData

__all__ = [
    "readable_cell",
    "design_matrix_heatmap",
    "cell_log_alpha_centres",
    "coefficient_illustration",
    "runs",
    "stacked_schematic",
    "pooling_path",
    "sigma_posteriors",
]


def readable_cell(cell_id: str) -> str:
    """A generated cell id ("B__directive") as a label ("B × directive").

    >>> readable_cell("gpt-4o__neutral__0.5")
    'gpt-4o × neutral × 0.5'
    """
    return " × ".join(str(cell_id).split(CELL_ID_SEP))


def _matrix(design: Design | pd.DataFrame) -> pd.DataFrame:
    return design.X if isinstance(design, Design) else design


def _reference_row(X: pd.DataFrame, reference: str | int | None) -> int | None:
    """Row of the reference cell: the given cell id / position, or the unique all-zero row."""
    if reference is None:
        return None
    if reference == "auto":
        zero_rows = np.flatnonzero((X.to_numpy() == 0).all(axis=1))
        return int(zero_rows[0]) if zero_rows.size == 1 else None
    if isinstance(reference, (int, np.integer)):
        return int(reference)
    labels = [str(i) for i in X.index]
    if str(reference) not in labels:
        raise KeyError(f"reference: no cell {reference!r}; cells: {labels}")
    return labels.index(str(reference))


def design_matrix_heatmap(
    ax: plt.Axes,
    design: Design | pd.DataFrame,
    *,
    reference: str | int | None = "auto",
    column_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    annotate: bool = True,
    fontsize: float = 9,
) -> int | None:
    """Draw the J x P design matrix X as a heatmap, one row per cell, and mark the reference row.

    ``reference="auto"`` marks the unique all-zero row (the reference cell of
    a treatment-coded design: log alpha = gamma0 there); a cell id or row
    position marks that row; None marks nothing. The mark is a Rectangle
    with gid ``"reference-row"`` and the word "reference" to the right.
    Returns the marked row (or None).
    """
    X = _matrix(design)
    values = X.to_numpy(dtype=float)
    J, P = values.shape
    limit = max(1.0, float(np.abs(values).max(initial=0.0)))
    if values.min(initial=0.0) < 0:  # effect coding: -1 / 0 / 1 on a diverging map
        ax.imshow(values, cmap="RdBu_r", vmin=-1.6 * limit, vmax=1.6 * limit, aspect="auto")
    else:
        ax.imshow(values, cmap="Blues", vmin=-0.3 * limit, vmax=1.3 * limit, aspect="auto")
    ax.set_xticks(range(P))
    ax.set_xticklabels(list(column_labels) if column_labels is not None else [str(c) for c in X.columns],
                       fontsize=fontsize, rotation=30 if P > 3 else 0, ha="right" if P > 3 else "center")
    ax.set_yticks(range(J))
    ax.set_yticklabels(list(row_labels) if row_labels is not None else [readable_cell(i) for i in X.index],
                       fontsize=fontsize)
    ax.grid(False)
    if annotate:
        for i in range(J):
            for p in range(P):
                value = values[i, p]
                text = f"{value:g}" if float(value).is_integer() else f"{value:.2f}"
                strong = abs(value) > 0.5 * limit
                ax.text(p, i, text, ha="center", va="center", fontsize=fontsize,
                        color="white" if strong else "dimgray", fontweight="bold" if strong else "normal")
    row = _reference_row(X, reference)
    if row is not None:
        ax.add_patch(Rectangle((-0.5, row - 0.5), P, 1.0, facecolor="gold", alpha=0.3, edgecolor="goldenrod",
                               lw=1.5, gid="reference-row"))
        ax.text(P - 0.4, row, "← reference", va="center", ha="left", fontsize=fontsize, color="darkgoldenrod",
                fontstyle="italic", clip_on=False)
    return row


def cell_log_alpha_centres(design: Design | pd.DataFrame, gamma0: float, gamma: Sequence[float] | Mapping[str, float]) -> pd.Series:
    """gamma0 + X_j gamma for every cell: the centre of log(alpha_j) under the regression.

    >>> from seu_sensitivity.model.design import factorial_design
    >>> d = factorial_design({"llm": ["A", "B"], "prompt": ["n", "d"]})
    >>> cell_log_alpha_centres(d, 3.0, [-0.5, 0.3]).round(2).tolist()
    [3.0, 3.3, 2.5, 2.8]
    """
    X = _matrix(design)
    if isinstance(gamma, Mapping):
        missing = [c for c in X.columns if c not in gamma]
        if missing:
            raise KeyError(f"gamma: no coefficient for {missing}")
        coefficients = np.array([gamma[c] for c in X.columns], dtype=float)
    else:
        coefficients = np.asarray(gamma, dtype=float)
    if coefficients.shape != (X.shape[1],):
        raise ValueError(f"gamma: need {X.shape[1]} coefficients for {list(X.columns)}, got {coefficients.shape}")
    return pd.Series(gamma0 + X.to_numpy(dtype=float) @ coefficients, index=X.index, name="log_alpha_centre")


def coefficient_illustration(
    axes: Sequence[plt.Axes],
    design: Design | pd.DataFrame,
    gamma0: float,
    gamma: Sequence[float] | Mapping[str, float],
    sigma_cell: float,
    *,
    column_labels: Sequence[str] | None = None,
) -> pd.Series:
    """Left: the design matrix. Right: the Normal(gamma0 + X_j gamma, sigma_cell) density of log(alpha_j) per cell.

    Returns the centres (one per cell), which are where the densities peak.
    """
    if not sigma_cell > 0:
        raise ValueError(f"sigma_cell must be positive to draw densities, got {sigma_cell}")
    ax_design, ax_density = axes
    design_matrix_heatmap(ax_design, design, column_labels=column_labels)
    ax_design.set_title(r"design matrix $\mathbf{X}$")
    centres = cell_log_alpha_centres(design, gamma0, gamma)
    colors = cell_colors(len(centres))
    grid = np.linspace(centres.min() - 4 * sigma_cell, centres.max() + 4 * sigma_cell, 400)
    for color, (cell_id, centre) in zip(colors, centres.items()):
        density = stats.norm.pdf(grid, loc=centre, scale=sigma_cell)
        ax_density.plot(grid, density, color=color, lw=2,
                        label=f"{readable_cell(cell_id)}: centre {centre:.2f}, median α {np.exp(centre):.1f}")
        ax_density.fill_between(grid, density, color=color, alpha=0.12)
        ax_density.axvline(centre, color=color, lw=0.8, ls=":")
    ax_density.axvline(gamma0, color="black", lw=1, ls="--", label=rf"$\gamma_0$ = {gamma0:g}")
    ax_density.set_xlabel(r"$\log\alpha_j$")
    ax_density.set_ylabel("density")
    ax_density.legend(loc="upper left", fontsize=8)
    return centres


def runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """Run-length encoding: [(value, length), ...] of consecutive equal values.

    >>> runs([1, 1, 1, 2, 2, 3])
    [(1, 3), (2, 2), (3, 1)]
    """
    values = np.asarray(values)
    if values.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    lengths = np.diff(np.r_[starts, values.size])
    return [(int(values[s]), int(n)) for s, n in zip(starts, lengths)]


def _cell_vector_text(cell_of: np.ndarray, show: int = 2) -> str:
    """'cell[m] = [1, 1, …, 1, 2, …]' written from the actual vector, each run abbreviated."""
    parts = []
    for value, length in runs(cell_of):
        if length <= show + 1:
            parts.append(", ".join([str(value)] * length))
        else:
            parts.append(", ".join([str(value)] * show) + f", …, {value}")
    return "cell[m] = [" + ", ".join(parts) + "]"


def stacked_schematic(ax: plt.Axes, data: StackedData, *, colors: Sequence[str] | None = None) -> list[Rectangle]:
    """The stacked observations of ``data``: one block per cell, as wide as its number of observations.

    Top: the blocks (Rectangles with gid ``"cell-block"``), labelled with the
    cell, its size M_j and, when there is a design, its row of X. Below: the
    cell[m] vector itself, one coloured tick per observation, and its text
    form. Cells must be stacked contiguously (as :func:`stack_cells` does).
    Returns the blocks.
    """
    sizes = np.asarray(data.cell_sizes)
    cell_runs = runs(data.cell_of)
    if [value for value, _ in cell_runs] != list(range(1, data.J + 1)):
        raise ValueError("stacked_schematic: observations are not stacked cell by cell in order")
    colors = list(colors) if colors is not None else cell_colors(data.J)
    total = int(sizes.sum())
    blocks = []
    left = 0.0
    for j, (cell_id, size) in enumerate(zip(data.cell_ids, sizes)):
        width = size / total
        block = Rectangle((left, 0.55), width, 0.3, facecolor=colors[j], edgecolor="black", lw=1.2, alpha=0.75,
                          gid="cell-block")
        ax.add_patch(block)
        blocks.append(block)
        label = f"cell {j + 1}\n{readable_cell(cell_id)}\n$M_{{{j + 1}}}$ = {size}"
        if data.P:
            label += "\nX = (" + ", ".join(f"{v:g}" for v in data.X.iloc[j].to_numpy()) + ")"
        ax.text(left + width / 2, 0.70, label, ha="center", va="center", fontsize=8)
        left += width
    # the cell[m] vector: one tick per observation, coloured by its cell
    strip_colors = np.array([plt.matplotlib.colors.to_rgb(colors[c - 1]) for c in data.cell_of])
    ax.imshow(strip_colors[None, :, :], extent=(0, 1, 0.36, 0.46), aspect="auto", interpolation="nearest")
    ax.text(0.5, 0.29, _cell_vector_text(data.cell_of), ha="center", va="center", fontsize=8.5, family="monospace")
    ax.annotate("", xy=(0, 0.2), xytext=(1, 0.2), arrowprops=dict(arrowstyle="<->", color="black", lw=1.2))
    ax.text(0.5, 0.13, rf"$M_{{\mathrm{{total}}}}$ = {total} stacked observations, m = 1, …, {total}",
            ha="center", fontsize=9)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0.05, 0.9)
    ax.axis("off")
    return blocks


def pooling_path(
    ax: plt.Axes,
    sigma_values: Sequence[float],
    estimates: pd.DataFrame,
    independent: pd.Series,
    *,
    free: tuple[float, pd.Series] | None = None,
    ylabel: str = r"posterior mean of $\log\alpha_j$",
) -> dict[str, np.ndarray]:
    """Cell estimates as sigma_cell is held at increasing values, ending at the independent fits.

    ``estimates`` has one row per value in ``sigma_values`` (in that order)
    and one column per cell. The sweep is drawn at evenly spaced positions
    labelled by sigma_cell; the independent fits (``independent``, indexed by
    cell) sit one step to the right. ``free`` = (posterior median of
    sigma_cell, estimates) adds the fit with sigma_cell estimated, placed at
    its sigma_cell on the sweep's scale (interpolated between positions).
    Returns the x positions used (``"sweep"``, ``"independent"``, ``"free"``).
    """
    sigma_values = np.asarray(sigma_values, dtype=float)
    if estimates.shape[0] != sigma_values.size:
        raise ValueError(f"estimates has {estimates.shape[0]} rows for {sigma_values.size} sigma_cell values")
    if np.any(np.diff(sigma_values) <= 0):
        raise ValueError("sigma_values must increase")
    cells = list(estimates.columns)
    missing = [c for c in cells if c not in independent.index]
    if missing:
        raise KeyError(f"independent: no estimate for cell(s) {missing}")
    positions = np.arange(sigma_values.size, dtype=float)
    independent_x = positions[-1] + 1.0
    colors = cell_colors(len(cells))
    for color, cell in zip(colors, cells):
        ax.plot(positions, estimates[cell].to_numpy(), "-o", color=color, ms=4, lw=1.5, label=readable_cell(cell))
        ax.plot([positions[-1], independent_x], [estimates[cell].iloc[-1], independent[cell]], ":", color=color, lw=1)
        ax.plot(independent_x, independent[cell], "D", color=color, ms=6, mec="black", mew=0.6)
    out = {"sweep": positions, "independent": np.array([independent_x])}
    if free is not None:
        sigma_hat, free_estimates = free
        free_x = float(np.interp(sigma_hat, sigma_values, positions))
        ax.axvline(free_x, color="grey", lw=1, ls="--")
        for color, cell in zip(colors, cells):
            ax.plot(free_x, free_estimates[cell], "s", mfc="white", mec=color, mew=1.5, ms=7)
        ax.text(free_x, 1.0, r" $\sigma_{\mathrm{cell}}$ estimated", transform=ax.get_xaxis_transform(),
                fontsize=8, color="grey", va="top")
        out["free"] = np.array([free_x])
    ax.set_xticks(list(positions) + [independent_x])
    ax.set_xticklabels([f"{s:g}" for s in sigma_values] + ["independent\nfits"])
    ax.set_xlabel(r"$\sigma_{\mathrm{cell}}$ held fixed at")
    ax.set_ylabel(ylabel)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return out


def sigma_posteriors(
    ax: plt.Axes,
    draws: Mapping[str, np.ndarray],
    *,
    prior_sd: float,
    truth: Mapping[str, float] | None = None,
    xmax: float | None = None,
) -> plt.Axes:
    """Histograms of sigma_cell draws (one per label), the HalfNormal(prior_sd) prior, true values as lines."""
    pooled = np.concatenate([np.asarray(d).ravel() for d in draws.values()])
    xmax = xmax if xmax is not None else float(max(np.quantile(pooled, 0.995), 2.5 * prior_sd))
    bins = np.linspace(0.0, xmax, 50)
    for index, (label, values) in enumerate(draws.items()):
        color = PALETTE[index % len(PALETTE)]
        ax.hist(np.asarray(values).ravel(), bins=bins, density=True, color=color, alpha=0.35, label=f"posterior: {label}")
        if truth is not None and label in truth:
            ax.axvline(truth[label], color=color, lw=2, ls="--", label=f"truth: {label}")
    grid = np.linspace(0.0, xmax, 300)
    ax.plot(grid, stats.halfnorm(scale=prior_sd).pdf(grid), color="black", lw=1.2, label=f"prior HalfNormal({prior_sd:g})")
    ax.set_xlim(0.0, xmax)
    ax.set_xlabel(r"$\sigma_{\mathrm{cell}}$")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax
