"""One cell's choice data, and J cells stacked into the one dataset h_m01 reads.

A cell is in the layout of the single-cell model m_01:

=====  =========  ===========================================================
field  shape      meaning
=====  =========  ===========================================================
w      R x D      feature vector of each alternative
I      M x R      1 where alternative r is on the menu of problem m
y      M          choice: 1-based position among the available alternatives
                  of problem m, alternatives taken in increasing r
K      int        number of consequences
=====  =========  ===========================================================

Stacking concatenates the observations of J cells, records ``cell[m]``
(1-based), stores each distinct feature matrix once, and assigns each cell a
utility group (cells of a group share delta, so they share K).

Every problem in the input is a ``ValueError`` naming the field, the cell and,
where there is one, the row (0-based, as in the arrays).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from seu_sensitivity.model.design import Design

__all__ = ["CellData", "StackedData", "stack_cells", "resolve_groups"]


def _where(cell_id: str | None) -> str:
    return f"cell {cell_id!r}" if cell_id is not None else "cell"


def _rectangular(value: Any, field: str, where: str, dtype: Any = None) -> np.ndarray:
    """``np.array(value)``, with an error naming the field and cell when rows have different lengths."""
    try:
        return np.array(value, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {field} must be a rectangular array of numbers "
                         f"(rows of equal length): {exc}") from None


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class CellData:
    """Choice data of one cell, validated, in the m_01 layout.

    >>> cell = CellData(w=[[0.0], [1.0], [2.0]], I=[[1, 1, 0], [0, 1, 1]], y=[2, 1], K=3, cell_id="a")
    >>> cell.M, cell.R, cell.D, cell.chosen_alternative.tolist()
    (2, 3, 1, [1, 1])
    """

    w: np.ndarray
    I: np.ndarray
    y: np.ndarray
    K: int
    cell_id: str | None = None

    def __post_init__(self) -> None:
        where = _where(self.cell_id)
        w = _rectangular(self.w, "w", where, dtype=float)
        if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
            raise ValueError(f"{where}: w must be an R x D matrix with R, D >= 1, got shape {w.shape}")
        bad = np.argwhere(~np.isfinite(w))
        if bad.size:
            r, d = bad[0]
            raise ValueError(f"{where}: w has a non-finite value {w[r, d]} at row {r} (alternative), column {d}")
        I_raw = _rectangular(self.I, "I", where)
        if I_raw.ndim != 2 or I_raw.shape[1] != w.shape[0]:
            raise ValueError(
                f"{where}: I must be an M x R matrix with R = {w.shape[0]} columns (rows of w), got shape {I_raw.shape}"
            )
        if I_raw.shape[0] == 0:
            raise ValueError(f"{where}: no observations (I and y are empty)")
        bad_rows = np.flatnonzero(~np.isin(I_raw, (0, 1)).all(axis=1))
        if bad_rows.size:
            row = bad_rows[0]
            raise ValueError(f"{where}: I must hold only 0 and 1; row {row} is {I_raw[row].tolist()}")
        I = I_raw.astype(np.int64)
        sizes = I.sum(axis=1)
        small = np.flatnonzero(sizes < 2)
        if small.size:
            row = small[0]
            raise ValueError(f"{where}: row {row} of I has a menu of {sizes[row]} alternative(s); a menu needs at least 2")
        y_raw = _rectangular(self.y, "y", where)
        if y_raw.ndim != 1 or y_raw.shape[0] != I.shape[0]:
            raise ValueError(f"{where}: y must have one entry per row of I (M = {I.shape[0]}), got shape {y_raw.shape}")
        if y_raw.dtype.kind == "f":
            if not np.all(np.isfinite(y_raw)) or np.any(y_raw != np.round(y_raw)):
                row = int(np.flatnonzero(~np.isfinite(y_raw) | (y_raw != np.round(y_raw)))[0])
                raise ValueError(f"{where}: y must be integers; row {row} is {y_raw[row]}")
        elif y_raw.dtype.kind not in "iu":
            raise ValueError(f"{where}: y must be integers, got dtype {y_raw.dtype}")
        y = y_raw.astype(np.int64)
        out = np.flatnonzero((y < 1) | (y > sizes))
        if out.size:
            row = out[0]
            raise ValueError(f"{where}: y = {y[row]} at row {row} is outside 1..{sizes[row]} (the menu size)")
        if isinstance(self.K, bool) or int(self.K) != self.K:
            raise ValueError(f"{where}: K must be an integer, got {self.K!r}")
        if self.K < 2:
            raise ValueError(f"{where}: K = {self.K}; a choice model needs at least 2 consequences")
        object.__setattr__(self, "w", _readonly(w))
        object.__setattr__(self, "I", _readonly(I))
        object.__setattr__(self, "y", _readonly(y))
        object.__setattr__(self, "K", int(self.K))
        if self.cell_id is not None:
            object.__setattr__(self, "cell_id", str(self.cell_id))

    # -- shapes -----------------------------------------------------------
    @property
    def M(self) -> int:
        return self.I.shape[0]

    @property
    def R(self) -> int:
        return self.w.shape[0]

    @property
    def D(self) -> int:
        return self.w.shape[1]

    @property
    def menu_sizes(self) -> np.ndarray:
        return self.I.sum(axis=1)

    @property
    def chosen_alternative(self) -> np.ndarray:
        """0-based index r of the chosen alternative of each problem."""
        return choice_to_alternative(self.I, self.y)

    # -- conversion -------------------------------------------------------
    def to_stan(self) -> dict[str, Any]:
        """The data dict of m_01 (without priors): M, K, D, R, w, I, y."""
        return {
            "M": self.M,
            "K": self.K,
            "D": self.D,
            "R": self.R,
            "w": self.w.tolist(),
            "I": self.I.tolist(),
            "y": self.y.tolist(),
        }

    @classmethod
    def from_stan_json(cls, path: str | PathLike[str], cell_id: str | None = None) -> "CellData":
        """Read a cell from a JSON file in the m_01 layout (M, K, D, R, w, I, y).

        The scalar sizes in the file must agree with the arrays.
        """
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        where = f"{path}" + (f" (cell {cell_id!r})" if cell_id is not None else "")
        missing = [name for name in ("K", "w", "I", "y") if name not in raw]
        if missing:
            raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
        cell = cls(w=raw["w"], I=raw["I"], y=raw["y"], K=raw["K"], cell_id=cell_id)
        for name in ("M", "D", "R"):
            if name in raw and raw[name] != getattr(cell, name):
                raise ValueError(f"{where}: field {name} = {raw[name]} but the arrays give {getattr(cell, name)}")
        return cell

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CellData):
            return NotImplemented
        return (
            self.K == other.K
            and self.cell_id == other.cell_id
            and np.array_equal(self.w, other.w)
            and np.array_equal(self.I, other.I)
            and np.array_equal(self.y, other.y)
        )

    __hash__ = None  # type: ignore[assignment]


def choice_to_alternative(I: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0-based alternative index r chosen in each problem, from 1-based menu positions; y : (..., M) -> (..., M).

    One table lookup for all replications at once: ``table[m, p - 1]`` is the
    alternative at menu position p of problem m. A y that is not a position of
    its menu raises ValueError naming the problem.
    """
    I = np.asarray(I)
    y = np.asarray(y)
    if y.shape[-1:] != I.shape[:1]:
        raise ValueError(f"choice_to_alternative: y has {y.shape[-1:]} problems in its last axis, I has {I.shape[0]} rows")
    positions = np.cumsum(I, axis=1)
    sizes = positions[:, -1]
    rows, cols = np.nonzero(I)
    table = np.zeros(I.shape, dtype=np.intp)
    table[rows, positions[rows, cols] - 1] = cols
    y_int = y.astype(np.intp)
    bad = (y_int != y) | (y_int < 1) | (y_int > sizes)
    if bad.any():
        where = np.unravel_index(int(np.argmax(bad)), y.shape)
        m = where[-1]
        raise ValueError(f"choice_to_alternative: y = {y[where]!r} in problem {m} (row {m} of I) "
                         f"is not a menu position 1..{sizes[m]}")
    return table[np.arange(I.shape[0]), y_int - 1]


@dataclass(frozen=True, eq=False)
class StackedData:
    """J cells of choice data in one dataset, the input of h_m01.

    Use :func:`stack_cells` to build one. Arrays are read-only.

    Attributes
    ----------
    cell_ids : the J cell ids, in stacking order
    K : (J,) consequences of each cell
    group : (J,) 1-based utility group of each cell; group_names their names
    w : (F, R, D) the distinct feature matrices; feature_set (J,) 1-based index into them
    I, y, cell_of : the M_total observations (menus, choices, 1-based cell)
    X : J x P predictors (zero columns when there is no design)
    design : the Design, when one was given
    """

    cell_ids: tuple[str, ...]
    K: np.ndarray
    group: np.ndarray
    group_names: tuple[str, ...]
    w: np.ndarray
    feature_set: np.ndarray
    I: np.ndarray
    y: np.ndarray
    cell_of: np.ndarray
    X: pd.DataFrame
    design: Design | None = field(default=None, repr=False)

    @property
    def J(self) -> int:
        return len(self.cell_ids)

    @property
    def M(self) -> int:
        return self.I.shape[0]

    @property
    def R(self) -> int:
        return self.w.shape[1]

    @property
    def D(self) -> int:
        return self.w.shape[2]

    @property
    def F(self) -> int:
        return self.w.shape[0]

    @property
    def G(self) -> int:
        return len(self.group_names)

    @property
    def P(self) -> int:
        return self.X.shape[1]

    @property
    def K_group(self) -> np.ndarray:
        """(G,) consequences of each utility group."""
        out = np.zeros(self.G, dtype=np.int64)
        out[self.group - 1] = self.K
        return out

    @property
    def shared_features(self) -> bool:
        return self.F == 1

    @property
    def cell_sizes(self) -> np.ndarray:
        """(J,) observations per cell."""
        return np.bincount(self.cell_of - 1, minlength=self.J)

    @property
    def distinct_menus(self) -> int:
        """Number of distinct (cell, menu) pairs: the log-sum-exp terms h_m01's likelihood evaluates.

        The programs sum the log likelihood through its sufficient statistics
        (choice counts, and each distinct menu of a cell weighted by how often
        it was shown), so repeated menus cost nothing extra.

        >>> a = CellData(w=[[0.0], [1.0], [2.0]], I=[[1, 1, 0], [1, 1, 0], [0, 1, 1]], y=[1, 2, 1], K=2, cell_id="a")
        >>> stack_cells([a]).distinct_menus
        2
        """
        rows = np.column_stack([self.cell_of, self.I])
        return int(len(np.unique(rows, axis=0)))

    def _index(self, j: int | str) -> int:
        if isinstance(j, str):
            try:
                return self.cell_ids.index(j)
            except ValueError:
                raise KeyError(f"no cell {j!r}; cells: {', '.join(self.cell_ids)}") from None
        if not -self.J <= j < self.J:
            raise IndexError(f"cell index {j} out of range for {self.J} cells (0-based)")
        return j % self.J

    def cell(self, j: int | str) -> CellData:
        """The cell's data (by cell id, or 0-based position) exactly as it was stacked."""
        index = self._index(j)
        rows = self.cell_of == index + 1
        return CellData(
            w=self.w[self.feature_set[index] - 1],
            I=self.I[rows],
            y=self.y[rows],
            K=int(self.K[index]),
            cell_id=self.cell_ids[index],
        )

    def to_stan(self) -> dict[str, Any]:
        """The data dict of h_m01 (without priors and prediction inputs).

        ============  ==================  =========================================
        name          shape               meaning
        ============  ==================  =========================================
        J, P          int                 cells, predictors
        X             J x P               design matrix, no intercept
        G             int                 utility groups (cells sharing delta)
        K             G                   consequences of each group
        group         J                   1-based group of each cell
        D, R, F       int                 features, alternatives, feature sets
        w             F x R x D           distinct feature matrices
        feature_set   J                   1-based feature set of each cell
        M             int                 total observations
        cell          M                   1-based cell of each observation
        I             M x R               menus (0/1)
        y             M                   choice, 1-based position in the menu
        ============  ==================  =========================================
        """
        return {
            "J": self.J,
            "P": self.P,
            "X": self.X.to_numpy(dtype=float).reshape(self.J, self.P).tolist(),
            "G": self.G,
            "K": self.K_group.tolist(),
            "group": self.group.tolist(),
            "D": self.D,
            "R": self.R,
            "F": self.F,
            "w": self.w.tolist(),
            "feature_set": self.feature_set.tolist(),
            "M": self.M,
            "cell": self.cell_of.tolist(),
            "I": self.I.tolist(),
            "y": self.y.tolist(),
        }

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per observation.

        Columns: ``cell_id``, ``cell`` (1-based), ``problem`` (1-based within
        the cell), ``menu`` (tuple of 1-based alternatives on offer),
        ``menu_size``, ``choice`` (y, 1-based position in the menu),
        ``alternative`` (1-based index of the chosen alternative), then the
        cell's design columns when there is a design.
        """
        problem = np.empty(self.M, dtype=np.int64)
        for j in range(self.J):
            rows = np.flatnonzero(self.cell_of == j + 1)
            problem[rows] = np.arange(1, rows.size + 1)
        menus = [tuple(int(r) + 1 for r in np.flatnonzero(row)) for row in self.I]
        frame = pd.DataFrame(
            {
                "cell_id": [self.cell_ids[c - 1] for c in self.cell_of],
                "cell": self.cell_of,
                "problem": problem,
                "menu": menus,
                "menu_size": self.I.sum(axis=1),
                "choice": self.y,
                "alternative": choice_to_alternative(self.I, self.y) + 1,
            }
        )
        if self.design is not None:
            factors = self.design.cells.set_index("cell_id")
            for column in factors.columns:
                frame[column] = frame["cell_id"].map(factors[column]).to_numpy()
        return frame

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        w: np.ndarray | Mapping[str, np.ndarray],
        K: int | Mapping[str, int],
        design: Design | None = None,
        utility_group: str | Mapping[str, Any] | None = None,
    ) -> "StackedData":
        """Rebuild stacked data from the long format of :meth:`to_frame`.

        ``frame`` needs ``cell_id``, ``menu`` (1-based alternatives) and
        ``choice`` (1-based menu position); ``problem`` orders rows within a
        cell when present. Cells are ordered by the ``cell`` column when present,
        else by first appearance. ``w``
        is one R x D matrix for all cells or a mapping cell id -> matrix; ``K``
        likewise.
        """
        missing = [column for column in ("cell_id", "menu", "choice") if column not in frame.columns]
        if missing:
            raise ValueError(f"frame: missing column(s) {', '.join(missing)}")
        if "cell" in frame.columns:  # the stacking order, when the frame records it
            order = list(dict.fromkeys(frame.sort_values("cell", kind="stable")["cell_id"].astype(str)))
        else:
            order = list(dict.fromkeys(frame["cell_id"].astype(str)))
        cells = []
        for cell_id in order:
            part = frame[frame["cell_id"].astype(str) == cell_id]
            if "problem" in part.columns:
                part = part.sort_values("problem", kind="stable")
            for name, given in (("w", w), ("K", K)):
                if isinstance(given, Mapping) and cell_id not in given:
                    raise ValueError(f"{name}: no entry for cell {cell_id!r} of the frame "
                                     f"(have {', '.join(map(repr, given)) or 'none'})")
            w_cell = _rectangular(w[cell_id] if isinstance(w, Mapping) else w, "w", _where(cell_id), dtype=float)
            K_cell = K[cell_id] if isinstance(K, Mapping) else K
            I = np.zeros((len(part), w_cell.shape[0]), dtype=np.int64)
            for row, menu in enumerate(part["menu"]):
                alternatives = np.asarray(menu, dtype=np.int64) - 1
                if alternatives.size and (alternatives.min() < 0 or alternatives.max() >= w_cell.shape[0]):
                    raise ValueError(
                        f"cell {cell_id!r}, row {row}: menu {tuple(menu)} names an alternative outside 1..{w_cell.shape[0]}"
                    )
                I[row, alternatives] = 1
            cells.append(CellData(w=w_cell, I=I, y=part["choice"].to_numpy(), K=K_cell, cell_id=cell_id))
        return stack_cells(cells, design=design, utility_group=utility_group)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StackedData):
            return NotImplemented
        return (
            self.cell_ids == other.cell_ids
            and self.group_names == other.group_names
            and all(
                np.array_equal(getattr(self, name), getattr(other, name))
                for name in ("K", "group", "w", "feature_set", "I", "y", "cell_of")
            )
            and self.X.equals(other.X)
        )

    __hash__ = None  # type: ignore[assignment]


def _cells_with_ids(cells: Sequence[CellData] | Mapping[str, CellData]) -> list[CellData]:
    if isinstance(cells, Mapping):
        items = list(cells.items())
    else:
        items = [(None, cell) for cell in cells]
    if not items:
        raise ValueError("stack_cells: no cells given")
    out = []
    for position, (key, cell) in enumerate(items):
        if not isinstance(cell, CellData):
            raise ValueError(f"stack_cells: item {position} is a {type(cell).__name__}, not CellData")
        if key is not None and cell.cell_id is not None and str(key) != cell.cell_id:
            raise ValueError(f"stack_cells: key {key!r} holds a cell whose cell_id is {cell.cell_id!r}")
        cell_id = str(key) if key is not None else cell.cell_id
        if cell_id is None:
            cell_id = f"cell{position + 1}"
        if cell_id != cell.cell_id:
            cell = CellData(w=cell.w, I=cell.I, y=cell.y, K=cell.K, cell_id=cell_id)
        out.append(cell)
    seen: dict[str, int] = {}
    for position, cell in enumerate(out):
        if cell.cell_id in seen:
            raise ValueError(
                f"stack_cells: duplicate cell_id {cell.cell_id!r} (items {seen[cell.cell_id]} and {position})"
            )
        seen[cell.cell_id] = position
    return out


def _design_matrix(design: Design | pd.DataFrame | None, cell_ids: list[str]) -> tuple[pd.DataFrame, Design | None]:
    if design is None:
        return pd.DataFrame(index=pd.Index(cell_ids, name="cell_id")), None
    X = design.X if isinstance(design, Design) else design
    if not isinstance(X, pd.DataFrame):
        raise ValueError("design must be a Design or a DataFrame of predictors indexed by cell_id")
    design_ids = [str(i) for i in X.index]
    missing = [c for c in cell_ids if c not in design_ids]
    extra = [c for c in design_ids if c not in cell_ids]
    if missing or extra or len(design_ids) != len(cell_ids):
        parts = []
        if missing:
            parts.append(f"cells without a design row: {', '.join(missing)}")
        if extra:
            parts.append(f"design rows without a cell: {', '.join(extra)}")
        if not parts:
            parts.append("the design has duplicate rows")
        raise ValueError("design rows do not match the cells; " + "; ".join(parts))
    X = X.copy()
    X.index = pd.Index(design_ids, name="cell_id")
    X = X.loc[cell_ids].astype(float)
    bad = np.argwhere(~np.isfinite(X.to_numpy()))
    if bad.size:
        row, col = bad[0]
        raise ValueError(f"design: predictor {X.columns[col]!r} is not finite in cell {cell_ids[row]!r}")
    return X, design if isinstance(design, Design) else None


def resolve_groups(
    utility_group: str | Mapping[str, Any] | Sequence[Any] | Callable[[str], Any] | None,
    ids: Sequence[str],
    design: Design | None,
) -> tuple[list[str], tuple[str, ...]]:
    """Utility-group label of each cell id, and the group names in order of appearance.

    ``utility_group`` is None (one group, ``"all"``), a column of the design's
    cell table, a mapping cell id -> label, a sequence aligned with ``ids``, or
    a function of the cell id.
    """
    if utility_group is None:
        labels: list[Any] = ["all"] * len(ids)
    elif isinstance(utility_group, str):
        if design is None or utility_group not in design.cells.columns:
            raise ValueError(
                f"utility_group {utility_group!r} names a column of the design's cell table, "
                "but there is no design with such a column"
            )
        table = design.cells.set_index("cell_id")[utility_group]
        labels = [table[cell_id] for cell_id in ids]
    elif isinstance(utility_group, Mapping):
        missing = [cell_id for cell_id in ids if cell_id not in utility_group]
        if missing:
            raise ValueError(f"utility_group: no group for cell(s) {', '.join(map(repr, missing))}")
        labels = [utility_group[cell_id] for cell_id in ids]
    elif callable(utility_group):
        labels = [utility_group(cell_id) for cell_id in ids]
    else:
        labels = list(utility_group)
        if len(labels) != len(ids):
            raise ValueError(f"utility_group: {len(labels)} labels for {len(ids)} cells")
    names = tuple(str(label) for label in dict.fromkeys(labels))
    return [str(label) for label in labels], names


def stack_cells(
    cells: Sequence[CellData] | Mapping[str, CellData],
    design: Design | pd.DataFrame | None = None,
    utility_group: str | Mapping[str, Any] | Sequence[Any] | Callable[[str], Any] | None = None,
) -> StackedData:
    """Concatenate J cells into one dataset for h_m01.

    Parameters
    ----------
    cells
        A sequence of :class:`CellData` (ids from their ``cell_id``, else
        ``cell1``, ``cell2``, ...) or a mapping cell id -> CellData.
    design
        A :class:`~seu_sensitivity.model.design.Design` (or a DataFrame of
        predictors indexed by cell id) with exactly one row per cell; rows are
        matched to cells by id.
    utility_group
        Which cells share delta: a column of the design's cell table
        (``"task"``), a mapping cell id -> group, a sequence of labels aligned
        with ``cells``, or a function of the cell id. Default: one group.

    All cells must have the same R and D (beta_j is K x D, menus index the
    same pool). Identical feature matrices are stored once.

    >>> a = CellData(w=[[0.0], [1.0]], I=[[1, 1]], y=[1], K=2, cell_id="a")
    >>> b = CellData(w=[[0.0], [1.0]], I=[[1, 1], [1, 1]], y=[2, 2], K=2, cell_id="b")
    >>> data = stack_cells([a, b])
    >>> data.cell_of.tolist(), data.F
    ([1, 2, 2], 1)
    """
    cell_list = _cells_with_ids(cells)
    ids = [cell.cell_id for cell in cell_list]
    first = cell_list[0]
    for cell in cell_list[1:]:
        for name in ("R", "D"):
            if getattr(cell, name) != getattr(first, name):
                raise ValueError(
                    f"cell {cell.cell_id!r}: {name} = {getattr(cell, name)} but cell {first.cell_id!r} has "
                    f"{name} = {getattr(first, name)}; all cells must share {name}"
                )
    X, design_obj = _design_matrix(design, ids)
    labels, group_names = resolve_groups(utility_group, ids, design_obj)
    group = np.array([group_names.index(label) + 1 for label in labels], dtype=np.int64)
    group_K: dict[str, tuple[int, str]] = {}
    for cell, label in zip(cell_list, labels):
        if label in group_K and group_K[label][0] != cell.K:
            K_first, id_first = group_K[label]
            raise ValueError(
                f"cell {cell.cell_id!r}: K = {cell.K} but cell {id_first!r} of the same utility group "
                f"{label!r} has K = {K_first}; cells sharing delta must share K"
            )
        group_K.setdefault(label, (cell.K, cell.cell_id))

    feature_sets: list[np.ndarray] = []
    feature_set = np.empty(len(cell_list), dtype=np.int64)
    for j, cell in enumerate(cell_list):
        for f, existing in enumerate(feature_sets):
            if np.array_equal(existing, cell.w):
                feature_set[j] = f + 1
                break
        else:
            feature_sets.append(cell.w)
            feature_set[j] = len(feature_sets)

    return StackedData(
        cell_ids=tuple(ids),
        K=_readonly(np.array([cell.K for cell in cell_list], dtype=np.int64)),
        group=_readonly(group),
        group_names=group_names,
        w=_readonly(np.stack(feature_sets)),
        feature_set=_readonly(feature_set),
        I=_readonly(np.concatenate([cell.I for cell in cell_list])),
        y=_readonly(np.concatenate([cell.y for cell in cell_list])),
        cell_of=_readonly(np.repeat(np.arange(1, len(cell_list) + 1), [cell.M for cell in cell_list])),
        X=X,
        design=design_obj,
    )
