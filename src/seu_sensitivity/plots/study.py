"""Figures of the application chapter (the factorial pilot re-analysed).

* :func:`forest_by_temperature`: alpha by temperature in each LLM x task
  panel, one or more estimates side by side (independent, hierarchical, pooled);
* :func:`shrinkage_plot`: independent -> hierarchical log(alpha) per cell,
  against the regression line;
* :func:`ppc_grid`: one small predictive check per cell.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> table = pd.DataFrame({"llm": ["a", "a"], "task": ["t", "t"], "temperature": [0.0, 1.0],
...                       "alpha": [10.0, 5.0], "alpha_lower": [8.0, 3.0], "alpha_upper": [12.0, 8.0]})
>>> fig = forest_by_temperature({"independent": table})
>>> len(fig.axes)
1
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from seu_sensitivity.plots import PALETTE

__all__ = ["forest_by_temperature", "shrinkage_plot", "ppc_grid", "consistency_by_temperature", "ESTIMATE_COLORS"]

#: one colour per estimate, the same in every figure of the chapter
ESTIMATE_COLORS = {"independent": PALETTE[0], "hierarchical": PALETTE[1], "pooled": PALETTE[2], "line": "black"}


def _levels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [level for level in series.cat.categories if level in set(series)]
    return list(dict.fromkeys(series))


def forest_by_temperature(
    estimates: Mapping[str, pd.DataFrame],
    *,
    columns: tuple[str, str, str] = ("alpha", "alpha_lower", "alpha_upper"),
    log_scale: bool = True,
    figsize: tuple[float, float] | None = None,
) -> plt.Figure:
    """A forest plot of alpha by temperature in each LLM x task panel (rows: LLM, columns: task).

    ``estimates`` maps a label (``"independent"``, ``"hierarchical"``, ...)
    to a table with ``llm``, ``task``, ``temperature`` and the ``columns``
    (centre, lower, upper); several estimates are drawn side by side, shifted
    vertically, in the colours of :data:`ESTIMATE_COLORS`. The x axis is
    alpha on a log scale (the regression's scale); the y axis lists the
    temperatures of that LLM, since the providers' temperature grids differ.
    """
    if not estimates:
        raise ValueError("forest_by_temperature: no estimates given")
    first = next(iter(estimates.values()))
    llms, tasks = _levels(first["llm"]), _levels(first["task"])
    fig, axes = plt.subplots(len(llms), len(tasks), figsize=figsize or (4.2 * len(tasks), 2.6 * len(llms)),
                             sharex=True, squeeze=False)
    n = len(estimates)
    offsets = (np.arange(n) - (n - 1) / 2) * (0.6 / max(n, 1))
    centre_col, lower_col, upper_col = columns
    for r, llm in enumerate(llms):
        for c, task in enumerate(tasks):
            ax = axes[r, c]
            temps = None
            for k, (label, table) in enumerate(estimates.items()):
                part = table[(table["llm"].astype(str) == str(llm)) & (table["task"].astype(str) == str(task))]
                part = part.sort_values("temperature")
                if temps is None:
                    temps = list(part["temperature"])
                rows = np.array([temps.index(t) for t in part["temperature"]], dtype=float) + offsets[k]
                color = ESTIMATE_COLORS.get(label, PALETTE[k % len(PALETTE)])
                ax.hlines(rows, part[lower_col], part[upper_col], color=color, lw=1.6)
                ax.plot(part[centre_col], rows, "o", color=color, ms=4, label=label)
            ax.set_yticks(np.arange(len(temps or [])))
            ax.set_yticklabels([f"T = {t:g}" for t in temps or []])
            ax.set_ylim(len(temps or []) - 0.5, -0.5)
            ax.set_title(f"{llm}, {task}")
            if log_scale:
                ax.set_xscale("log")
                # plain numbers at 1-2-5 steps: the default log labels (3 x 10^1, ...) collide
                ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(mticker.NullFormatter())
            if r == len(llms) - 1:
                ax.set_xlabel(r"$\alpha$ (median, 90% interval)")
    axes[0, -1].legend(loc="best")
    fig.tight_layout()
    return fig


def shrinkage_plot(table: pd.DataFrame, ax: plt.Axes | None = None, labels: Sequence[str] | None = None) -> plt.Axes:
    """Each cell's log(alpha): independent (circle) -> hierarchical (arrow head), and the regression line (bar).

    ``table`` is :func:`seu_sensitivity.studies.pilot.shrinkage_table`. Cells
    are rows; a cross marks the pooled estimate when the table has one. An
    arrow that ends near the bar is a cell pulled to its regression
    prediction; a short arrow, a cell whose own data dominate.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.32 * len(table) + 1.2))
    labels = list(labels) if labels is not None else [str(i) for i in table.index]
    rows = np.arange(len(table))
    ax.hlines(rows - 0.18, table["independent_lower"], table["independent_upper"], color=ESTIMATE_COLORS["independent"],
              lw=1.0, alpha=0.6)
    ax.hlines(rows + 0.18, table["hierarchical_lower"], table["hierarchical_upper"],
              color=ESTIMATE_COLORS["hierarchical"], lw=1.0, alpha=0.6)
    for row, start, end in zip(rows, table["independent"], table["hierarchical"]):
        ax.annotate("", xy=(end, row + 0.18), xytext=(start, row - 0.18),
                    arrowprops=dict(arrowstyle="->", color="0.35", lw=1.0))
    ax.plot(table["independent"], rows - 0.18, "o", color=ESTIMATE_COLORS["independent"], ms=4, label="independent")
    ax.plot(table["hierarchical"], rows + 0.18, "o", color=ESTIMATE_COLORS["hierarchical"], ms=4, label="hierarchical")
    ax.plot(table["line"], rows, "|", color=ESTIMATE_COLORS["line"], ms=12, mew=2, label="regression line")
    if "pooled" in table.columns:
        ax.plot(table["pooled"], rows, "x", color=ESTIMATE_COLORS["pooled"], ms=6, label="pooled (one per task)")
    ax.set_yticks(rows)
    ax.set_yticklabels(labels)
    ax.set_ylim(len(table) - 0.5, -0.5)
    ax.set_xlabel(r"$\log\alpha$ (median, 90% interval)")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def ppc_grid(
    draws: Mapping[str, tuple[float, np.ndarray]],
    *,
    titles: Mapping[str, str] | None = None,
    ncols: int = 5,
    statistic: str = "repeat consistency",
) -> plt.Figure:
    """One panel per cell: replicated statistic (histogram) against the observed value (red line).

    ``draws`` maps cell_id -> (observed, replicated draws), as
    :func:`seu_sensitivity.studies.pilot.cell_consistency_draws` returns.
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


def consistency_by_temperature(table: pd.DataFrame, ax: plt.Axes | None = None,
                               column: str = "repeat consistency") -> plt.Axes:
    """A model-free look at the data: ``column`` against temperature, one line per LLM x task.

    ``table`` has ``llm``, ``task``, ``temperature`` and ``column`` (e.g. the
    cells table joined with :func:`seu_sensitivity.studies.pilot.choice_distribution`).
    Solid lines are the first task, dashed the second; colours are the LLMs.
    """
    if ax is None:
        _, ax = plt.subplots()
    styles = ["-", "--", ":", "-."]
    for i, llm in enumerate(_levels(table["llm"])):
        for k, task in enumerate(_levels(table["task"])):
            part = table[(table["llm"].astype(str) == str(llm)) & (table["task"].astype(str) == str(task))]
            part = part.sort_values("temperature")
            ax.plot(part["temperature"], part[column], styles[k % len(styles)], marker="o", ms=4,
                    color=PALETTE[i % len(PALETTE)], label=f"{llm}, {task}")
    ax.set_xlabel("temperature (provider's own scale)")
    ax.set_ylabel(column)
    ax.legend()
    return ax
