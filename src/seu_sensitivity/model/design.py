"""Design matrices for the regression on log(alpha): cell tables in, X out.

formulaic does the coding; this module builds the cell table of a factorial
experiment, chooses contrasts, drops the intercept (h_m01 carries gamma0
separately) and refuses designs whose columns cannot all be estimated.

Example
-------
>>> d = factorial_design({"llm": ["A", "B"], "prompt": ["neutral", "directive"]})
>>> d.X.shape
(4, 2)
>>> list(d.X.columns)
['llm[T.B]', 'prompt[T.directive]']
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from formulaic import ModelSpec, model_matrix
from formulaic.errors import FactorEvaluationError

CODINGS = ("treatment", "sum")

#: separator of factor levels in generated cell ids ("gpt-4o__neutral")
CELL_ID_SEP = "__"


@dataclass(frozen=True)
class Design:
    """The cell-level design of a multi-cell experiment.

    Attributes
    ----------
    X : DataFrame, J x P
        Predictors of log(alpha_j), indexed by ``cell_id``, named columns, no
        intercept column.
    cells : DataFrame, J rows
        ``cell_id`` and the factor (and continuous predictor) values of each cell.
    coding : str
        ``"treatment"``, ``"sum"`` or ``"formula"`` (built by :func:`design_from_formula`).
    formula : str
        The formulaic formula that produced X (with the intercept).
    """

    X: pd.DataFrame
    cells: pd.DataFrame
    coding: str
    formula: str
    model_spec: ModelSpec | None = field(default=None, repr=False, compare=False)
    _renames: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def J(self) -> int:
        return self.X.shape[0]

    @property
    def P(self) -> int:
        return self.X.shape[1]

    @property
    def predictors(self) -> list[str]:
        return list(self.X.columns)

    @property
    def cell_ids(self) -> list[str]:
        return list(self.cells["cell_id"])

    def predictor_row(self, **values: Any) -> pd.Series:
        """The X row of a (possibly unobserved) cell with the given factor values.

        Uses the stored formulaic spec, so codings and centring are those of
        the design (a centred temperature stays centred at the design's mean).

        >>> d = factorial_design({"llm": ["A", "B"]}, continuous={"t": [0.0, 1.0]})
        >>> d.predictor_row(llm="B", t=2.0).tolist()
        [1.0, 1.5]
        """
        if self.model_spec is None:
            raise ValueError("this design has no formula spec to evaluate new cells with")
        needed = [c for c in self.cells.columns if c != "cell_id"]
        missing = [name for name in needed if name not in values]
        if missing:
            raise ValueError(f"predictor_row needs a value for {', '.join(missing)}")
        frame = pd.DataFrame({name: [values[name]] for name in needed})
        row = self.model_spec.get_model_matrix(frame)
        row = pd.DataFrame(np.asarray(row, dtype=float), columns=list(row.columns))
        row = row.rename(columns=_renamer(self._renames)).drop(columns="Intercept")
        return row.iloc[0][self.predictors]


def _renamer(renames: Sequence[tuple[str, str]]):
    def rename(name: str) -> str:
        for long, short in renames:
            name = name.replace(long, short)
        return name

    return rename


def _check_levels(name: str, levels: Sequence[Any]) -> list[Any]:
    levels = list(levels)
    if not levels:
        raise ValueError(f"factor {name!r} has no levels")
    seen: set[Any] = set()
    for level in levels:
        if level in seen:
            raise ValueError(f"factor {name!r} lists level {level!r} more than once")
        seen.add(level)
    return levels


def _quoted(name: str) -> str:
    # formulaic needs backticks only for names that are not identifiers (and
    # mangles `t` inside center(`t`), so quote no more than necessary)
    return name if name.isidentifier() else f"`{name}`"


def _factor_expression(name: str, levels: list[Any], coding: str, reference: Any) -> str:
    if coding == "treatment":
        return f"C({_quoted(name)}, contr.treatment(base={reference!r}), levels={levels!r})"
    # Sum contrasts omit the last level (coded -1 in every column): put the
    # reference there so "reference" means the same thing in both codings.
    ordered = [level for level in levels if level != reference] + [reference]
    return f"C({_quoted(name)}, contr.sum, levels={ordered!r})"


def factorial_design(
    factors: Mapping[str, Sequence[Any]],
    coding: str = "treatment",
    reference: Mapping[str, Any] | None = None,
    interactions: Iterable[Sequence[str] | str] | None = None,
    continuous: Mapping[str, Sequence[float]] | None = None,
    center: bool = True,
) -> Design:
    """Design of a fully crossed factorial experiment.

    Parameters
    ----------
    factors
        Factor name -> its levels, in order. Cells are the cartesian product,
        the first factor varying slowest (the seed's order: model, then prompt).
    coding
        ``"treatment"`` (dummies against a reference level; gamma_p is a log
        ratio to the reference) or ``"sum"`` (effect coding; gamma_p is a
        deviation from the grand mean, the reference level coded -1).
    reference
        Factor name -> reference level; by default each factor's first level.
    interactions
        Products of main-effect columns, as tuples of names (``("llm", "prompt")``)
        or formula terms (``"llm:prompt"``).
    continuous
        Continuous predictors crossed with the factors: name -> values. They
        enter linearly, centred at their mean over the cells when ``center``.

    Examples
    --------
    The seed's alignment-study design: 6 models x 3 prompts, J = 18, P = 7.

    >>> d = factorial_design({"model": ["m1", "m2", "m3", "m4", "m5", "m6"],
    ...                       "prompt": ["neutral", "cot", "role"]})
    >>> d.X.shape, bool((d.X.iloc[0] == 0).all())
    ((18, 7), True)
    """
    if coding not in CODINGS:
        raise ValueError(f"coding must be one of {CODINGS}, not {coding!r}")
    if not factors and not continuous:
        raise ValueError("a design needs at least one factor or continuous predictor")
    reference = dict(reference or {})
    continuous = dict(continuous or {})

    checked: dict[str, list[Any]] = {name: _check_levels(name, levels) for name, levels in factors.items()}
    for name, levels in checked.items():
        if len(levels) < 2:
            raise ValueError(
                f"factor {name!r} has a single level {levels[0]!r}: it adds no column to X and cannot "
                "explain differences between cells; drop it or give it at least two levels"
            )
    for name in reference:
        if name not in checked:
            raise ValueError(f"reference names {name!r}, which is not a factor (factors: {', '.join(checked)})")
        if reference[name] not in checked[name]:
            raise ValueError(
                f"reference level {reference[name]!r} of factor {name!r} is not one of its levels {checked[name]!r}"
            )
    for name, values in continuous.items():
        if name in checked:
            raise ValueError(f"{name!r} is given both as a factor and as a continuous predictor")
        values = _check_levels(name, values)
        array = np.asarray(values, dtype=float)
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(f"continuous predictor {name!r} has a non-finite value {array[bad[0]]}")
        continuous[name] = values

    all_names = list(checked) + list(continuous)
    rows = list(itertools.product(*checked.values(), *continuous.values()))
    cells = pd.DataFrame(rows, columns=all_names)
    cells.insert(0, "cell_id", [CELL_ID_SEP.join(str(v) for v in row) for row in rows])

    expressions: dict[str, str] = {}
    for name, levels in checked.items():
        expressions[name] = _factor_expression(name, levels, coding, reference.get(name, levels[0]))
    for name in continuous:
        expressions[name] = f"center({_quoted(name)})" if center else _quoted(name)

    terms = [expressions[name] for name in all_names]
    for interaction in interactions or ():
        parts = interaction.split(":") if isinstance(interaction, str) else list(interaction)
        parts = [part.strip() for part in parts]
        unknown = [part for part in parts if part not in expressions]
        if unknown:
            raise ValueError(f"interaction {':'.join(parts)!r} names unknown predictor(s) {', '.join(unknown)}")
        if len(parts) < 2:
            raise ValueError(f"interaction {parts!r} needs at least two predictors")
        terms.append(":".join(expressions[part] for part in parts))
    formula = "~ " + " + ".join(terms)
    renames = tuple((expr, name) for name, expr in expressions.items())
    return _build(cells, formula, coding, renames)


#: The prospective alignment study of the hierarchical formulation: six LLMs
#: crossed with three prompting strategies (J = 18 cells), GPT-4o x neutral the
#: reference cell.
ALIGNMENT_STUDY: dict[str, list[str]] = {
    "model": ["GPT-4o", "GPT-4o-mini", "Claude 3.5S", "Claude 3.5H", "Gemini 1.5P", "Gemini 1.5F"],
    "prompt": ["neutral", "chain-of-thought", "role-play"],
}


def alignment_study_design(**options: Any) -> Design:
    """The 6 x 3 alignment-study design; ``options`` go to :func:`factorial_design`.

    >>> d = alignment_study_design()
    >>> d.J, d.P, d.cell_ids[0]
    (18, 7, 'GPT-4o__neutral')
    """
    return factorial_design(ALIGNMENT_STUDY, **options)


def design_from_formula(cells: pd.DataFrame, formula: str) -> Design:
    """Design from any formulaic formula over a table of cells.

    ``cells`` has one row per cell: a ``cell_id`` column (generated from the
    row number when absent) and the columns the formula uses. String columns
    are coded with their levels in sorted order; use pandas Categoricals to
    choose the order (the first category is the treatment reference). The
    intercept is removed from X (h_m01 has gamma0), so formulas should keep it.

    >>> cells = pd.DataFrame({"cell_id": ["a", "b", "c", "d"], "llm": ["x", "x", "y", "y"],
    ...                       "temperature": [0.0, 1.0, 0.0, 1.0]})
    >>> list(design_from_formula(cells, "~ llm * center(temperature)").X.columns)
    ['llm[T.y]', 'center(temperature)', 'llm[T.y]:center(temperature)']
    """
    cells = cells.copy()
    if "cell_id" not in cells.columns:
        cells.insert(0, "cell_id", [f"cell{i + 1}" for i in range(len(cells))])
    cells["cell_id"] = cells["cell_id"].astype(str)
    duplicated = cells["cell_id"][cells["cell_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"cells: duplicate cell_id {duplicated.iloc[0]!r}")
    if len(cells) == 0:
        raise ValueError("cells: the table has no rows")
    for column in cells.columns:
        if column == "cell_id" or not pd.api.types.is_numeric_dtype(cells[column]):
            continue
        values = cells[column].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            row = bad[0]
            raise ValueError(
                f"cells: column {column!r} has a non-finite value {values[row]} "
                f"in cell {cells['cell_id'].iloc[row]!r} (row {row})"
            )
    return _build(cells.reset_index(drop=True), formula, "formula", ())


def _single_level_columns(cells: pd.DataFrame, formula: str, x_columns: Sequence[str]) -> list[str]:
    """Categorical columns the formula names that take one value in every cell and so give X no column."""
    out = []
    for column in cells.columns:
        if column == "cell_id" or pd.api.types.is_numeric_dtype(cells[column]) or cells[column].nunique() != 1:
            continue
        named = re.compile(rf"(?<![\w.]){re.escape(str(column))}(?![\w.])")
        if named.search(formula) and not any(named.search(x) for x in x_columns):
            out.append(str(column))
    return out


def _build(cells: pd.DataFrame, formula: str, coding: str, renames: tuple[tuple[str, str], ...]) -> Design:
    data = cells.drop(columns="cell_id")
    try:
        matrix = model_matrix(formula, data, na_action="raise")
    except FactorEvaluationError as exc:
        missing = re.search(r"`([^`]+)` is not present", str(exc))
        if missing:
            raise ValueError(
                f"formula {formula!r} uses {missing.group(1)!r}, which is not a column of the cells table "
                f"(columns: {', '.join(map(str, data.columns)) or 'none'})"
            ) from exc
        raise ValueError(f"formula {formula!r}: {exc}") from exc
    single = _single_level_columns(cells, formula, [str(c) for c in matrix.columns])
    if single:
        name = single[0]
        raise ValueError(
            f"cells: column {name!r} has the single value {cells[name].iloc[0]!r} in every cell, so the formula's "
            f"{name!r} term adds no column to X; drop it from the formula or include cells with other values"
        )
    names = [_renamer(renames)(name) for name in matrix.columns]
    full = pd.DataFrame(np.asarray(matrix, dtype=float), columns=names)
    if "Intercept" not in full.columns:
        raise ValueError(
            f"formula {formula!r} removes the intercept; h_m01 always has gamma0, so keep it "
            "(the design would be aliased with gamma0)"
        )
    _check_rank(full)
    X = full.drop(columns="Intercept")
    X.index = pd.Index(cells["cell_id"], name="cell_id")
    return Design(X=X, cells=cells, coding=coding, formula=formula, model_spec=matrix.model_spec, _renames=renames)


def _check_rank(full: pd.DataFrame) -> None:
    """Refuse X whose columns (with the intercept) are linearly dependent.

    Walks the columns in order and names each one that the earlier columns
    already span, with the combination that reproduces it.
    """
    values = full.to_numpy()
    tol = max(values.shape) * np.finfo(float).eps * max(1.0, np.abs(values).max(initial=0.0)) * 1e3
    kept: list[int] = []
    aliased: list[str] = []
    for col in range(values.shape[1]):
        candidate = values[:, kept + [col]]
        if np.linalg.matrix_rank(candidate, tol=tol) == len(kept) + 1:
            kept.append(col)
            continue
        coef, *_ = np.linalg.lstsq(values[:, kept], values[:, col], rcond=None)
        combo = " + ".join(
            f"{c:g}*{full.columns[k]}" for c, k in zip(coef, kept) if not math.isclose(c, 0.0, abs_tol=1e-9)
        )
        aliased.append(f"{full.columns[col]} = {combo or '0'}")
    if aliased:
        raise ValueError(
            f"design matrix is rank deficient ({len(kept)} independent of {values.shape[1]} columns "
            f"with the intercept); aliased: {'; '.join(aliased)}"
        )
