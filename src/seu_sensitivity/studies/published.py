"""The factorial pilot's own published results, and this book's fits set beside them.

The upstream repository (``jeffhelzner/seu-sensitivity``, MIT licence) fitted
m_01 to each of the twenty pilot datasets on its own and reported, per
dataset, posterior summaries of alpha and three posterior predictive
p-values, and, per LLM x task, the slope of alpha (natural scale) against
temperature through its five datasets, the posterior probability that the
slope is negative and the probability that alpha falls strictly over the five
temperatures. Those figures ship with the pilot's data in ``published/``.

* :func:`published_results`: the two tables, checked field by field;
* :func:`temperature_slopes`: the least-squares slope of alpha on temperature
  through a set of datasets, draw by draw (upstream's summary);
* :func:`decreasing_probability`: the probability that alpha falls strictly
  from each temperature to the next;
* :func:`alpha_comparison` and :func:`slope_comparison`: upstream's numbers
  beside the same summaries of a :class:`~seu_sensitivity.studies.study.Study`'s fits.

>>> per_dataset, slopes = published_results()
>>> len(per_dataset), len(slopes)
(20, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from seu_sensitivity.datasets import PILOT_LLMS, PILOT_TASKS, factorial_pilot_dir
from seu_sensitivity.inference import effects

__all__ = [
    "PER_DATASET_COLUMNS",
    "SLOPE_COLUMNS",
    "published_dir",
    "published_results",
    "temperature_slopes",
    "decreasing_probability",
    "alpha_comparison",
    "slope_comparison",
]

#: columns of ``per_dataset.csv``: name -> kind ("level", "temperature", "positive", "probability", "text")
PER_DATASET_COLUMNS: dict[str, str] = {
    "llm": "llm", "task": "task", "temperature": "temperature",
    "alpha_mean": "positive", "alpha_median": "positive", "alpha_sd": "positive",
    "alpha_q05": "positive", "alpha_q95": "positive",
    "ppc_p_ll": "probability", "ppc_p_modal": "probability", "ppc_p_prob": "probability",
    "upstream_study": "text",
}
#: columns of ``temperature_slopes.csv``; p_negative may be blank (not reported)
SLOPE_COLUMNS: dict[str, str] = {
    "llm": "llm", "task": "task", "slope_point": "number", "slope_point_kind": "kind",
    "slope_ci_low": "number", "slope_ci_high": "number", "p_negative": "probability or blank",
    "monotonicity_prob": "probability", "upstream_study": "text",
}
_KINDS = ("median", "point estimate")


def published_dir() -> Path:
    """Folder of the published results, beside the pilot's data."""
    return factorial_pilot_dir() / "published"


@dataclass(frozen=True)
class _Field:
    path: Path
    row: int  # 1-based data row (line row + 1 of the file)
    column: str

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path.name}, row {self.row} (line {self.row + 1}), field {self.column!r}: {message}")


def _read(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"published results not found: {path}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)} (has {', '.join(table.columns)})")
    out: dict[str, list[Any]] = {c: [] for c in columns}
    for i, record in table.iterrows():
        for column, kind in columns.items():
            where = _Field(path, int(i) + 1, column)
            text = str(record[column]).strip()
            out[column].append(_parse(text, kind, where))
    return pd.DataFrame(out)


def _parse(text: str, kind: str, where: _Field) -> Any:
    if kind == "llm":
        if text not in PILOT_LLMS:
            raise where.error(f"{text!r} is not one of {', '.join(PILOT_LLMS)}")
        return text
    if kind == "task":
        if text not in PILOT_TASKS:
            raise where.error(f"{text!r} is not one of {', '.join(PILOT_TASKS)}")
        return text
    if kind == "text":
        if not text:
            raise where.error("empty")
        return text
    if kind == "kind":
        if text not in _KINDS:
            raise where.error(f"{text!r} is not one of {', '.join(_KINDS)}")
        return text
    if kind == "probability or blank" and text == "":
        return np.nan
    try:
        value = float(text)
    except ValueError:
        raise where.error(f"{text!r} is not a number") from None
    if not np.isfinite(value):
        raise where.error(f"{text!r} is not finite")
    if kind == "temperature" and value < 0:
        raise where.error(f"temperature {value:g} is negative")
    if kind == "positive" and value <= 0:
        raise where.error(f"{value:g} is not positive")
    if kind.startswith("probability") and not 0.0 <= value <= 1.0:
        raise where.error(f"{value:g} is not a probability")
    return value


def published_results(folder: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Upstream's published results for the pilot: ``(per_dataset, slopes)``.

    ``per_dataset`` has one row per dataset (``llm``, ``task``,
    ``temperature``, alpha's ``alpha_mean``, ``alpha_median``, ``alpha_sd``,
    ``alpha_q05``, ``alpha_q95``, the p-values ``ppc_p_ll``, ``ppc_p_modal``,
    ``ppc_p_prob``, ``upstream_study``); ``slopes`` one row per LLM x task
    (:data:`SLOPE_COLUMNS`). Every field is checked: an unknown LLM or task, a
    non-number, a non-positive alpha, a probability outside [0, 1], quantiles
    out of order, a dataset listed twice, or an LLM x task without its slope
    is a ValueError naming the file, the row and the field.
    """
    folder = Path(folder) if folder is not None else published_dir()
    per_dataset = _read(folder / "per_dataset.csv", PER_DATASET_COLUMNS)
    for i, r in per_dataset.iterrows():
        if not r["alpha_q05"] <= r["alpha_median"] <= r["alpha_q95"]:
            raise _Field(folder / "per_dataset.csv", int(i) + 1, "alpha_median").error(
                f"alpha_q05 {r['alpha_q05']:g}, alpha_median {r['alpha_median']:g}, alpha_q95 {r['alpha_q95']:g} are not in order")
    duplicated = per_dataset.duplicated(["llm", "task", "temperature"])
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise _Field(folder / "per_dataset.csv", i + 1, "temperature").error(
            "this llm, task and temperature appear on an earlier row too")
    slopes = _read(folder / "temperature_slopes.csv", SLOPE_COLUMNS)
    for i, r in slopes.iterrows():
        if not r["slope_ci_low"] <= r["slope_point"] <= r["slope_ci_high"]:
            raise _Field(folder / "temperature_slopes.csv", int(i) + 1, "slope_point").error(
                f"{r['slope_point']:g} is outside its interval [{r['slope_ci_low']:g}, {r['slope_ci_high']:g}]")
    pairs = set(zip(per_dataset["llm"], per_dataset["task"]))
    sloped = list(zip(slopes["llm"], slopes["task"]))
    if len(set(sloped)) != len(sloped) or set(sloped) != pairs:
        raise ValueError(f"temperature_slopes.csv: expected one row for each llm x task of per_dataset.csv "
                         f"({sorted(pairs)}), got {sloped}")
    for table in (per_dataset, slopes):
        table["llm"] = pd.Categorical(table["llm"], categories=PILOT_LLMS)
        table["task"] = pd.Categorical(table["task"], categories=PILOT_TASKS)
    return per_dataset, slopes


def temperature_slopes(alpha: np.ndarray, temperatures: Sequence[float]) -> np.ndarray:
    """Least-squares slope of alpha on temperature through the datasets, for each draw.

    ``alpha`` is (S, T): draw s of each of T datasets (for independent fits,
    pairing draw s across datasets is a draw from their joint posterior);
    returns (S,) slopes per unit of temperature.

    >>> temperature_slopes(np.array([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0]]), [0.0, 0.5, 1.0]).tolist()
    [-2.0, 0.0]
    """
    alpha = np.asarray(alpha, dtype=float)
    t = np.asarray(temperatures, dtype=float)
    if alpha.ndim != 2 or alpha.shape[1] != t.size or t.size < 2:
        raise ValueError(f"temperature_slopes: alpha is {alpha.shape}, expected (draws, {t.size}) with 2+ temperatures")
    centred = t - t.mean()
    return (alpha - alpha.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)


def decreasing_probability(alpha: np.ndarray) -> float:
    """Share of draws in which alpha falls strictly from each dataset to the next; alpha (S, T), columns in increasing temperature.

    >>> decreasing_probability(np.array([[3.0, 2.0, 1.0], [3.0, 4.0, 1.0]]))
    0.5
    """
    alpha = np.asarray(alpha, dtype=float)
    return float(np.mean(np.all(np.diff(alpha, axis=1) < 0, axis=1)))


def _alpha_draws(study: Any, model: str, cell_ids: Sequence[str]) -> np.ndarray:
    """(S, len(cell_ids)) alpha draws of ``model``; the independent fits' draws paired by index."""
    if model == "independent":
        return np.stack([study.independent.fits[c].posterior["alpha"].values.ravel() for c in cell_ids], axis=1)
    alpha = study.fit(model).posterior["alpha"].stack(sample=("chain", "draw")).transpose("sample", ...)
    return np.stack([alpha.sel(cell=c).values for c in cell_ids], axis=1)


def _cell_of(study: Any, llm: str, task: str, temperature: float | None = None) -> pd.DataFrame:
    cells = study.cells
    pick = (cells["llm"].astype(str) == str(llm)) & (cells["task"].astype(str) == str(task))
    if temperature is not None:
        pick &= np.isclose(cells["temperature"].astype(float), float(temperature))
    return cells[pick].sort_values("temperature")


def alpha_comparison(study: Any, per_dataset: pd.DataFrame, prob: float = 0.9,
                     models: Sequence[str] = ("independent", "hierarchical")) -> pd.DataFrame:
    """Per dataset: upstream's alpha (median, 5% and 95% quantiles) beside this book's fits.

    One row per row of ``per_dataset`` (indexed by cell id): ``llm``, ``task``,
    ``temperature``, ``upstream``, ``upstream_lower``, ``upstream_upper``, then
    for each model its median and central ``prob`` interval of alpha
    (``independent``, ``independent_lower``, ...). Upstream's intervals are
    90%; compare with ``prob`` = 0.9. A dataset of ``per_dataset`` that the
    study lacks is a ValueError.
    """
    estimates = {m: study.estimates(m, prob).set_index("cell_id") for m in models}
    rows = {}
    for _, r in per_dataset.iterrows():
        match = _cell_of(study, r["llm"], r["task"], r["temperature"])
        if len(match) != 1:
            raise ValueError(f"alpha_comparison: the study has {len(match)} datasets for {r['llm']}, {r['task']}, "
                             f"temperature {r['temperature']:g}")
        cell_id = str(match["cell_id"].iloc[0])
        row = {"llm": r["llm"], "task": r["task"], "temperature": float(r["temperature"]),
               "upstream": r["alpha_median"], "upstream_lower": r["alpha_q05"], "upstream_upper": r["alpha_q95"]}
        for m, table in estimates.items():
            row[m] = table.loc[cell_id, "alpha"]
            row[f"{m}_lower"] = table.loc[cell_id, "alpha_lower"]
            row[f"{m}_upper"] = table.loc[cell_id, "alpha_upper"]
        rows[cell_id] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "cell_id"
    out["llm"] = pd.Categorical(out["llm"], categories=PILOT_LLMS)
    out["task"] = pd.Categorical(out["task"], categories=PILOT_TASKS)
    out.attrs["prob"] = prob
    return out


def slope_comparison(study: Any, slopes: pd.DataFrame, prob: float = 0.9,
                     models: Sequence[str] = ("independent", "hierarchical"),
                     coefficient: str = "temperature | {llm}, {task}") -> pd.DataFrame:
    """Per LLM x task: upstream's temperature slope beside the same summaries of this book's fits.

    For each model, the least-squares slope of alpha on temperature through
    the LLM x task's datasets, draw by draw (:func:`temperature_slopes`,
    natural scale, per unit of the provider's temperature): median
    (``<model> slope``), central ``prob`` interval, P(slope < 0), and
    :func:`decreasing_probability`. For the hierarchical fit, also the
    posterior probability that the regression's own slope of log(alpha) is
    negative (``hierarchical P(gamma_T < 0)``), the coefficient named by
    ``coefficient`` formatted with the LLM and task. Upstream's columns keep
    their names from :data:`SLOPE_COLUMNS`.
    """
    low, high = effects.tails(prob)
    rows = []
    for _, s in slopes.iterrows():
        cells = _cell_of(study, s["llm"], s["task"])
        temperatures = cells["temperature"].to_numpy(float)
        row: dict[str, Any] = {c: s[c] for c in ("llm", "task", "slope_point", "slope_point_kind", "slope_ci_low",
                                                 "slope_ci_high", "p_negative", "monotonicity_prob")}
        for m in models:
            alpha = _alpha_draws(study, m, list(cells["cell_id"]))
            b = temperature_slopes(alpha, temperatures)
            lower, median, upper = np.quantile(b, [low, 0.5, high])
            row.update({f"{m} slope": median, f"{m} lower": lower, f"{m} upper": upper,
                        f"{m} P(slope < 0)": float(np.mean(b < 0)),
                        f"{m} P(decreasing)": decreasing_probability(alpha)})
            if m == "hierarchical":
                name = coefficient.format(llm=s["llm"], task=s["task"])
                gamma = study.fit(m).posterior["gamma"]
                predictors = [str(p) for p in gamma["predictor"].values]
                row["hierarchical P(gamma_T < 0)"] = (float((gamma.sel(predictor=name) < 0).mean())
                                                      if name in predictors else np.nan)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["prob"] = prob
    return out
