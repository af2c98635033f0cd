"""The single-cell figures: labels a reader can read (no overlaps, no run-together ticks)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from seu_sensitivity.plots import choice as choice_plots


def _overlap(a, b) -> bool:
    return a.overlaps(b) and a.intersection(a, b).width > 0.5 and a.intersection(a, b).height > 0.5


@pytest.mark.parametrize("delta", [[0.06, 0.94], [0.5, 0.5], [0.94, 0.06], [0.01, 0.01, 0.98], [0.3, 0.0, 0.7]])
def test_delta_labels_never_overlap_each_other(delta):
    fig, ax = plt.subplots(figsize=(2.6, 3.0))
    choice_plots.plot_utilities(np.array(delta), ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in ax.texts]
    assert len(boxes) == len(delta)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not _overlap(boxes[i], boxes[j]), (delta, i, j)
    # each label sits above and left of its segment's midpoint: no point of the ladder inside a label
    points = ax.transData.transform(np.column_stack([np.arange(1, len(delta) + 2),
                                                     np.concatenate([[0], np.cumsum(delta)])]))
    for box in boxes:
        assert not any(box.contains(x, y) for x, y in points)
    plt.close(fig)


@pytest.mark.parametrize("R", [5, 12, 30])
def test_alternative_ticks_do_not_run_together(R):
    rng = np.random.default_rng(R)
    psi = rng.dirichlet(np.ones(3), size=R)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
    choice_plots.plot_subjective_probabilities(psi, ax=axes[0])
    choice_plots.plot_expected_utilities(psi @ np.array([0.0, 0.4, 1.0]), ax=axes[1])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert len(labels) <= 12
        boxes = [t.get_window_extent(renderer) for t in labels]
        gaps = [b.x0 - a.x1 for a, b in zip(boxes, boxes[1:])]
        assert min(gaps) > 2, gaps  # at least two pixels between neighbouring labels
        assert labels[0].get_text() == "1"
    plt.close(fig)


def test_integer_ticks_label_every_category_when_few():
    fig, ax = plt.subplots()
    assert choice_plots.integer_ticks(ax, 5) == [0, 1, 2, 3, 4]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4", "5"]
    assert choice_plots.integer_ticks(ax, 25, max_ticks=10) == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    plt.close(fig)


def test_ppc_legend_sits_above_the_histogram():
    rng = np.random.default_rng(1)
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    choice_plots.plot_menu_position_check(0.91, rng.binomial(98, 0.87, size=4000) / 98, ax=ax, label="share")
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    bottom_of_legend = ax.transData.inverted().transform((legend.x0, legend.y0))[1]
    tallest = max(patch.get_height() for patch in ax.patches)
    assert bottom_of_legend > tallest
    plt.close(fig)


def test_alpha_axis_has_plain_non_negative_ticks():
    fig, ax = plt.subplots()
    choice_plots.plot_choice_vs_alpha(np.array([0.35, 0.5, 0.62, 0.7]), np.concatenate([[0.0], np.geomspace(0.05, 500, 50)]),
                                      ax=ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels == ["0", "1", "3", "10", "30", "100", "300"]
    assert ax.get_xlim()[0] == 0
    plt.close(fig)
