"""diagnose(): each check passes on well-mixed draws and flags its own problem."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from seu_sensitivity.inference.diagnostics import diagnose, verdict

CHAINS, DRAWS = 4, 1000


def _idata(posterior=None, diverging=None, energy=None, seed=0):
    rng = np.random.default_rng(seed)
    posterior = posterior if posterior is not None else {"mu": rng.normal(size=(CHAINS, DRAWS))}
    stats = {
        "diverging": diverging if diverging is not None else np.zeros((CHAINS, DRAWS), bool),
        "energy": energy if energy is not None else rng.normal(size=(CHAINS, DRAWS)),
    }
    return az.from_dict(posterior=posterior, sample_stats=stats)


def test_well_mixed_draws_pass_every_check():
    table = diagnose(_idata())
    assert table["ok"].all() and table.attrs["trustworthy"]
    assert verdict(table).startswith("All convergence checks pass")


def test_chains_that_disagree_fail_rhat():
    rng = np.random.default_rng(1)
    shifted = rng.normal(size=(CHAINS, DRAWS)) + np.arange(CHAINS)[:, None]
    table = diagnose(_idata({"mu": shifted, "ok": rng.normal(size=(CHAINS, DRAWS))}))
    assert not table.loc["max R-hat", "ok"] and table.loc["max R-hat", "where"] == "mu"
    assert not table.attrs["trustworthy"]
    assert "max R-hat" in verdict(table) and "NOT trustworthy" in verdict(table)


def test_autocorrelated_draws_fail_ess():
    rng = np.random.default_rng(2)
    x = np.zeros((CHAINS, DRAWS))
    for t in range(1, DRAWS):  # AR(1) with rho = 0.99: ESS ~ DRAWS * 0.01 / 1.99 per chain
        x[:, t] = 0.99 * x[:, t - 1] + rng.normal(size=CHAINS) * 0.14
    table = diagnose(_idata({"theta": x}))
    assert not table.loc["min bulk ESS", "ok"]
    assert table.loc["min bulk ESS", "value"] < 100 * CHAINS


def test_divergences_are_counted_and_flagged():
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[1, [5, 50, 500]] = True
    table = diagnose(_idata(diverging=diverging))
    assert table.loc["divergences", "value"] == 3 and not table.loc["divergences", "ok"]
    assert table.loc[["max R-hat", "min bulk ESS"], "ok"].all()


def test_low_e_bfmi_is_flagged():
    rng = np.random.default_rng(3)
    energy = np.cumsum(rng.normal(size=(CHAINS, DRAWS)), axis=1)  # a random walk: E-BFMI near 0
    table = diagnose(_idata(energy=energy))
    assert table.loc["min E-BFMI", "value"] < 0.3 and not table.loc["min E-BFMI", "ok"]


def test_nan_padding_of_ragged_parameters_is_ignored():
    rng = np.random.default_rng(4)
    beta = rng.normal(size=(CHAINS, DRAWS, 2, 4))
    beta[:, :, 0, 3] = np.nan  # cell 0 has K = 3 of K_max = 4
    table = diagnose(_idata({"beta": beta}))
    assert table["ok"].all()
    assert np.isfinite(table.loc["max R-hat", "value"])


def test_worst_entry_is_named_with_its_coordinates():
    rng = np.random.default_rng(5)
    alpha = rng.normal(size=(CHAINS, DRAWS, 3))
    alpha[:, :, 2] += np.arange(CHAINS)[:, None]
    idata = az.from_dict(
        posterior={"alpha": alpha},
        sample_stats={"diverging": np.zeros((CHAINS, DRAWS), bool), "energy": rng.normal(size=(CHAINS, DRAWS))},
        dims={"alpha": ["cell"]},
        coords={"cell": ["x", "y", "z"]},
    )
    assert diagnose(idata).loc["max R-hat", "where"] == "alpha[z]"


@pytest.mark.parametrize("var_names", [["mu"]])
def test_var_names_restrict_the_checks(var_names):
    rng = np.random.default_rng(6)
    bad = rng.normal(size=(CHAINS, DRAWS)) + np.arange(CHAINS)[:, None]
    idata = _idata({"mu": rng.normal(size=(CHAINS, DRAWS)), "nuisance": bad})
    assert diagnose(idata, var_names=var_names).loc["max R-hat", "ok"]
    assert not diagnose(idata).loc["max R-hat", "ok"]


def test_compare_gives_one_row_per_fit_with_the_worst_values():
    from seu_sensitivity.inference.diagnostics import compare

    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[0, :2] = True
    rng = np.random.default_rng(5)
    fits = {"good": _idata(), "divergent": _idata(diverging=diverging),
            "restricted": (_idata({"mu": rng.normal(size=(CHAINS, DRAWS)),
                                   "bad": rng.normal(size=(CHAINS, DRAWS)) + np.arange(CHAINS)[:, None]}), ["mu"])}
    table = compare(fits)
    assert list(table.index) == ["good", "divergent", "restricted"]
    assert table.loc["divergent", "divergences"] == 2 and not table.loc["divergent", "trustworthy"]
    assert table.loc["good", "trustworthy"] and table.loc["restricted", "trustworthy"]  # "bad" left out
    assert table.loc["good", "max R-hat"] == diagnose(fits["good"]).loc["max R-hat", "value"]


def test_a_constant_quantity_is_ignored_without_warnings():
    """A parameter held fixed (sigma_cell = 0 in complete pooling) has no R-hat: no warning, no flag."""
    import warnings

    rng = np.random.default_rng(6)
    posterior = {"mu": rng.normal(size=(CHAINS, DRAWS)), "fixed": np.zeros((CHAINS, DRAWS))}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        table = diagnose(_idata(posterior))
    assert table.attrs["trustworthy"] and table.loc["max R-hat", "where"] == "mu"


def test_compare_means_measures_the_difference_in_monte_carlo_errors():
    """Two fits of one distribution agree within a few MCSEs; a shifted one does not; labels follow the coords."""
    import arviz as az

    from seu_sensitivity.inference.diagnostics import compare_means

    rng = np.random.default_rng(8)

    def fit_like(shift):
        return az.from_dict(posterior={"mu": rng.normal(shift, 1.0, size=(CHAINS, DRAWS)),
                                       "gamma": rng.normal(0.0, 1.0, size=(CHAINS, DRAWS, 2))},
                            dims={"gamma": ["predictor"]}, coords={"predictor": ["x", "y"]})

    same = compare_means({"one": fit_like(0.0), "two": fit_like(0.0)}, ["mu", "gamma"])
    assert list(same.index) == ["mu", "gamma[x]", "gamma[y]"]
    assert (same["in MCSEs"] < 4).all()
    # an independent sample's MCSE of the mean is sd / sqrt(n)
    np.testing.assert_allclose(same["one: MCSE"], 1 / np.sqrt(CHAINS * DRAWS), rtol=0.25)
    shifted = compare_means({"one": fit_like(0.0), "two": fit_like(0.5)}, ["mu"])
    assert shifted.loc["mu", "difference"] == pytest.approx(-0.5, abs=0.15)
    assert shifted.loc["mu", "in MCSEs"] > 4
    with pytest.raises(ValueError, match="exactly two"):
        compare_means({"one": fit_like(0.0)}, ["mu"])
    with pytest.raises(ValueError, match="no posterior variable"):
        compare_means({"one": fit_like(0.0), "two": fit_like(0.0)}, ["nu"])


def test_quantity_groups_split_exactly_the_reported_and_the_belief_groups():
    from seu_sensitivity.inference.diagnostics import BELIEFS_AND_UTILITIES, QUANTITY_GROUPS, REPORTED

    names = [name for group in QUANTITY_GROUPS.values() for name in group]
    assert len(names) == len(set(names))
    assert set(names) == set(REPORTED) | set(BELIEFS_AND_UTILITIES)
    # reported groups come first, so a table reads from what is quoted to what is not
    n_reported = sum(all(n in REPORTED for n in group) for group in QUANTITY_GROUPS.values())
    assert all(n in REPORTED for group in list(QUANTITY_GROUPS.values())[:n_reported] for n in group)
    assert n_reported == 3


def test_group_table_gives_one_row_per_fit_and_flags_each_group():
    from seu_sensitivity.inference.diagnostics import HIERARCHY_GROUPS, diagnose_by_group, group_table

    rng = np.random.default_rng(3)
    good = {"alpha": rng.normal(size=(CHAINS, DRAWS)), "beta": rng.normal(size=(CHAINS, DRAWS, 2)),
            "sigma_cell": np.zeros((CHAINS, DRAWS))}  # sigma_cell held at 0, as complete pooling does
    stuck_delta = rng.normal(size=(CHAINS, DRAWS)) + np.array([[0.0], [0.0], [3.0], [3.0]])
    bad = {"alpha": rng.normal(size=(CHAINS, DRAWS)), "gamma0": rng.normal(size=(CHAINS, DRAWS)),
           "delta": stuck_delta}
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[0, :7] = True
    fits = {"pooled": _idata(good), "stuck": _idata(bad, diverging=diverging)}
    text, passed = group_table(fits)
    assert list(text.index) == ["pooled", "stuck"] and list(passed.index) == ["pooled", "stuck"]
    assert text.loc["pooled", "regression"] == "held fixed" and np.isnan(passed.loc["pooled", "regression"])
    assert text.loc["stuck", "beliefs and utilities"].endswith(" *") and passed.loc["stuck", "beliefs and utilities"] == False  # noqa: E712
    assert not text.loc["pooled", "beliefs and utilities"].endswith("*") and passed.loc["pooled", "beliefs and utilities"] == True  # noqa: E712
    by_group = diagnose_by_group(fits["stuck"], HIERARCHY_GROUPS)
    row = by_group.loc["sensitivities"]
    assert text.loc["stuck", "sensitivities"] == f"{row['max R-hat']:.3f} / {row['min bulk ESS']:.0f}"
    assert text["divergences"].tolist() == [0, 7]
    # a group a fit lacks is marked "–", and custom groups and thresholds pass through
    strict, strict_passed = group_table(fits, {"alpha": ["alpha"], "delta": ["delta"]}, ess_per_chain=10 * DRAWS)
    assert strict.loc["pooled", "delta"] == "–" and strict.loc["stuck", "alpha"].endswith(" *")
    assert strict_passed.loc["stuck", "alpha"] == False  # noqa: E712
