"""Figures of the implementation chapter: they draw what they are given, and the flow diagram is the program's."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from seu_sensitivity.inference.programs import stan_blocks
from seu_sensitivity.plots import workflow as impl


@pytest.fixture
def ax():
    fig, axis = plt.subplots()
    yield axis
    plt.close(fig)


def test_flow_diagram_draws_every_node_and_edge_once(ax):
    impl.parameter_flow(ax)
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert sorted(b.flow_key for b in boxes) == sorted(n.key for n in impl.FLOW_NODES)
    assert sorted(a.flow_edge for a in arrows) == sorted(impl.FLOW_EDGES)
    keys = {n.key for n in impl.FLOW_NODES}
    assert all(start in keys and end in keys for start, end in impl.FLOW_EDGES)
    # every box is filled with the colour of its block
    colours = {b.flow_key: matplotlib.colors.to_hex(b.get_facecolor()) for b in boxes}
    for node in impl.FLOW_NODES:
        assert colours[node.key] == impl.BLOCK_COLORS[node.block]


def test_flow_diagram_boxes_do_not_overlap(ax):
    impl.parameter_flow(ax)
    boxes = [p.get_bbox() for p in ax.patches if isinstance(p, FancyBboxPatch)]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def test_flow_diagram_matches_the_stan_program():
    """Quantities the diagram places in parameters / generated quantities are declared there in h_m01."""
    blocks = stan_blocks("h_m01")
    stan_names = {"gamma": "gamma", "z": "z_or_log_alpha", "beta": "beta_free", "delta": "delta_free",
                  "log_alpha": "log_alpha", "alpha": "alpha", "alpha_new": "alpha_new", "y_rep": "y_rep"}
    where = {n.key: n.block for n in impl.FLOW_NODES}
    for key, name in stan_names.items():
        assert f" {name};" in blocks[where[key]] or f" {name} =" in blocks[where[key]], (key, where[key])


def test_prior_alpha_intervals_draw_the_quantiles(ax):
    draws = np.exp(np.random.default_rng(1).normal([1.0, 3.0], 0.5, size=(4000, 2)))
    impl.prior_alpha_intervals(ax, ["a", "b"], draws, reference=20.0)
    medians = ax.lines[0].get_xdata()
    np.testing.assert_allclose(medians, np.median(draws, axis=0))
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]


def test_prior_behaviour_histogram_integrates_to_one(ax):
    values = np.random.default_rng(2).beta(2, 5, size=(500, 3))
    impl.prior_behaviour(ax, values, uniform=0.33, xlabel="rate")
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    assert np.sum(heights * widths) == pytest.approx(1.0)
    assert ax.lines[0].get_xdata()[0] == pytest.approx(0.33)


def test_recovery_intervals_mark_the_misses_in_red(ax):
    table = pd.DataFrame({"mean": [0.0, 1.0], "lower": [-1.0, 0.5], "upper": [1.0, 1.5], "truth": [0.2, 3.0],
                          "covered": [True, False]}, index=["g0", "g1"])
    impl.recovery_intervals(ax, table)
    red = [c for c in ax.collections if matplotlib.colors.to_hex(c.get_color()[0]) == impl.PALETTE[3]]
    assert len(red) == 1 and len(red[0].get_segments()) == 1
    truth_marks = [line for line in ax.lines if line.get_marker() == "D"]
    np.testing.assert_allclose(truth_marks[0].get_xdata(), [0.2, 3.0])


def test_per_cell_ppc_flags_observed_values_outside(ax):
    replicated = np.random.default_rng(3).normal(0, 1, size=(2000, 3))
    impl.per_cell_ppc(ax, ["a", "b", "c"], np.array([0.0, 5.0, -0.1]), replicated)
    outside = [line for line in ax.lines if line.get_label() == "observed, outside"]
    assert len(outside) == 1 and list(outside[0].get_xdata()) == [5.0]


def test_population_predictive_and_cost_bars(ax):
    rng = np.random.default_rng(4)
    impl.population_predictive(ax, ["x"], np.exp(rng.normal(3, 1, (1000, 1))), np.exp(rng.normal(3, 0.2, (1000, 1))),
                               truth=np.array([20.0]))
    labels = [line.get_label() for line in ax.lines]
    assert any("new cell" in label for label in labels) and any("true" in label for label in labels)
    fig, bar_ax = plt.subplots()
    impl.cost_bars(bar_ax, ["per cell", "per obs"], [540, 2000])
    assert [p.get_height() for p in bar_ax.patches] == [540, 2000]
    assert [t.get_text() for t in bar_ax.texts] == ["540", "2,000"]
    plt.close(fig)


def _funnel_idata(seed: int, n_div: int):
    """A small h_m01-like InferenceData: 2 chains x 50 draws, cells a and b, n_div divergent draws."""
    import arviz as az

    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.normal(-1.0, 1.0, size=(2, 50)))
    z = rng.normal(size=(2, 50, 2))
    gamma0 = rng.normal(2.5, 0.3, size=(2, 50))
    diverging = np.zeros((2, 50), dtype=bool)
    diverging.flat[rng.choice(100, size=n_div, replace=False)] = True
    return az.from_dict(
        posterior={"sigma_cell": sigma, "z": z, "log_alpha": gamma0[..., None] + sigma[..., None] * z,
                   "gamma0": gamma0},
        sample_stats={"diverging": diverging},
        dims={"z": ["cell"], "log_alpha": ["cell"]},
        coords={"cell": ["a", "b"]},
    )


def test_funnel_coordinates_pair_each_draw_with_its_divergence_flag():
    idata = _funnel_idata(5, n_div=7)
    log_sigma, deviation, diverging = impl.funnel_coordinates(idata, "b")
    sigma = idata.posterior["sigma_cell"].values
    z_b = idata.posterior["z"].sel(cell="b").values
    np.testing.assert_allclose(log_sigma, np.log(sigma).ravel())
    np.testing.assert_allclose(deviation, (sigma * z_b).ravel())
    np.testing.assert_array_equal(diverging, idata.sample_stats["diverging"].values.ravel())
    # here gamma0 is the whole regression mean, so the deviation is log_alpha - gamma0
    log_alpha_b = idata.posterior["log_alpha"].sel(cell="b").values
    np.testing.assert_allclose(deviation, (log_alpha_b - idata.posterior["gamma0"].values).ravel())
    _, z, _ = impl.funnel_coordinates(idata, "b", quantity="z")
    _, log_alpha, _ = impl.funnel_coordinates(idata, "b", quantity="log_alpha")
    np.testing.assert_allclose(z, z_b.ravel())
    np.testing.assert_allclose(log_alpha, log_alpha_b.ravel())
    with pytest.raises(ValueError, match="quantity"):
        impl.funnel_coordinates(idata, "b", quantity="alpha")
    with pytest.raises(ValueError, match="not a cell"):
        impl.funnel_coordinates(idata, "c")


def test_parameterisation_funnels_one_panel_per_fit_with_divergences_in_red():
    fits = {"non-centred": _funnel_idata(1, n_div=0), "centred": _funnel_idata(2, n_div=9)}
    fig, axes = plt.subplots(1, 2)
    try:
        drawn = impl.parameterisation_funnels(axes, fits, "a")
        assert [ax.get_title() for ax in drawn] == ["non-centred", "centred"]
        for ax, idata in zip(drawn, fits.values()):
            draws, divergent = ax.collections  # funnel_scatter: ordinary draws, then divergent ones
            flags = idata.sample_stats["diverging"].values.ravel()
            assert len(divergent.get_offsets()) == flags.sum() and len(draws.get_offsets()) == (~flags).sum()
            np.testing.assert_allclose(divergent.get_offsets()[:, 0],
                                       np.log(idata.posterior["sigma_cell"].values).ravel()[flags])
            assert matplotlib.colors.to_hex(divergent.get_facecolor()[0]) == impl.PALETTE[3]
            assert "sigma" in ax.get_xlabel() and ax.get_ylabel() == impl.FUNNEL_QUANTITIES["deviation"]
        with pytest.raises(ValueError, match="one Axes per fit"):
            impl.parameterisation_funnels(axes[:1], fits, "a")
    finally:
        plt.close(fig)


def test_primer_funnel_scatter_keeps_its_default_axis_label(ax):
    from seu_sensitivity.plots import pooling as primer

    primer.funnel_scatter(ax, np.zeros(3), np.zeros(3), np.array([False, True, False]))
    assert ax.get_xlabel() == r"$\log\tau$"
    primer.funnel_scatter(ax, np.zeros(3), np.zeros(3), np.zeros(3, bool), scale_label="log s")
    assert ax.get_xlabel() == "log s"


def test_parameterisation_funnels_limit_the_y_range_to_the_central_draws():
    fits = {"one": _funnel_idata(3, n_div=1), "two": _funnel_idata(4, n_div=1)}
    fits["two"].posterior["z"].values[0, 0, 0] = 1e4  # one absurd draw of cell a
    fig, axes = plt.subplots(1, 2)
    try:
        impl.parameterisation_funnels(axes, fits, "a", y_coverage=0.98)  # 200 draws: the absurd one is cut
        low, high = axes[1].get_ylim()
        assert high < 100 and axes[0].get_ylim() == (low, high)
        deviations = np.concatenate([impl.funnel_coordinates(f, "a")[1] for f in fits.values()])
        assert np.mean((deviations >= low) & (deviations <= high)) >= 0.98
    finally:
        plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    try:
        impl.parameterisation_funnels(axes, fits, "a", y_coverage=None)
        assert axes[1].get_ylim()[1] > 100
    finally:
        plt.close(fig)


def test_chain_means_colours_a_chain_in_another_mode_apart():
    import arviz as az
    import matplotlib.colors as mcolors

    from seu_sensitivity.inference.modes import chain_modes, chain_summary

    rng = np.random.default_rng(5)
    lp = rng.normal(size=(4, 400)) + np.array([[0.0], [0.0], [-8.0], [0.0]])  # chain 2 sits lower
    delta = 0.9 + 0.01 * rng.normal(size=(4, 400)) - np.array([[0.0], [0.0], [0.8], [0.0]])
    idata = az.from_dict(posterior={"delta": delta}, sample_stats={"lp": lp})
    modes = chain_modes(idata)
    assert modes == [[2], [0, 1, 3]]
    fig, axes = plt.subplots(1, 2)
    impl.chain_means(axes, chain_summary(idata, ["lp", "delta"]), modes)
    for ax in axes:
        colours = [mcolors.to_hex(c.get_color()) for c in ax.lines]
        by_chain = {int(x): colour for line, colour in zip(ax.lines, colours) for x in line.get_xdata()}
        assert by_chain[2] != by_chain[0] and by_chain[0] == by_chain[1] == by_chain[3]
    with pytest.raises(ValueError, match="axes: 1 given for 2 quantities"):
        impl.chain_means(axes[:1], chain_summary(idata, ["lp", "delta"]), modes)
    with pytest.raises(ValueError, match=r"chain\(s\) \[3\] are in no mode"):
        impl.chain_means(axes, chain_summary(idata, ["lp", "delta"]), [[2], [0, 1]])
    plt.close(fig)


@pytest.mark.parametrize("limits", [(0.8, 500.0), (6.0, 120.0), (12.0, 45.0), (1e-3, 1e4)])
def test_log_axis_gives_plain_labels_a_reader_can_read_values_from(ax, limits):
    """Every major tick inside the limits, labelled as a plain number (no 10^k, no 3x10^-1), and enough of them."""
    ax.plot(limits, [0, 1])
    ax.set_xlim(*limits)
    impl.log_axis(ax)
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if limits[0] <= t <= limits[1]]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ax.get_xscale() == "log" and ax.get_xlim() == pytest.approx(limits)
    assert len(ticks) >= 3
    assert labels == [f"{t:g}" for t in ticks]
    assert not any("10^" in label or "times" in label or "$" in label for label in labels)
    with pytest.raises(ValueError):
        impl.readable_log_ticks(0.0, 10.0)


def test_prior_alpha_intervals_from_exact_quantiles(ax):
    """Given a quantile table (cells x probabilities), the intervals are its values, on a readable log axis."""
    table = pd.DataFrame({0.05: [3.2, 1.0], 0.25: [9.0, 6.0], 0.5: [20.0, 20.0], 0.75: [45.0, 70.0], 0.95: [125.0, 388.0]})
    impl.prior_alpha_intervals(ax, ["reference", "far"], quantiles=table)
    thin = ax.collections[0].get_segments()
    assert [tuple(seg[:, 0]) for seg in thin] == [(3.2, 125.0), (1.0, 388.0)]
    assert [line.get_xdata().tolist() for line in ax.lines if line.get_marker() == "o"][0] == [20.0, 20.0]
    assert {t.get_text() for t in ax.get_xticklabels()} >= {"1", "10", "100"}
    with pytest.raises(ValueError, match="either"):
        impl.prior_alpha_intervals(ax, ["a"], np.ones((10, 1)), quantiles=table)
