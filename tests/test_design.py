"""Design matrices: the seed's 6 x 3 example, codings, interactions, continuous predictors, rejections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seu_sensitivity.model.design import ALIGNMENT_STUDY, alignment_study_design, design_from_formula, factorial_design

MODELS = ["GPT-4o", "GPT-4o-mini", "Claude 3.5S", "Claude 3.5H", "Gemini 1.5P", "Gemini 1.5F"]
PROMPTS = ["neutral", "chain-of-thought", "role-play"]


def test_seed_six_by_three_design_is_exact():
    design = factorial_design({"model": MODELS, "prompt": PROMPTS})
    X = design.X.to_numpy()
    assert X.shape == (18, 7) and design.J == 18 and design.P == 7
    # Reference cell (GPT-4o x neutral) first, all zeros.
    assert design.cells.iloc[0][["model", "prompt"]].tolist() == ["GPT-4o", "neutral"]
    assert np.all(X[0] == 0)
    # Column order: 5 model dummies in level order, then 2 prompt dummies.
    assert design.predictors == [f"model[T.{m}]" for m in MODELS[1:]] + [f"prompt[T.{p}]" for p in PROMPTS[1:]]
    # Each row is the indicator of its model (if not reference) and prompt (if not reference).
    for row, (model, prompt) in enumerate(design.cells[["model", "prompt"]].itertuples(index=False)):
        expected = np.zeros(7)
        if model != MODELS[0]:
            expected[MODELS.index(model) - 1] = 1
        if prompt != PROMPTS[0]:
            expected[5 + PROMPTS.index(prompt) - 1] = 1
        np.testing.assert_array_equal(X[row], expected)
    # Cells in the seed's order: model outer, prompt inner.
    assert design.cells["model"].tolist() == [m for m in MODELS for _ in PROMPTS]
    assert design.X.index.tolist() == design.cells["cell_id"].tolist()


def test_alignment_study_design_is_the_seed_design():
    """The package's named 6 x 3 design is the seed's (the chapters use it)."""

    assert ALIGNMENT_STUDY == {"model": MODELS, "prompt": PROMPTS}
    expected = factorial_design({"model": MODELS, "prompt": PROMPTS}, interactions=[("model", "prompt")])
    got = alignment_study_design(interactions=[("model", "prompt")])
    assert got.predictors == expected.predictors
    np.testing.assert_array_equal(got.X.to_numpy(), expected.X.to_numpy())


def test_reference_level_moves_the_zero_row():
    design = factorial_design({"model": MODELS, "prompt": PROMPTS}, reference={"prompt": "role-play"})
    zero_rows = design.cells[(design.X == 0).all(axis=1).to_numpy()]
    assert zero_rows[["model", "prompt"]].values.tolist() == [["GPT-4o", "role-play"]]
    assert "prompt[T.neutral]" in design.predictors and "prompt[T.role-play]" not in design.predictors


def test_sum_coding_columns_sum_to_zero_and_code_reference_minus_one():
    design = factorial_design({"llm": ["a", "b", "c"], "task": ["x", "y"]}, coding="sum")
    X = design.X
    np.testing.assert_allclose(X.sum(axis=0).to_numpy(), 0.0)  # balanced design: effects are deviations
    llm_columns = [c for c in X.columns if c.startswith("llm")]
    assert len(llm_columns) == 2
    reference_rows = design.cells["llm"].to_numpy() == "a"  # first level is the reference by default
    assert np.all(X.loc[reference_rows, llm_columns].to_numpy() == -1)


def test_interactions_are_products_of_main_effect_columns():
    design = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q", "r"]}, interactions=[("llm", "prompt")])
    assert design.P == 1 + 2 + 2
    X = design.X
    for prompt in ["q", "r"]:
        product = X["llm[T.b]"] * X[f"prompt[T.{prompt}]"]
        np.testing.assert_array_equal(X[f"llm[T.b]:prompt[T.{prompt}]"], product)
    same = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q", "r"]}, interactions=["llm:prompt"])
    pd.testing.assert_frame_equal(design.X, same.X)


def test_continuous_predictor_is_centred_and_mixed_with_factors():
    design = factorial_design({"llm": ["a", "b"]}, continuous={"temperature": [0.0, 0.5, 1.0]})
    assert design.J == 6 and design.predictors == ["llm[T.b]", "temperature"]
    np.testing.assert_allclose(design.X["temperature"].to_numpy(), np.tile([-0.5, 0.0, 0.5], 2))
    # A new cell is evaluated with the design's own centring.
    row = design.predictor_row(llm="b", temperature=2.0)
    assert row.tolist() == [1.0, 1.5]
    raw = factorial_design({"llm": ["a", "b"]}, continuous={"temperature": [0.0, 0.5, 1.0]}, center=False)
    np.testing.assert_allclose(raw.X["temperature"].to_numpy(), np.tile([0.0, 0.5, 1.0], 2))


def test_design_from_formula_over_a_cells_table():
    cells = pd.DataFrame(
        {
            "cell_id": [f"c{i}" for i in range(8)],
            "llm": pd.Categorical(["gpt", "gpt", "claude", "claude"] * 2, categories=["gpt", "claude"]),
            "task": ["ins"] * 4 + ["ell"] * 4,
            "temperature": [0.0, 1.0] * 4,
        }
    )
    design = design_from_formula(cells, "~ llm * task + temperature")
    assert design.predictors == ["llm[T.claude]", "task[T.ins]", "temperature", "llm[T.claude]:task[T.ins]"]
    assert design.X.index.tolist() == cells["cell_id"].tolist()
    np.testing.assert_array_equal(
        design.X["llm[T.claude]:task[T.ins]"], design.X["llm[T.claude]"] * design.X["task[T.ins]"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factors": {"llm": []}}, "factor 'llm' has no levels"),
        ({"factors": {"llm": ["a", "b", "a"]}}, "factor 'llm' lists level 'a' more than once"),
        ({"factors": {"llm": ["a", "b"]}, "reference": {"llm": "z"}}, "reference level 'z' of factor 'llm'"),
        ({"factors": {"llm": ["a", "b"]}, "reference": {"task": "x"}}, "reference names 'task'"),
        ({"factors": {"llm": ["a", "b"]}, "continuous": {"t": [0.0, float("nan")]}}, "'t' has a non-finite value"),
        ({"factors": {"llm": ["a", "b"]}, "continuous": {"t": [0.0, float("inf")]}}, "'t' has a non-finite value"),
        ({"factors": {"llm": ["a", "b"]}, "coding": "helmert"}, "coding must be one of"),
        ({"factors": {"llm": ["a", "b"]}, "interactions": [("llm", "task")]}, "unknown predictor"),
    ],
)
def test_factorial_design_rejections(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        factorial_design(**kwargs)


def test_rank_deficient_design_names_the_aliased_columns():
    # temperature determined by the llm: its column is a copy of the llm dummy.
    cells = pd.DataFrame({"llm": ["a", "a", "b", "b"], "task": ["x", "y", "x", "y"], "hot": [0.0, 0.0, 1.0, 1.0]})
    with pytest.raises(ValueError, match=r"rank deficient.*aliased: hot = 1\*llm\[T\.b\]"):
        design_from_formula(cells, "~ llm + task + hot")


def test_formula_without_intercept_is_rejected():
    cells = pd.DataFrame({"llm": ["a", "b"]})
    with pytest.raises(ValueError, match="removes the intercept"):
        design_from_formula(cells, "~ 0 + llm")


def test_formula_cells_with_non_finite_values_name_the_cell():
    cells = pd.DataFrame({"cell_id": ["u", "v", "w"], "llm": ["a", "b", "a"], "t": [0.0, np.nan, 1.0]})
    with pytest.raises(ValueError, match="column 't' has a non-finite value nan in cell 'v'"):
        design_from_formula(cells, "~ llm + t")


def test_interaction_of_every_level_pair_is_full_rank_but_saturated_plus_extra_is_not():
    design = factorial_design({"a": ["0", "1"], "b": ["0", "1"]}, interactions=[("a", "b")])
    assert design.P == 3  # J = 4 cells, intercept + 3 columns: saturated, still full rank
    cells = design.cells.assign(extra=[0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="aliased: extra"):
        design_from_formula(cells, "~ a * b + extra")


def test_a_single_level_factor_is_refused_naming_it():
    with pytest.raises(ValueError, match="factor 'llm' has a single level 'x'"):
        factorial_design({"llm": ["x"], "prompt": ["p", "q"]})
    cells = pd.DataFrame({"cell_id": ["a", "b"], "llm": ["x", "x"], "t": [0.0, 1.0]})
    with pytest.raises(ValueError, match="column 'llm' has the single value 'x' in every cell"):
        design_from_formula(cells, "~ llm + t")
    assert list(design_from_formula(cells, "~ t").X.columns) == ["t"]  # unused constant columns are fine


def test_a_formula_naming_a_missing_column_says_which():
    cells = pd.DataFrame({"cell_id": ["a", "b"], "llm": ["x", "y"]})
    with pytest.raises(ValueError, match="uses 'temperatur', which is not a column of the cells table \\(columns: llm\\)"):
        design_from_formula(cells, "~ llm + temperatur")
