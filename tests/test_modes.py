"""Per-chain summaries find chains that sit in different modes, and only then."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from seu_sensitivity.inference.diagnostics import diagnose_by_group
from seu_sensitivity.inference.modes import chain_stacking_weights, chain_summary, separated_chains, stacked_draws


def ar1(rng: np.random.Generator, shape: tuple[int, int], rho: float = 0.7) -> np.ndarray:
    """Autocorrelated standard-normal draws, like a sampler's (chain, draw)."""
    noise = rng.normal(size=shape)
    out = np.empty(shape)
    out[:, 0] = noise[:, 0]
    for t in range(1, shape[1]):
        out[:, t] = rho * out[:, t - 1] + np.sqrt(1 - rho**2) * noise[:, t]
    return out


def two_region_fit(seed: int, chains_in_second: int = 2, chains: int = 4, draws: int = 1000) -> az.InferenceData:
    """A posterior like the simulated 2 x 2 study's: delta_1 and the log density in two regions that
    chains do not cross (beta follows delta), while alpha mixes within and between them."""
    rng = np.random.default_rng(seed)
    second = np.zeros((chains, 1))
    second[chains - chains_in_second:] = 1.0
    delta = 0.08 + 0.11 * second + 0.01 * ar1(rng, (chains, draws))
    beta = -2.0 + 1.5 * second + 0.2 * ar1(rng, (chains, draws))
    log_alpha = 3.0 + 0.1 * ar1(rng, (chains, draws))
    lp = -233.0 + 3.0 * second + ar1(rng, (chains, draws))
    return az.from_dict(posterior={"alpha": np.exp(log_alpha), "beta": beta, "delta": delta},
                        sample_stats={"lp": lp})


@pytest.mark.parametrize("seed", range(5))
def test_two_regions_are_two_modes_and_touch_only_beta_and_delta(seed):
    idata = two_region_fit(seed)
    modes = separated_chains(idata, ["delta", "lp", "alpha"])
    assert modes.attrs["separated"]
    assert modes.loc["lp", "chains by mode"] == "0, 1 | 2, 3"
    assert modes.loc["delta", "chains by mode"] == "0, 1 | 2, 3"
    assert not modes.loc["alpha", "separated"]
    by_group = diagnose_by_group(idata)
    assert by_group.loc["reported", "ok"] and by_group.loc["reported", "max R-hat"] < 1.01
    assert not by_group.loc["beliefs and utilities", "ok"]
    assert by_group.loc["beliefs and utilities", "max R-hat"] > 1.5


def test_one_lonely_chain_is_its_own_mode():
    modes = separated_chains(two_region_fit(7, chains_in_second=1), ["lp"])
    assert modes.loc["lp", "chains by mode"] == "0, 1, 2 | 3"


def test_chains_of_one_posterior_are_rarely_separated():
    # 200 fits of four chains from one posterior: at 4 MCSEs a separation has probability
    # about 6e-5 per pair, so with 6 pairs per fit we expect 200 * 6 * 6e-5 = 0.08 false alarms
    # (the MCSEs are themselves estimated, so allow a few).
    false_alarms = sum(separated_chains(two_region_fit(seed, chains_in_second=0), ["lp", "delta"]).attrs["separated"]
                       for seed in range(200))
    assert false_alarms <= 3


def test_chain_summary_is_each_chains_own_mean_and_error():
    idata = two_region_fit(0)
    table = chain_summary(idata, ["delta"])
    assert list(table["chain"]) == [0, 1, 2, 3]
    delta = idata.posterior["delta"].values
    np.testing.assert_allclose(table["mean"], delta.mean(axis=1))
    # the MCSE of an AR(1) chain with rho = 0.7: sd * sqrt((1 + rho) / ((1 - rho) n)), within 25%
    expected = 0.01 * np.sqrt(1.7 / (0.3 * 1000))
    assert np.all(np.abs(table["mcse"] / expected - 1) < 0.25)


def test_unknown_quantity_is_named():
    with pytest.raises(ValueError, match="'kappa'"):
        chain_summary(two_region_fit(0), ["kappa"])


def test_stacking_weights_favour_the_chains_that_predict_better():
    """Two chains at the mean of the data, two far off: the far chains get almost no weight."""
    rng = np.random.default_rng(2)
    y = rng.normal(0.0, 1.0, size=60)
    mu = np.concatenate([0.0 + 0.1 * rng.normal(size=(2, 400)), 2.5 + 0.1 * rng.normal(size=(2, 400))])
    log_lik = -0.5 * (y[None, None, :] - mu[:, :, None]) ** 2 - 0.5 * np.log(2 * np.pi)
    idata = az.from_dict(posterior={"mu": mu}, log_likelihood={"y": log_lik}, observed_data={"y": y},
                         sample_stats={"lp": log_lik.sum(axis=-1)})
    weights = chain_stacking_weights(idata)
    assert weights.index.tolist() == [0, 1, 2, 3]
    assert weights.sum() == pytest.approx(1.0)
    assert weights.loc[[0, 1]].sum() > 0.95
    # by mode, the good mode's weight is shared by both its chains; chain by chain it need not be
    assert weights.loc[0] == pytest.approx(weights.loc[1])
    assert chain_stacking_weights(idata, by_mode=False).loc[[0, 1]].sum() > 0.95
    mixture = stacked_draws(idata, weights, seed=1)
    assert mixture.sizes["chain"] == 1 and mixture.sizes["draw"] == 1600
    # the stacked posterior of mu sits where the good chains are
    assert abs(float(mixture["mu"].mean()) - 0.0) < 0.2


def test_stacking_needs_a_log_likelihood_and_one_weight_per_chain():
    idata = two_region_fit(0)
    with pytest.raises(ValueError, match="log_likelihood"):
        chain_stacking_weights(idata)
    import pandas as pd

    with pytest.raises(ValueError, match="one weight per chain"):
        stacked_draws(idata, pd.Series([0.5, 0.5], index=[0, 1]))


def test_mode_diagnostics_keep_the_mode_that_predicts_and_check_it_alone():
    """Three chains at the data's mean (alpha mixes there), one far off with a worse log density: the far
    mode gets no weight, the kept mode's reported quantities converge, the whole fit's do not."""
    from seu_sensitivity.inference.modes import mode_diagnostics

    rng = np.random.default_rng(4)
    y = rng.normal(0.0, 1.0, size=60)
    offset = np.array([[0.0], [0.0], [0.0], [2.5]])
    mu = offset + 0.1 * ar1(rng, (4, 800))
    log_lik = -0.5 * (y[None, None, :] - mu[:, :, None]) ** 2 - 0.5 * np.log(2 * np.pi)
    alpha = np.exp(3.0 + 0.1 * ar1(rng, (4, 800)) + 0.5 * offset)  # the far chain's alpha is elsewhere too
    idata = az.from_dict(posterior={"alpha": alpha, "delta": mu}, log_likelihood={"y": log_lik},
                         observed_data={"y": y}, sample_stats={"lp": log_lik.sum(axis=-1)})
    assert not diagnose_by_group(idata).loc["reported", "ok"]
    table = mode_diagnostics(idata)
    assert table["chains"].tolist() == ["4", "1, 2, 3"]  # modes in increasing order of the log density
    assert table["weight"].sum() == pytest.approx(1.0)
    assert table.loc[1, "weight"] < 0.05 and not table.loc[1, "kept"]
    assert table.loc[2, "kept"] and table.loc[2, "reported: ok"] and table.loc[2, "reported: max R-hat"] < 1.01
    assert not table.loc[1, "reported: ok"]  # one chain: nothing to compare it with
    assert table.attrs["reported_ok"]
