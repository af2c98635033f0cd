"""Figures of a study (:class:`seu_sensitivity.studies.study.Study`): its cells under the three fits.

* :func:`forest_plot`: alpha of every cell, a panel per factor combination
  and a row per level of one factor, one or more estimates side by side
  (independent, hierarchical, pooled);
* :func:`shrinkage_plot`: independent -> hierarchical log(alpha) per cell,
  against the regression line (through the fit with one delta per cell, when
  there is one);
* :func:`regression_band_plot`: the regression line of alpha along a numeric
  factor with its band, and per-cell estimates as points;
* :func:`effect_panels`: multiplicative effects on alpha in labelled groups,
  one panel each, on a shared log axis with plain tick labels;
* :func:`ppc_grid`: one small predictive check per cell;
* :func:`statistic_lines`: a statistic of the data against one factor, a line
  per combination of two others.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> table = pd.DataFrame({"llm": ["a", "a"], "task": ["t", "t"], "temperature": [0.0, 1.0],
...                       "alpha": [10.0, 5.0], "alpha_lower": [8.0, 3.0], "alpha_upper": [12.0, 8.0]})
>>> fig = forest_plot({"independent": table}, rows="llm", columns="task", within="temperature")
>>> len(fig.axes), fig.axes[0].get_title()
(1, 'a, t')
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from seu_sensitivity.plots import PALETTE, levels_in_order

__all__ = ["forest_plot", "shrinkage_plot", "regression_band_plot", "effect_panels", "ppc_grid", "statistic_lines",
           "ESTIMATE_COLORS", "log_ticks"]

#: one colour per estimate, the same in every figure of a study
ESTIMATE_COLORS = {"independent": PALETTE[0], "hierarchical": PALETTE[1], "pooled": PALETTE[2], "line": "black",
                   "hierarchical_own_delta": PALETTE[4]}

_STEPS = (1.0, 2.0, 3.0, 5.0)


def log_ticks(ax: plt.Axes, axis: str = "x", steps: Sequence[float] = _STEPS) -> None:
    """Plain-number ticks on a log axis at ``steps`` x powers of ten (1, 2, 3, 5, 10, 20, ...), no minor labels.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> fig, ax = plt.subplots(); ax.set_xscale("log"); _ = ax.set_xlim(0.25, 4); log_ticks(ax)
    >>> fig.canvas.draw(); [t.get_text() for t in ax.get_xticklabels() if 0.25 <= t.get_position()[0] <= 4]
    ['0.3', '0.5', '1', '2', '3']
    """
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(mticker.LogLocator(base=10, subs=tuple(steps)))
    target.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(mticker.NullLocator())


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype)


def _select(table: pd.DataFrame, names: Sequence[str | None], values: Sequence[object]) -> pd.DataFrame:
    keep = np.ones(len(table), dtype=bool)
    for name, value in zip(names, values):
        if name is not None:
            keep &= (table[name].astype(str) == str(value)).to_numpy()
    return table[keep]


def forest_plot(
    estimates: Mapping[str, pd.DataFrame],
    *,
    rows: str | None,
    columns: str | None,
    within: str,
    value_columns: tuple[str, str, str] = ("alpha", "alpha_lower", "alpha_upper"),
    tick_format: str | None = None,
    log_scale: bool = True,
    figsize: tuple[float, float] | None = None,
) -> plt.Figure:
    """A forest plot of alpha: a panel per level of ``rows`` x ``columns``, a row per level of ``within``.

    ``estimates`` maps a label (``"independent"``, ``"hierarchical"``, ...)
    to a table with the factor columns and the ``value_columns`` (centre,
    lower, upper); several estimates are drawn side by side, shifted
    vertically, in the colours of :data:`ESTIMATE_COLORS`. ``rows`` or
    ``columns`` may be None (a single row or column of panels). The y axis of
    a panel lists the levels of ``within`` that its cells have (so panels may
    differ), labelled by ``tick_format`` (default ``"<within> = {:g}"`` for a
    numeric factor, the level itself otherwise). The x axis is alpha, on a log
    scale by default (the regression's scale); the interval's probability is
    read from the first table's ``attrs["prob"]`` (default 0.9).
    """
    if not estimates:
        raise ValueError("forest_plot: no estimates given")
    first = next(iter(estimates.values()))
    row_levels = levels_in_order(first[rows]) if rows is not None else [None]
    col_levels = levels_in_order(first[columns]) if columns is not None else [None]
    if tick_format is None:
        tick_format = f"{within} = {{:g}}" if _is_numeric(first[within]) else "{}"
    prob = first.attrs.get("prob", 0.9)
    fig, axes = plt.subplots(len(row_levels), len(col_levels),
                             figsize=figsize or (4.2 * len(col_levels), 2.6 * len(row_levels)),
                             sharex=True, squeeze=False)
    n = len(estimates)
    offsets = (np.arange(n) - (n - 1) / 2) * (0.6 / max(n, 1))
    centre_col, lower_col, upper_col = value_columns
    for r, row_level in enumerate(row_levels):
        for c, col_level in enumerate(col_levels):
            ax = axes[r, c]
            levels = None
            for k, (label, table) in enumerate(estimates.items()):
                part = _select(table, (rows, columns), (row_level, col_level)).sort_values(within)
                if levels is None:
                    levels = list(part[within])
                positions = np.array([levels.index(v) for v in part[within]], dtype=float) + offsets[k]
                color = ESTIMATE_COLORS.get(label, PALETTE[k % len(PALETTE)])
                ax.hlines(positions, part[lower_col], part[upper_col], color=color, lw=1.6)
                ax.plot(part[centre_col], positions, "o", color=color, ms=4, label=label)
            ax.set_yticks(np.arange(len(levels or [])))
            ax.set_yticklabels([tick_format.format(v) for v in levels or []])
            ax.set_ylim(len(levels or []) - 0.5, -0.5)
            ax.set_title(", ".join(str(v) for v in (row_level, col_level) if v is not None))
            if log_scale:
                ax.set_xscale("log")
                # plain numbers at 1-2-5 steps: the default log labels (3 x 10^1, ...) collide
                ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(mticker.NullFormatter())
            if r == len(row_levels) - 1:
                ax.set_xlabel(rf"$\alpha$ (median, {prob:.0%} interval)")
    axes[0, -1].legend(loc="best")
    fig.tight_layout()
    return fig


def shrinkage_plot(table: pd.DataFrame, ax: plt.Axes | None = None, labels: Sequence[str] | None = None) -> plt.Axes:
    """Each cell's log(alpha): independent (circle) -> hierarchical (arrow head), and the regression line (bar).

    ``table`` is :meth:`seu_sensitivity.studies.study.Study.shrinkage`. Cells
    are rows; a cross marks the pooled estimate when the table has one. An
    arrow that ends near the bar is a cell pulled to its regression
    prediction; a short arrow, a cell whose own data dominate. When the
    table has the fit with one delta per cell (``own_delta``), the arrow
    passes through it (a diamond, with its own regression line as a thin
    bar): the first step is pooling alpha, the second sharing delta.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.32 * len(table) + 1.2))
    labels = list(labels) if labels is not None else [str(i) for i in table.index]
    rows = np.arange(len(table))
    ax.hlines(rows - 0.18, table["independent_lower"], table["independent_upper"], color=ESTIMATE_COLORS["independent"],
              lw=1.0, alpha=0.6)
    ax.hlines(rows + 0.18, table["hierarchical_lower"], table["hierarchical_upper"],
              color=ESTIMATE_COLORS["hierarchical"], lw=1.0, alpha=0.6)
    for i, (row, start, end) in enumerate(zip(rows, table["independent"], table["hierarchical"])):
        if "own_delta" in table.columns:  # two steps: pooling alpha (own delta), then sharing delta
            middle = table["own_delta"].iloc[i]
            ax.annotate("", xy=(middle, row), xytext=(start, row - 0.18),
                        arrowprops=dict(arrowstyle="->", color="0.35", lw=1.0))
            ax.annotate("", xy=(end, row + 0.18), xytext=(middle, row),
                        arrowprops=dict(arrowstyle="->", color="0.35", lw=1.0))
        else:
            ax.annotate("", xy=(end, row + 0.18), xytext=(start, row - 0.18),
                        arrowprops=dict(arrowstyle="->", color="0.35", lw=1.0))
    ax.plot(table["independent"], rows - 0.18, "o", color=ESTIMATE_COLORS["independent"], ms=4, label="independent")
    ax.plot(table["hierarchical"], rows + 0.18, "o", color=ESTIMATE_COLORS["hierarchical"], ms=4, label="hierarchical")
    ax.plot(table["line"], rows, "|", color=ESTIMATE_COLORS["line"], ms=12, mew=2, label="regression line")
    if "own_delta" in table.columns:
        colour = ESTIMATE_COLORS["hierarchical_own_delta"]
        ax.plot(table["own_delta"], rows, "D", color=colour, ms=4, label="hierarchical, own δ")
        ax.plot(table["line_own_delta"], rows, "|", color=colour, ms=9, mew=1.5, label="own-δ regression line")
    if "pooled" in table.columns:
        ax.plot(table["pooled"], rows, "x", color=ESTIMATE_COLORS["pooled"], ms=6, label="complete pooling")
    ax.set_yticks(rows)
    ax.set_yticklabels(labels)
    ax.set_ylim(len(table) - 0.5, -0.5)
    ax.set_xlabel(rf"$\log\alpha$ (median, {table.attrs.get('prob', 0.9):.0%} interval)")
    # below the axes: inside, the legend would cover the intervals of the last rows
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3, fontsize=9, frameon=False)
    return ax


def regression_band_plot(
    lines: pd.DataFrame,
    points: pd.DataFrame,
    *,
    x: str,
    panel: str,
    colour: str,
    xlabels: Mapping[object, str] | None = None,
    points_label: str = "independent fits",
    line_label: str = "regression line",
    figsize: tuple[float, float] | None = None,
) -> plt.Figure:
    """alpha along ``x``: the regression line and its band, and per-cell estimates, a panel per level of ``panel``.

    ``lines`` has the columns ``panel``, ``colour``, ``x`` and ``median``,
    ``lower``, ``upper`` on the log scale
    (:meth:`~seu_sensitivity.studies.study.Study.regression_lines`);
    ``points`` the same factors and ``alpha``, ``alpha_lower``,
    ``alpha_upper`` on the natural scale
    (:meth:`~seu_sensitivity.studies.study.Study.estimates`). The y axis is
    alpha on a log scale with plain tick labels (10, 20, 30, 50, 100);
    each level of ``colour`` has its colour, its points nudged sideways so
    the intervals do not overlap. ``xlabels`` maps a panel level to its x-axis
    label (default ``x``). Panels share the y axis.
    """
    panel_levels = levels_in_order(points[panel])
    colour_levels = levels_in_order(points[colour])
    prob = lines.attrs.get("prob", points.attrs.get("prob", 0.9))
    fig, axes = plt.subplots(1, len(panel_levels), figsize=figsize or (4.0 * len(panel_levels) + 0.4, 3.8),
                             sharey=True, squeeze=False)
    for ax, level in zip(axes[0], panel_levels):
        span = np.ptp(points.loc[points[panel].astype(str) == str(level), x].to_numpy(float)) or 1.0
        nudge = (np.arange(len(colour_levels)) - (len(colour_levels) - 1) / 2) * 0.025 * span
        for k, group in enumerate(colour_levels):
            color = PALETTE[k % len(PALETTE)]
            line = _select(lines, (panel, colour), (level, group)).sort_values(x)
            ax.fill_between(line[x], np.exp(line["lower"]), np.exp(line["upper"]), color=color, alpha=0.18, lw=0)
            ax.plot(line[x], np.exp(line["median"]), color=color, lw=2)
            part = _select(points, (panel, colour), (level, group)).sort_values(x)
            ax.errorbar(part[x].to_numpy(float) + nudge[k], part["alpha"],
                        yerr=[part["alpha"] - part["alpha_lower"], part["alpha_upper"] - part["alpha"]],
                        fmt="o", color=color, ms=4.5, lw=1.2, capsize=0, mfc="white", mew=1.4)
        ax.set_yscale("log")
        log_ticks(ax, "y")
        ax.set_title(str(level))
        ax.set_xlabel((xlabels or {}).get(level, x))
    axes[0, 0].set_ylabel(rf"$\alpha$ (log scale)")
    handles = [plt.Line2D([], [], color=PALETTE[k % len(PALETTE)], lw=6, alpha=0.4, label=f"{g}")
               for k, g in enumerate(colour_levels)]
    handles += [plt.Line2D([], [], color="0.3", lw=2, label=f"{line_label}, median and {prob:.0%} band"),
                plt.Line2D([], [], color="0.3", marker="o", mfc="white", ls="-", lw=1.2,
                           label=f"{points_label}, median and {prob:.0%} interval")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    return fig


def effect_panels(
    groups: Mapping[str, pd.DataFrame],
    *,
    xlabel: str = r"multiplicative effect on $\alpha$",
    columns: tuple[str, str, str] = ("centre", "lower", "upper"),
    color: str | None = None,
    width: float = 8.0,
) -> plt.Figure:
    """Multiplicative effects in labelled groups: one panel per group, stacked, on a shared log axis.

    ``groups`` maps a panel title to a table indexed by row label with the
    ``columns`` (centre, lower and upper of the factor on alpha; 1 is no
    effect, marked by a dotted line). Panel heights follow their row counts;
    ticks are plain numbers (0.3, 0.5, 1, 2, 3).
    """
    if not groups:
        raise ValueError("effect_panels: no groups")
    sizes = [len(t) for t in groups.values()]
    fig, axes = plt.subplots(len(groups), 1, sharex=True, squeeze=False,
                             figsize=(width, 0.36 * sum(sizes) + 0.75 * len(groups) + 0.6),
                             gridspec_kw={"height_ratios": [n + 0.8 for n in sizes]})
    centre, lower, upper = columns
    for ax, (title, table) in zip(axes[:, 0], groups.items()):
        rows = np.arange(len(table))
        ax.hlines(rows, table[lower], table[upper], color=color or PALETTE[1], lw=1.8)
        ax.plot(table[centre], rows, "o", color=color or PALETTE[1], ms=5)
        ax.set_yticks(rows)
        ax.set_yticklabels([str(i) for i in table.index])
        ax.set_ylim(len(table) - 0.5, -0.5)
        ax.axvline(1.0, color="0.4", ls=":")
        ax.set_title(title, loc="left")
        ax.set_xscale("log")
        log_ticks(ax, "x")
    axes[-1, 0].set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def ppc_grid(
    draws: Mapping[str, tuple[float, np.ndarray]],
    *,
    titles: Mapping[str, str] | None = None,
    ncols: int = 5,
    statistic: str = "repeat consistency",
) -> plt.Figure:
    """One panel per cell: replicated statistic (histogram) against the observed value (red line).

    ``draws`` maps cell_id -> (observed, replicated draws), as
    :func:`seu_sensitivity.studies.study.cell_consistency_draws` returns.
    """
    if not draws:
        raise ValueError("ppc_grid: no cells")
    n = len(draws)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 1.8 * nrows), squeeze=False, sharex=True)
    for ax, (cell_id, (observed, replicated)) in zip(axes.flat, draws.items()):
        replicated = np.asarray(replicated, dtype=float).ravel()
        ax.hist(replicated, bins=np.linspace(0, 1, 26), color=PALETTE[0], alpha=0.6)
        ax.axvline(observed, color=PALETTE[3], lw=1.8)
        ax.set_title((titles or {}).get(cell_id, cell_id), fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.supxlabel(f"{statistic}: replicated (histogram), observed (line)", fontsize=9)
    fig.tight_layout()
    return fig


def statistic_lines(
    table: pd.DataFrame,
    *,
    x: str,
    colour: str,
    style: str | None = None,
    column: str = "repeat consistency",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """A model-free look at the data: ``column`` against ``x``, one line per level of ``colour`` (x ``style``).

    ``table`` has the factor columns and ``column`` (e.g. a study's cells
    joined with :meth:`~seu_sensitivity.studies.study.Study.choice_summary`).
    Colours are the levels of ``colour``; line styles (solid, dashed, ...)
    the levels of ``style``.
    """
    if ax is None:
        _, ax = plt.subplots()
    styles = ["-", "--", ":", "-."]
    style_levels = levels_in_order(table[style]) if style is not None else [None]
    for i, colour_level in enumerate(levels_in_order(table[colour])):
        for k, style_level in enumerate(style_levels):
            part = _select(table, (colour, style), (colour_level, style_level)).sort_values(x)
            label = ", ".join(str(v) for v in (colour_level, style_level) if v is not None)
            ax.plot(part[x], part[column], styles[k % len(styles)], marker="o", ms=4,
                    color=PALETTE[i % len(PALETTE)], label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(column)
    ax.legend()
    return ax
