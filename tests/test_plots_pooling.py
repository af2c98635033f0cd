"""The primer's figures: legends clear of the data."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from seu_sensitivity.plots import pooling


def test_predictive_legend_sits_above_the_histograms():
    rng = np.random.default_rng(0)
    samples = [rng.normal(5, 10, 4000), rng.normal(7, 11, 4000)]
    fig, ax = plt.subplots(figsize=(4, 3.6))
    pooling.predictive_densities(ax, samples, ["school E again (parameter)", "a new school (missing data)"],
                                 observed=-1.0, xlabel="points")
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    bottom_of_legend = ax.transData.inverted().transform((legend.x0, legend.y0))[1]
    tallest = max(patch.get_path().vertices[:, 1].max() for patch in ax.patches)
    assert bottom_of_legend > tallest  # the legend starts above every bar
    plt.close(fig)
