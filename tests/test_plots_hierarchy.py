"""Figures of the hierarchical formulation build, and draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from seu_sensitivity.model.design import factorial_design
from seu_sensitivity.plots import hierarchy
from seu_sensitivity.model.simulate import simulate_hierarchical

MODELS = ["GPT-4o", "GPT-4o-mini", "Claude 3.5S", "Claude 3.5H", "Gemini 1.5P", "Gemini 1.5F"]
PROMPTS = ["neutral", "chain-of-thought", "role-play"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _reference_patches(ax):
    return [p for p in ax.patches if p.get_gid() == "reference-row"]


def test_heatmap_marks_the_reference_row_of_the_six_by_three_design():
    design = factorial_design({"model": MODELS, "prompt": PROMPTS}, reference={"model": "Claude 3.5S"})
    fig, ax = plt.subplots()
    row = hierarchy.design_matrix_heatmap(ax, design)
    assert design.cells.iloc[row][["model", "prompt"]].tolist() == ["Claude 3.5S", "neutral"]
    (patch,) = _reference_patches(ax)
    assert patch.get_y() == pytest.approx(row - 0.5) and patch.get_width() == design.P
    # the image is X itself, and every cell of X is written on it
    np.testing.assert_array_equal(ax.images[0].get_array(), design.X.to_numpy())
    assert len(ax.texts) == design.J * design.P + 1  # + the "reference" label


def test_heatmap_sum_coding_has_no_all_zero_row_and_marks_nothing():
    design = factorial_design({"llm": ["A", "B"], "prompt": ["n", "d"]}, coding="sum")
    fig, ax = plt.subplots()
    assert hierarchy.design_matrix_heatmap(ax, design) is None
    assert _reference_patches(ax) == []
    # an explicit reference still works, by cell id
    fig, ax = plt.subplots()
    assert hierarchy.design_matrix_heatmap(ax, design, reference="A__d", annotate=False) == 1
    with pytest.raises(KeyError, match="no cell"):
        hierarchy.design_matrix_heatmap(ax, design, reference="C__d")


def test_coefficient_illustration_densities_peak_at_the_regression_centres():
    design = factorial_design({"llm": ["A", "B"], "prompt": ["neutral", "directive"]})
    fig, axes = plt.subplots(1, 2)
    centres = hierarchy.coefficient_illustration(axes, design, 3.0, [-0.5, 0.3], 0.3)
    np.testing.assert_allclose(centres.to_numpy(), [3.0, 3.3, 2.5, 2.8])
    curves = [line for line in axes[1].lines if line.get_linestyle() == "-"]
    assert len(curves) == design.J
    peaks = [line.get_xdata()[np.argmax(line.get_ydata())] for line in curves]
    step = np.diff(curves[0].get_xdata())[0]
    np.testing.assert_allclose(peaks, centres.to_numpy(), atol=step)
    with pytest.raises(ValueError, match="positive"):
        hierarchy.coefficient_illustration(axes, design, 3.0, [-0.5, 0.3], 0.0)


def test_stacked_schematic_blocks_match_cell_sizes():
    design = factorial_design({"llm": ["A", "B"], "prompt": ["neutral", "directive"]})
    sizes = [8, 12, 6, 10]
    data, _ = simulate_hierarchical(design, n_obs=sizes, R=6, D=2, K=3, seed=3)
    fig, ax = plt.subplots()
    blocks = hierarchy.stacked_schematic(ax, data)
    assert [b.get_gid() for b in blocks] == ["cell-block"] * 4
    widths = np.array([b.get_width() for b in blocks])
    np.testing.assert_allclose(widths, np.array(sizes) / sum(sizes))
    lefts = np.array([b.get_x() for b in blocks])
    np.testing.assert_allclose(lefts, np.r_[0, np.cumsum(sizes)[:-1]] / sum(sizes))
    # the strip under the blocks has one tick per observation
    assert ax.images[0].get_array().shape[1] == sum(sizes)
    text = " ".join(t.get_text() for t in ax.texts)
    assert "cell[m] = [1, 1, …, 1, 2, 2, …, 2" in text and f"= {sum(sizes)} stacked" in text


def test_runs_encodes_consecutive_values():
    assert hierarchy.runs([]) == []
    assert hierarchy.runs([2, 2, 1]) == [(2, 2), (1, 1)]


def test_pooling_path_positions_and_lines():
    sigma = [0.0, 0.5, 2.0]
    estimates = pd.DataFrame({"a": [1.0, 1.5, 2.0], "b": [3.0, 2.8, 2.5]}, index=sigma)
    independent = pd.Series({"a": 2.1, "b": 2.4})
    fig, ax = plt.subplots()
    where = hierarchy.pooling_path(ax, sigma, estimates, independent, free=(1.25, pd.Series({"a": 1.8, "b": 2.6})))
    np.testing.assert_allclose(where["sweep"], [0, 1, 2])
    assert where["independent"][0] == 3
    assert where["free"][0] == pytest.approx(1.5)  # halfway between the 0.5 and 2.0 positions
    sweep_lines = [line for line in ax.lines if line.get_marker() == "o"]
    assert [list(line.get_ydata()) for line in sweep_lines] == [[1.0, 1.5, 2.0], [3.0, 2.8, 2.5]]
    with pytest.raises(ValueError, match="increase"):
        hierarchy.pooling_path(ax, [1.0, 0.5, 2.0], estimates, independent)
    with pytest.raises(KeyError, match="no estimate"):
        hierarchy.pooling_path(ax, sigma, estimates, independent.drop("b"))


def test_sigma_posteriors_draws_prior_and_truth():
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots()
    hierarchy.sigma_posteriors(ax, {"none": np.abs(rng.normal(0, 0.05, 500)), "some": rng.normal(0.5, 0.1, 500)},
                               prior_sd=0.5, truth={"none": 0.0, "some": 0.5})
    labels = ax.get_legend_handles_labels()[1]
    assert "prior HalfNormal(0.5)" in labels and "truth: some" in labels
    assert sum(1 for label in labels if label.startswith("posterior")) == 2
