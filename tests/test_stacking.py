"""CellData and StackedData: layout, round trips, and every rejection with its message."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seu_sensitivity.model.design import factorial_design
from seu_sensitivity.model.stacking import CellData, StackedData, stack_cells


def make_cell(rng: np.random.Generator, M: int = 6, R: int = 5, D: int = 2, K: int = 3, cell_id=None, w=None):
    if w is None:
        w = rng.standard_normal((R, D))
    R = w.shape[0]
    I = np.zeros((M, R), dtype=int)
    for m in range(M):
        I[m, rng.choice(R, size=rng.integers(2, min(4, R) + 1), replace=False)] = 1
    y = np.array([rng.integers(1, size + 1) for size in I.sum(axis=1)])
    return CellData(w=w, I=I, y=y, K=K, cell_id=cell_id)


@st.composite
def cell_collections(draw):
    """A few cells with random sizes, shared or per-cell features, one or two utility groups."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    J = draw(st.integers(1, 4))
    R = draw(st.integers(2, 6))
    D = draw(st.integers(1, 3))
    shared = draw(st.booleans())
    two_groups = draw(st.booleans())
    w_shared = rng.standard_normal((R, D))
    cells, groups = [], {}
    for j in range(J):
        group = "g2" if (two_groups and j % 2) else "g1"
        K = 4 if group == "g2" else 3
        M = draw(st.integers(1, 8))
        cells.append(make_cell(rng, M=M, K=K, cell_id=f"c{j}", w=w_shared if shared else rng.standard_normal((R, D))))
        groups[f"c{j}"] = group
    return cells, groups


# -- CellData ---------------------------------------------------------------


def test_cell_from_stan_json_reads_the_m01_layout(tmp_path):
    rng = np.random.default_rng(1)
    cell = make_cell(rng, M=7, R=6, D=3, K=4, cell_id="x")
    path = tmp_path / "cell.json"
    path.write_text(json.dumps(cell.to_stan()))
    again = CellData.from_stan_json(path, cell_id="x")
    assert again == cell
    assert (again.M, again.R, again.D, again.K) == (7, 6, 3, 4)


def test_cell_from_stan_json_checks_declared_sizes(tmp_path):
    cell = make_cell(np.random.default_rng(2), M=4, R=5)
    raw = cell.to_stan() | {"M": 5}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="field M = 5 but the arrays give 4"):
        CellData.from_stan_json(path)


def test_chosen_alternative_maps_menu_positions_to_alternatives():
    I = np.array([[1, 0, 1, 1], [0, 1, 1, 0]])
    cell = CellData(w=np.zeros((4, 1)), I=I, y=[3, 1], K=2)
    assert cell.chosen_alternative.tolist() == [3, 1]


def test_cell_arrays_are_copied_and_read_only():
    w = np.zeros((3, 1))
    cell = CellData(w=w, I=[[1, 1, 0]], y=[1], K=2)
    w[0, 0] = 5.0
    assert cell.w[0, 0] == 0.0
    with pytest.raises(ValueError):
        cell.w[0, 0] = 1.0


GOOD = {"w": [[0.0], [1.0], [2.0]], "I": [[1, 1, 0], [0, 1, 1]], "y": [1, 2], "K": 3, "cell_id": "c7"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y": [1, 3]}, r"cell 'c7': y = 3 at row 1 is outside 1..2 \(the menu size\)"),
        ({"y": [0, 1]}, r"cell 'c7': y = 0 at row 0 is outside 1..2"),
        ({"y": [1.5, 1]}, r"cell 'c7': y must be integers; row 0"),
        ({"I": [[1, 1, 0], [0, 0, 1]]}, r"cell 'c7': row 1 of I has a menu of 1 alternative\(s\)"),
        ({"I": [[1, 2, 0], [0, 1, 1]]}, r"cell 'c7': I must hold only 0 and 1; row 0 is \[1, 2, 0\]"),
        ({"I": [[1, 1], [1, 1]]}, r"cell 'c7': I must be an M x R matrix with R = 3 columns"),
        ({"w": [0.0, 1.0, 2.0]}, r"cell 'c7': w must be an R x D matrix"),
        ({"w": [[0.0], [np.nan], [2.0]]}, r"cell 'c7': w has a non-finite value nan at row 1"),
        ({"w": [[0.0], [np.inf], [2.0]]}, r"cell 'c7': w has a non-finite value inf at row 1"),
        ({"I": np.zeros((0, 3)), "y": []}, r"cell 'c7': no observations"),
        ({"y": [1]}, r"cell 'c7': y must have one entry per row of I \(M = 2\)"),
        ({"K": 1}, r"cell 'c7': K = 1; a choice model needs at least 2 consequences"),
    ],
)
def test_cell_rejections_name_field_cell_and_row(change, message):
    with pytest.raises(ValueError, match=message):
        CellData(**(GOOD | change))


# -- stacking ----------------------------------------------------------------


def test_stack_concatenates_with_one_based_cell_vector_and_shared_features_once():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 2))
    cells = [make_cell(rng, M=m, w=w, cell_id=f"c{j}") for j, m in enumerate([3, 1, 4])]
    data = stack_cells(cells)
    assert data.cell_of.tolist() == [1, 1, 1, 2, 3, 3, 3, 3]
    assert data.F == 1 and data.shared_features and data.feature_set.tolist() == [1, 1, 1]
    assert data.M == 8 and data.J == 3 and data.G == 1 and data.P == 0
    assert data.cell_sizes.tolist() == [3, 1, 4]
    stan = data.to_stan()
    assert stan["cell"] == data.cell_of.tolist() and stan["K"] == [3] and stan["group"] == [1, 1, 1]
    assert np.asarray(stan["w"]).shape == (1, 5, 2) and np.asarray(stan["X"]).shape == (3, 0)


def test_per_cell_features_and_task_groups_with_different_K():
    rng = np.random.default_rng(4)
    cells = {
        "gpt__ins": make_cell(rng, K=3),
        "gpt__ell": make_cell(rng, K=4),
        "cl__ins": make_cell(rng, K=3),
        "cl__ell": make_cell(rng, K=4),
    }
    data = stack_cells(cells, utility_group=lambda cell_id: cell_id.split("__")[1])
    assert data.F == 4 and data.feature_set.tolist() == [1, 2, 3, 4]
    assert data.group_names == ("ins", "ell") and data.group.tolist() == [1, 2, 1, 2]
    assert data.K_group.tolist() == [3, 4]
    for cell_id, cell in cells.items():
        assert data.cell(cell_id) == CellData(w=cell.w, I=cell.I, y=cell.y, K=cell.K, cell_id=cell_id)


def test_design_rows_are_matched_to_cells_by_id_and_group_from_design_column():
    design = factorial_design({"llm": ["a", "b"], "task": ["x", "y"]})
    rng = np.random.default_rng(5)
    ids = list(reversed(design.cell_ids))  # a different order from the design
    cells = [make_cell(rng, K=3 if cid.endswith("x") else 4, cell_id=cid) for cid in ids]
    data = stack_cells(cells, design=design, utility_group="task")
    assert list(data.X.index) == ids
    pd.testing.assert_frame_equal(data.X, design.X.loc[ids])
    assert data.group_names == ("y", "x")
    frame = data.to_frame()
    assert {"llm", "task"} <= set(frame.columns)
    assert (frame.groupby("cell_id")["task"].first().loc[ids] == [cid.split("__")[1] for cid in ids]).all()


@settings(max_examples=60, deadline=None)
@given(cell_collections())
def test_round_trips_cell_and_frame(collection):
    cells, groups = collection
    data = stack_cells(cells, utility_group=groups)
    for position, cell in enumerate(cells):
        assert data.cell(cell.cell_id) == cell
        assert data.cell(position) == cell
    frame = data.to_frame()
    assert len(frame) == sum(cell.M for cell in cells)
    assert (frame["menu_size"] == frame["menu"].map(len)).all()
    # the chosen alternative is on the menu, at the recorded position
    for menu, choice, alternative in frame[["menu", "choice", "alternative"]].itertuples(index=False):
        assert menu[choice - 1] == alternative
    w = {cell.cell_id: cell.w for cell in cells}
    K = {cell.cell_id: cell.K for cell in cells}
    again = StackedData.from_frame(frame.sample(frac=1.0, random_state=0), w=w, K=K, utility_group=groups)
    assert again == data


def test_cell_lookup_errors():
    data = stack_cells([make_cell(np.random.default_rng(6), cell_id="only")])
    with pytest.raises(KeyError, match="no cell 'other'; cells: only"):
        data.cell("other")
    with pytest.raises(IndexError, match="out of range for 1 cells"):
        data.cell(3)


def test_stack_rejections():
    rng = np.random.default_rng(7)
    a = make_cell(rng, R=5, D=2, cell_id="a")
    with pytest.raises(ValueError, match="cell 'b': R = 4 but cell 'a' has R = 5"):
        stack_cells([a, make_cell(rng, R=4, D=2, cell_id="b")])
    with pytest.raises(ValueError, match="cell 'b': D = 3 but cell 'a' has D = 2"):
        stack_cells([a, make_cell(rng, R=5, D=3, cell_id="b")])
    with pytest.raises(ValueError, match=r"cell 'b': K = 4 but cell 'a' of the same utility group 'all' has K = 3"):
        stack_cells([a, make_cell(rng, K=4, cell_id="b")])
    with pytest.raises(ValueError, match=r"duplicate cell_id 'a' \(items 0 and 1\)"):
        stack_cells([a, make_cell(rng, cell_id="a")])
    with pytest.raises(ValueError, match="key 'z' holds a cell whose cell_id is 'a'"):
        stack_cells({"z": a})
    with pytest.raises(ValueError, match="no cells given"):
        stack_cells([])
    with pytest.raises(ValueError, match="no group for cell"):
        stack_cells([a], utility_group={"other": "g"})


def test_design_mismatch_is_rejected_naming_cells():
    design = factorial_design({"llm": ["a", "b"]})
    rng = np.random.default_rng(8)
    cells = [make_cell(rng, cell_id="a"), make_cell(rng, cell_id="c")]
    with pytest.raises(ValueError, match="cells without a design row: c; design rows without a cell: b"):
        stack_cells(cells, design=design)
    with pytest.raises(ValueError, match="cells without a design row: c"):
        stack_cells(cells + [make_cell(rng, cell_id="b")], design=design)
    bad = design.X.copy()
    bad.iloc[1, 0] = np.nan
    with pytest.raises(ValueError, match="predictor 'llm\\[T.b\\]' is not finite in cell 'b'"):
        stack_cells([make_cell(rng, cell_id="a"), make_cell(rng, cell_id="b")], design=bad)


def test_from_frame_rejects_menu_outside_pool():
    frame = pd.DataFrame({"cell_id": ["a"], "menu": [(1, 9)], "choice": [1]})
    with pytest.raises(ValueError, match=r"cell 'a', row 0: menu \(1, 9\) names an alternative outside 1..3"):
        StackedData.from_frame(frame, w=np.zeros((3, 1)), K=2)


def test_distinct_menus_counts_each_cells_menus_once():
    rng = np.random.default_rng(5)
    I = np.zeros((12, 5), dtype=int)
    for row in I:
        row[rng.choice(5, size=rng.integers(2, 5), replace=False)] = 1
    y = np.array([rng.integers(1, row.sum() + 1) for row in I])
    w = rng.normal(size=(5, 2))
    one = CellData(w=w, I=I, y=y, K=3, cell_id="one")
    expected = len({tuple(row) for row in I})
    assert stack_cells([one]).distinct_menus == expected
    # showing every menu again adds no distinct menu; the same menus in another cell do
    twice = CellData(w=w, I=np.vstack([I, I]), y=np.concatenate([y, y]), K=3, cell_id="one")
    assert stack_cells([twice]).distinct_menus == expected
    other = CellData(w=w, I=I, y=y, K=3, cell_id="other")
    assert stack_cells([one, other]).distinct_menus == 2 * expected


@pytest.mark.parametrize("field", ["w", "I", "y"])
def test_ragged_lists_name_the_field_and_the_cell(field):
    good = dict(w=[[0.0], [1.0], [2.0]], I=[[1, 1, 0], [0, 1, 1]], y=[1, 2])
    ragged = {"w": [[0.0], [1.0, 2.0], [2.0]], "I": [[1, 1, 0], [0, 1]], "y": [1, [2, 1]]}
    with pytest.raises(ValueError, match=rf"cell 'c7': {field} must be a rectangular array"):
        CellData(**{**good, field: ragged[field]}, K=2, cell_id="c7")


def test_from_frame_names_a_cell_missing_from_w_or_K():
    a = CellData(w=[[0.0], [1.0]], I=[[1, 1]], y=[1], K=2, cell_id="a")
    b = CellData(w=[[0.0], [1.0]], I=[[1, 1]], y=[2], K=2, cell_id="b")
    frame = stack_cells([a, b]).to_frame()
    with pytest.raises(ValueError, match=r"w: no entry for cell 'b'"):
        StackedData.from_frame(frame, w={"a": a.w}, K=2)
    with pytest.raises(ValueError, match=r"K: no entry for cell 'b'"):
        StackedData.from_frame(frame, w=a.w, K={"a": 2})
    assert StackedData.from_frame(frame, w={"a": a.w, "b": b.w}, K={"a": 2, "b": 2}) == stack_cells([a, b])
