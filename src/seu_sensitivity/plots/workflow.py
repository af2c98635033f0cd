"""Figures of the Bayesian workflow around h_m01: parameter flow, prior and posterior predictive checks, recovery, sampler cost and geometry.

Each function draws on a given Axes (or returns a new figure for the
parameter-flow diagram) and returns what it drew on, so a chapter can lay
out panels as it likes:

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> fig, ax = plt.subplots()
>>> _ = parameter_flow(ax)
>>> sorted({node.block for node in FLOW_NODES})
['data', 'generated quantities', 'parameters', 'transformed data', 'transformed parameters']
>>> plt.close(fig)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from seu_sensitivity.plots import PALETTE, interval_plot
from seu_sensitivity.plots.pooling import funnel_scatter

__all__ = [
    "FlowNode",
    "FLOW_NODES",
    "FLOW_EDGES",
    "BLOCK_COLORS",
    "parameter_flow",
    "readable_log_ticks",
    "log_axis",
    "prior_alpha_intervals",
    "prior_behaviour",
    "recovery_intervals",
    "per_cell_ppc",
    "population_predictive",
    "cost_bars",
    "chain_means",
    "FUNNEL_QUANTITIES",
    "funnel_coordinates",
    "parameterisation_funnels",
]

#: fill colour of each Stan block in the parameter-flow diagram
BLOCK_COLORS = {
    "data": "#e8e8e8",
    "transformed data": "#f4f4f4",
    "parameters": "#cfe2f3",
    "transformed parameters": "#fde9c9",
    "generated quantities": "#d9ead3",
}


@dataclass(frozen=True)
class FlowNode:
    """One quantity of h_m01 in the parameter-flow diagram: its key, label, block and (x, y)."""

    key: str
    label: str
    block: str
    x: float
    y: float


#: quantities of h_m01: regression on top, beliefs and utilities below, choices on the right
FLOW_NODES: tuple[FlowNode, ...] = (
    FlowNode("X_new", r"$\mathbf{x}_{\mathrm{new}}$", "data", 0.0, 6.3),
    FlowNode("alpha_new", r"$\alpha_{\mathrm{new}}$", "generated quantities", 2.0, 6.3),
    FlowNode("gamma0", r"$\gamma_0$", "parameters", 0.0, 5.0),
    FlowNode("gamma", r"$\boldsymbol{\gamma}$", "parameters", 1.3, 5.0),
    FlowNode("X", r"$\mathbf{X}_j$", "data", 2.6, 5.0),
    FlowNode("sigma", r"$\sigma_{\mathrm{cell}}$", "parameters", 3.9, 5.0),
    FlowNode("z", r"$z_j$", "parameters", 5.2, 5.0),
    FlowNode("log_alpha", r"$\log\alpha_j$", "transformed parameters", 2.6, 3.8),
    FlowNode("alpha", r"$\alpha_j$", "transformed parameters", 4.2, 3.8),
    FlowNode("w", r"$\mathbf{w}_r$", "data", 1.3, 3.55),
    FlowNode("beta", "\u03b2\u030c$_j$", "parameters", 1.3, 2.6),  # beta_free; beta_j = Q(delta) beta_free / (1 + alpha_j |c|) in scaled cells
    FlowNode("psi", r"$\boldsymbol{\psi}_{jr}$", "transformed parameters", 2.6, 2.6),
    FlowNode("eta", r"$\eta_{jr}$", "transformed parameters", 4.2, 2.6),
    FlowNode("delta", r"$\boldsymbol{\delta}$", "parameters", 1.3, 1.4),
    FlowNode("upsilon", r"$\boldsymbol{\upsilon}$", "transformed parameters", 2.6, 1.4),
    FlowNode("menus", r"$I_m,\ \mathrm{cell}[m]$", "data", 4.2, 1.4),
    FlowNode("menu_idx", r"menu index", "transformed data", 5.9, 1.4),
    FlowNode("y", r"$y_m$", "data", 5.9, 3.1),
    FlowNode("y_rep", r"$y^{\mathrm{rep}}_m,\ \log p(y_m)$", "generated quantities", 5.9, 4.25),
)

#: half width and half height of a node's box (data units)
_HALF_W, _HALF_H = 0.55, 0.27


def _box_edge(centre: tuple[float, float], towards: tuple[float, float], half_w: float, half_h: float):
    """Where the segment from a box's centre towards a point leaves the box."""
    dx, dy = towards[0] - centre[0], towards[1] - centre[1]
    scale = min(half_w / abs(dx) if dx else np.inf, half_h / abs(dy) if dy else np.inf)
    return centre[0] + dx * scale, centre[1] + dy * scale


#: (from, to): each arrow is a dependence in the Stan program
FLOW_EDGES: tuple[tuple[str, str], ...] = (
    ("gamma0", "log_alpha"),
    ("gamma", "log_alpha"),
    ("X", "log_alpha"),
    ("sigma", "log_alpha"),
    ("z", "log_alpha"),
    ("log_alpha", "alpha"),
    ("w", "psi"),
    ("beta", "psi"),
    ("upsilon", "psi"),  # psi uses beta_j = Q(delta) beta_rot_j, Q built from upsilon
    ("alpha", "psi"),  # beta_rot_j = beta_free_j scaled by 1 / (1 + alpha_j |c|) where scale_beliefs
    ("delta", "upsilon"),
    ("psi", "eta"),
    ("upsilon", "eta"),
    ("alpha", "y"),
    ("eta", "y"),
    ("menus", "menu_idx"),
    ("menu_idx", "y"),
    ("gamma0", "alpha_new"),
    ("gamma", "alpha_new"),
    ("sigma", "alpha_new"),
    ("X_new", "alpha_new"),
    ("alpha", "y_rep"),
    ("eta", "y_rep"),
    ("y", "y_rep"),
)


def readable_log_ticks(values_min: float, values_max: float, *, at_least: int = 4) -> list[float]:
    """Ticks for a log axis from ``values_min`` to ``values_max`` a reader can read values from.

    The coarsest of decades (1, 10, 100), 1-3 steps (1, 3, 10, 30), 1-2-5,
    1-2-3-5 and every integer multiple of a decade that puts ``at_least``
    ticks in the range (the finest when none does).

    >>> readable_log_ticks(6, 120)
    [10.0, 20.0, 50.0, 100.0]
    >>> readable_log_ticks(0.8, 500)
    [1.0, 3.0, 10.0, 30.0, 100.0, 300.0]
    >>> readable_log_ticks(12, 45)
    [20.0, 30.0, 40.0]
    """
    if not (0 < values_min < values_max):
        raise ValueError(f"a log axis needs 0 < min < max, got {values_min!r}, {values_max!r}")
    low, high = int(np.floor(np.log10(values_min))), int(np.ceil(np.log10(values_max)))
    ticks: list[float] = []
    for mantissas in ((1,), (1, 3), (1, 2, 5), (1, 2, 3, 5), tuple(range(1, 10))):
        ticks = [float(m * 10.0**k) for k in range(low, high + 1) for m in mantissas]
        ticks = [t for t in ticks if values_min <= t * (1 + 1e-12) and t <= values_max * (1 + 1e-12)]
        if len(ticks) >= at_least:
            return ticks
    return ticks


def log_axis(ax: plt.Axes, axis: str = "x") -> plt.Axes:
    """Put ``axis`` of ``ax`` on a log scale with plain, readable tick labels (3, 10, 30, 100; no 10^k).

    Call it after drawing: the ticks are chosen for the current limits
    (:func:`readable_log_ticks`), which are then kept.
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    getattr(ax, f"set_{axis}scale")("log")
    lower, upper = getattr(ax, f"get_{axis}lim")()
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(readable_log_ticks(lower, upper)))
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    target.set_minor_formatter(NullFormatter())
    getattr(ax, f"set_{axis}lim")(lower, upper)
    return ax


def parameter_flow(ax: plt.Axes) -> plt.Axes:
    """How data and parameters flow through h_m01 to the choices, coloured by Stan block.

    Boxes are quantities (:data:`FLOW_NODES`), arrows are dependences
    (:data:`FLOW_EDGES`); the fill says in which block of the program a
    quantity is declared. Only ``y`` is modelled by a likelihood; everything
    else on the right of it is generated after sampling.
    """
    positions = {node.key: (node.x, node.y) for node in FLOW_NODES}
    wide = {"y_rep": 0.95, "menus": 0.75, "menu_idx": 0.75}  # nodes with long labels get wider boxes
    for node in FLOW_NODES:
        half_w = wide.get(node.key, _HALF_W)
        box = FancyBboxPatch(
            (node.x - half_w, node.y - _HALF_H), 2 * half_w, 2 * _HALF_H,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=BLOCK_COLORS[node.block], edgecolor="black", lw=1.0, zorder=2,
        )
        box.flow_key = node.key  # lets tests find a node's box
        ax.add_patch(box)
        ax.text(node.x, node.y, node.label, ha="center", va="center", fontsize=11, zorder=3)
    for start, end in FLOW_EDGES:
        # arrows run from box edge to box edge, so every arrowhead is visible
        tail = _box_edge(positions[start], positions[end], wide.get(start, _HALF_W) + 0.03, _HALF_H + 0.03)
        head = _box_edge(positions[end], positions[start], wide.get(end, _HALF_W) + 0.03, _HALF_H + 0.03)
        arrow = FancyArrowPatch(
            tail, head, arrowstyle="-|>", mutation_scale=12, color="#555555", lw=1.0,
            shrinkA=0, shrinkB=0, zorder=1,
            linestyle="--" if end in ("alpha_new", "y_rep") else "-",
        )
        arrow.flow_edge = (start, end)
        ax.add_patch(arrow)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=color, edgecolor="black", lw=0.8)
               for color in BLOCK_COLORS.values()]
    ax.legend(handles, list(BLOCK_COLORS), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
              title="declared in", title_fontsize=8)
    ax.set_xlim(-0.7, 7.0)
    ax.set_ylim(0.9, 6.8)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def prior_alpha_intervals(
    ax: plt.Axes,
    labels: Sequence[str],
    alpha_draws: np.ndarray | None = None,
    *,
    quantiles: Any = None,
    probs: tuple[float, float] = (0.05, 0.95),
    inner: tuple[float, float] = (0.25, 0.75),
    reference: float | None = None,
) -> plt.Axes:
    """Prior of alpha per cell on a log axis: median, 50% (thick) and 90% (thin) intervals.

    Either ``alpha_draws`` (S, J), whose quantiles are drawn, or ``quantiles``,
    a table with one row per cell and a column for each probability of
    ``probs``, ``inner`` and 0.5 (e.g. exact quantiles). ``reference`` adds a
    vertical line (e.g. the m_01 prior median) to compare the hierarchical
    prior with.
    """
    if (alpha_draws is None) == (quantiles is None):
        raise ValueError("give either alpha_draws or quantiles")
    if quantiles is not None:
        table = quantiles
        lower, upper, low50, high50, median = (np.asarray(table[p], dtype=float)
                                               for p in (*probs, *inner, 0.5))
    else:
        alpha_draws = np.asarray(alpha_draws, dtype=float)
        lower, upper = np.quantile(alpha_draws, probs, axis=0)
        low50, high50 = np.quantile(alpha_draws, inner, axis=0)
        median = np.median(alpha_draws, axis=0)
    interval_plot(ax, labels, median, lower, upper, color=PALETTE[0], label="median, 90% interval")
    ax.hlines(np.arange(len(median)), low50, high50, color=PALETTE[0], lw=4, alpha=0.6)
    if reference is not None:
        ax.axvline(reference, color="black", ls=":", lw=1)
    log_axis(ax)
    ax.set_xlabel(r"prior $\alpha_j$ (log scale)")
    return ax


def prior_behaviour(
    ax: plt.Axes, values: np.ndarray, *, uniform: float | None = None, xlabel: str = "", bins: int = 40,
    color: str | None = None, label: str | None = None,
) -> plt.Axes:
    """Histogram of a prior predictive behaviour summary over draws and cells.

    ``uniform`` marks the value of uniformly random choice (dashed) and a
    strict maximiser sits at 1 (dotted) when the summary is a maximiser rate.
    """
    values = np.asarray(values, dtype=float).ravel()
    ax.hist(values, bins=bins, range=(0, 1), density=True, color=color or PALETTE[0], alpha=0.7, label=label)
    if uniform is not None:
        ax.axvline(uniform, color="black", ls="--", lw=1, label="uniform choice")
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    return ax


def recovery_intervals(ax: plt.Axes, table, *, xlabel: str = "", label: str = "posterior mean, 90% interval") -> plt.Axes:
    """Posterior mean and interval against the truth, one row per parameter.

    ``table`` has columns mean, lower, upper, truth, covered (as
    :func:`seu_sensitivity.inference.prior_predictive.recovery_table` returns); rows
    whose interval misses the truth are drawn in red.
    """
    labels = list(table.index)
    interval_plot(ax, labels, table["mean"].to_numpy(), table["lower"].to_numpy(), table["upper"].to_numpy(),
                  color=PALETTE[0], label=label, truth=table["truth"].to_numpy())
    missed = np.flatnonzero(~table["covered"].to_numpy(dtype=bool))
    if missed.size:
        ax.hlines(missed, table["lower"].to_numpy()[missed], table["upper"].to_numpy()[missed], color=PALETTE[3],
                  lw=2.2, label="interval misses the truth")
    ax.set_xlabel(xlabel)
    return ax


def per_cell_ppc(
    ax: plt.Axes, labels: Sequence[str], observed: np.ndarray, replicated: np.ndarray, *, xlabel: str = "",
    probs: tuple[float, float] = (0.05, 0.95),
) -> plt.Axes:
    """Per-cell posterior predictive check: replicated statistic (interval) against the observed one.

    observed : (J,); replicated : (S, J). Observed values outside their
    interval are drawn in red.
    """
    replicated = np.asarray(replicated, dtype=float)
    observed = np.asarray(observed, dtype=float)
    lower, upper = np.quantile(replicated, probs, axis=0)
    centre = np.median(replicated, axis=0)
    interval_plot(ax, labels, centre, lower, upper, color=PALETTE[0], label="replicated: median, 90% interval")
    rows = np.arange(len(observed))
    inside = (observed >= lower) & (observed <= upper)
    ax.plot(observed[inside], rows[inside], "D", color="black", ms=5, label="observed")
    if (~inside).any():
        ax.plot(observed[~inside], rows[~inside], "D", color=PALETTE[3], ms=6, label="observed, outside")
    ax.set_xlabel(xlabel)
    return ax


def population_predictive(
    ax: plt.Axes,
    labels: Sequence[str],
    alpha_new: np.ndarray,
    alpha_cell: np.ndarray | None = None,
    *,
    truth: np.ndarray | None = None,
    probs: tuple[float, float] = (0.05, 0.95),
) -> plt.Axes:
    """Predicted alpha of a new cell (population predictive) beside the fitted alpha of the
    existing cell with the same predictors, on a log axis.

    alpha_new, alpha_cell : (S, N). ``truth`` marks the existing cells' true alpha.
    """
    alpha_new = np.asarray(alpha_new, dtype=float)
    lower, upper = np.quantile(alpha_new, probs, axis=0)
    interval_plot(ax, labels, np.median(alpha_new, axis=0), lower, upper, color=PALETTE[1],
                  label=r"new cell: $\alpha_{\mathrm{new}}$")
    if alpha_cell is not None:
        alpha_cell = np.asarray(alpha_cell, dtype=float)
        lo, hi = np.quantile(alpha_cell, probs, axis=0)
        rows = np.arange(alpha_cell.shape[1]) + 0.25
        ax.hlines(rows, lo, hi, color=PALETTE[0], lw=1.6)
        ax.plot(np.median(alpha_cell, axis=0), rows, "o", color=PALETTE[0], ms=4.5,
                label=r"observed cell: $\alpha_j$")
    if truth is not None:
        ax.plot(np.asarray(truth, dtype=float), np.arange(len(truth)) + 0.25, "D", mfc="none", mec="black", ms=5,
                label=r"true $\alpha_j$")
    log_axis(ax)
    ax.set_xlabel(r"$\alpha$ (log scale), median and 90% interval")
    return ax


def cost_bars(ax: plt.Axes, labels: Sequence[str], values: Sequence[float], *, ylabel: str = "",
              annotate: str = "{:,.0f}") -> plt.Axes:
    """Bars of a cost (e.g. softmax evaluations per gradient) per formulation, values printed on top."""
    values = np.asarray(values, dtype=float)
    bars = ax.bar(list(labels), values, color=[PALETTE[i % len(PALETTE)] for i in range(len(values))], alpha=0.8)
    for bar, value in zip(bars, values):
        ax.annotate(annotate.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.set_ylabel(ylabel)
    return ax


def chain_means(
    axes: Sequence[plt.Axes],
    summary: Any,
    modes: Sequence[Sequence[int]],
    *,
    labels: Mapping[str, str] | None = None,
    width: float = 2.0,
) -> Sequence[plt.Axes]:
    """Each chain's mean with +/- ``width`` Monte Carlo standard errors, one panel per quantity.

    ``summary`` is :func:`seu_sensitivity.inference.modes.chain_summary`'s
    long table (``quantity``, ``chain``, ``mean``, ``mcse``), ``modes`` the
    chains grouped into modes (:func:`~seu_sensitivity.inference.modes.chain_modes`):
    chains of one mode share a colour, so a chain that sits elsewhere stands
    out in every panel. ``labels`` maps a quantity to its axis label.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> table = pd.DataFrame({"quantity": ["lp"] * 3, "chain": [0, 1, 2], "mean": [-360.0, -359.5, -367.0],
    ...                       "mcse": [0.2, 0.2, 0.3]})
    >>> fig, ax = plt.subplots()
    >>> len(chain_means([ax], table, [[2], [0, 1]])[0].collections)  # one error-bar set per mode
    2
    >>> plt.close(fig)
    """
    labels = dict(labels or {})
    quantities = list(dict.fromkeys(summary["quantity"]))
    if len(axes) != len(quantities):
        raise ValueError(f"axes: {len(axes)} given for {len(quantities)} quantities ({', '.join(quantities)})")
    mode_of = {chain: m for m, members in enumerate(modes) for chain in members}
    for ax, quantity in zip(axes, quantities):
        rows = summary[summary["quantity"] == quantity]
        for m, members in enumerate(modes):
            part = rows[rows["chain"].isin(members)]
            ax.errorbar(part["chain"], part["mean"], yerr=width * part["mcse"], fmt="o", capsize=3,
                        color=PALETTE[m % len(PALETTE)], label=f"mode {m + 1}" if len(modes) > 1 else None)
        missing = set(rows["chain"]) - set(mode_of)
        if missing:
            raise ValueError(f"modes: chain(s) {sorted(missing)} are in no mode")
        ax.set_xticks(sorted(rows["chain"]))
        ax.set_xticklabels([str(c + 1) for c in sorted(rows["chain"])])
        ax.set_xlabel("chain")
        ax.set_ylabel(labels.get(quantity, quantity))
    if len(modes) > 1:
        axes[0].legend(frameon=False, fontsize=9)
    return axes


#: per-cell quantities a funnel panel can put on its y axis, with their axis labels
FUNNEL_QUANTITIES: dict[str, str] = {
    "deviation": r"$\log\alpha_j - \gamma_0 - \mathbf{X}_j\boldsymbol{\gamma}$",
    "log_alpha": r"$\log\alpha_j$",
    "z": r"$z_j$",
}


def funnel_coordinates(idata: Any, cell: str, quantity: str = "deviation") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The draws of an h_m01-type fit in funnel coordinates, for one cell.

    Returns ``(log sigma_cell, y, diverging)``, each flat over chains and
    draws in the same order, where ``y`` is the cell's ``quantity`` (a key of
    :data:`FUNNEL_QUANTITIES`): its deviation from the regression,
    ``log_alpha - gamma0 - X gamma = sigma_cell * z`` (the default; it
    narrows to 0 as sigma_cell does, whatever gamma0 and gamma are), its
    ``log_alpha``, or its standardised deviation ``z``. Works for h_m01 and
    h_m01_centered alike, since both expose ``z`` and ``log_alpha``.
    """
    if quantity not in FUNNEL_QUANTITIES:
        raise ValueError(f"quantity: choose one of {sorted(FUNNEL_QUANTITIES)}, got {quantity!r}")
    post = idata.posterior
    cells = [str(c) for c in post["z"].coords["cell"].values]
    if cell not in cells:
        raise ValueError(f"cell: {cell!r} is not a cell of this fit; cells: {cells}")
    sigma = post["sigma_cell"].transpose("chain", "draw").values
    if np.any(sigma <= 0):
        raise ValueError("sigma_cell must be positive in every draw (was it held fixed at 0?)")
    z = post["z"].sel(cell=cell).transpose("chain", "draw").values
    y = {"deviation": sigma * z, "z": z,
         "log_alpha": post["log_alpha"].sel(cell=cell).transpose("chain", "draw").values}[quantity]
    diverging = idata.sample_stats["diverging"].transpose("chain", "draw").values.astype(bool)
    return np.log(sigma).ravel(), np.asarray(y, dtype=float).ravel(), diverging.ravel()


def parameterisation_funnels(
    axes: Sequence[plt.Axes],
    fits: Mapping[str, Any],
    cell: str,
    *,
    quantity: str = "deviation",
    y_coverage: float | None = 0.995,
) -> list[plt.Axes]:
    """One funnel panel per fit: log sigma_cell against one cell's ``quantity``, divergent draws in red.

    ``fits`` maps a panel title (e.g. "centred") to an InferenceData of
    h_m01 or h_m01_centered; ``axes`` has one Axes per fit, in the same order.
    Each panel is drawn by :func:`seu_sensitivity.plots.pooling.funnel_scatter`,
    the primer's funnel figure, so the two chapters read alike.
    ``y_coverage`` sets every panel's y range to the central share of the
    draws of all fits (plus a margin), so that a few extreme draws do not
    flatten the funnel; None keeps matplotlib's limits.
    """
    axes = list(axes)
    if len(axes) != len(fits):
        raise ValueError(f"axes: need one Axes per fit ({len(fits)}), got {len(axes)}")
    if y_coverage is not None and not 0 < y_coverage <= 1:
        raise ValueError(f"y_coverage: a share in (0, 1], got {y_coverage}")
    pooled = []
    for ax, (title, idata) in zip(axes, fits.items()):
        log_sigma, y, diverging = funnel_coordinates(idata, cell, quantity)
        funnel_scatter(ax, log_sigma, y, diverging, title=title, theta_label=FUNNEL_QUANTITIES[quantity],
                       scale_label=r"$\log\sigma_{\mathrm{cell}}$")
        pooled.append(y)
    if y_coverage is not None:
        tail = (1 - y_coverage) / 2
        low, high = np.quantile(np.concatenate(pooled), [tail, 1 - tail])
        margin = 0.05 * (high - low) or 0.5
        for ax in axes:
            ax.set_ylim(low - margin, high + margin)
    return axes
