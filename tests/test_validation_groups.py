"""Convergence by group in validation records: per-family figures, group verdicts and flag rates.

The verdicts recomputed from stored per-family figures must agree with
``diagnose_by_group`` on the same draws; the flag rates are tested on
synthetic records whose flags are known.
"""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pytest

from seu_sensitivity.inference import diagnostics
from seu_sensitivity.inference.diagnostics import diagnose_by_group
from seu_sensitivity.validation import (
    WHOLE_FIT,
    convergence_by_family,
    convergence_thresholds,
    default_groups,
    family_flag_counts,
    group_flag_rates,
    group_verdicts,
)


def _idata(seed: int = 0, stuck: tuple[str, ...] = ("delta",), chains: int = 4, draws: int = 400):
    """A posterior with the reported and belief variables; the ``stuck`` ones have two chains elsewhere."""
    rng = np.random.default_rng(seed)
    offset = np.zeros((chains, 1, 1))
    offset[chains // 2:] = 3.0
    shapes = {"gamma0": (), "gamma": (2,), "sigma_cell": (), "alpha": (4,), "eta": (4, 3), "eta_logit": (4, 3),
              "beta": (4, 3), "delta": (1, 2), "z": (4,)}
    posterior = {}
    for name, shape in shapes.items():
        values = rng.normal(size=(chains, draws, *shape))
        if name in stuck:
            values = values + offset.reshape((chains, 1) + (1,) * len(shape))
        posterior[name] = values
    # a padded entry (ragged beliefs): NaN in every draw, ignored
    posterior["beta"][..., 3, 2] = np.nan
    posterior["log_lik"] = rng.normal(size=(chains, draws, 10))  # generated: never a family
    return az.from_dict(posterior=posterior)


@pytest.mark.parametrize("stuck", [("delta",), ("alpha",), ("eta_logit", "beta"), ("eta",), ()])
def test_group_verdicts_from_families_agree_with_diagnose_by_group(stuck):
    idata = _idata(stuck=stuck)
    record = convergence_by_family(idata)
    assert "log_lik" not in record["families"]
    assert set(record["families"]) == {"gamma0", "gamma", "sigma_cell", "alpha", "eta", "eta_logit", "beta", "delta",
                                       "z"}
    assert record["chains"] == 4 and record["rhat_max"] == 1.01 and record["ess_min"] == 400
    direct = diagnose_by_group(idata)  # the default groups, computed on the draws
    assert set(record["groups"]) == set(direct.index) == {"reported", "beliefs and utilities"}
    for label, row in direct.iterrows():
        stored = record["groups"][label]
        assert stored["ok"] == row["ok"]
        assert stored["variables"] == row["variables"].split(", ")
        for field in ("max R-hat", "min bulk ESS", "min tail ESS"):
            assert stored[field] == pytest.approx(row[field], rel=1e-12)
    # the stuck groups are the flagged ones
    from seu_sensitivity.inference.diagnostics import BELIEFS_AND_UTILITIES, REPORTED

    assert record["groups"]["reported"]["ok"] == (not set(REPORTED) & set(stuck))
    assert record["groups"]["beliefs and utilities"]["ok"] == (not set(BELIEFS_AND_UTILITIES) & set(stuck))
    # each family's figures are diagnose_by_group's for that variable alone, worst entry named
    alone = diagnose_by_group(idata, {"eta": ["eta"]}).loc["eta"]
    assert record["families"]["eta"]["max R-hat"] == pytest.approx(alone["max R-hat"], rel=1e-12)
    assert record["families"]["eta"]["R-hat at"] == alone["R-hat at"]


def test_default_groups_and_thresholds_are_read_from_diagnostics_when_called(monkeypatch):
    assert default_groups() == {"reported": diagnostics.REPORTED,
                                "beliefs and utilities": diagnostics.BELIEFS_AND_UTILITIES}
    assert convergence_thresholds() == {"rhat_max": 1.01, "ess_per_chain": 100.0}
    # a new definition of what is reported (e.g. eta replaced by a transform) is followed
    monkeypatch.setattr(diagnostics, "REPORTED", ("gamma0", "alpha"))
    assert default_groups()["reported"] == ("gamma0", "alpha")
    record = convergence_by_family(_idata(stuck=("eta",)))
    assert record["groups"]["reported"] == {**record["groups"]["reported"], "variables": ["gamma0", "alpha"],
                                            "ok": True}


def test_group_verdicts_rules():
    families = {"a": {"max R-hat": 1.005, "min bulk ESS": 500.0, "min tail ESS": 450.0},
                "b": {"max R-hat": 1.02, "min bulk ESS": 900.0, "min tail ESS": 900.0},
                "c": {"max R-hat": 1.0, "min bulk ESS": 900.0, "min tail ESS": 300.0},
                "one_chain": {"max R-hat": math.nan, "min bulk ESS": 900.0, "min tail ESS": 900.0}}
    out = group_verdicts(families, {"a": ["a"], "ab": ["a", "b"], "c": ["c"], "none": ["x"], "ax": ["a", "x"],
                                    "nan": ["one_chain"], "a+nan": ["a", "one_chain"]},
                         rhat_max=1.01, ess_min=400)
    assert {k: v["ok"] for k, v in out.items()} == {"a": True, "ab": False, "c": False, "ax": True,
                                                   "nan": False, "a+nan": True}
    assert out["ab"]["max R-hat"] == 1.02 and out["ab"]["min bulk ESS"] == 500.0
    assert out["ax"]["variables"] == ["a"]  # absent families are skipped, as diagnose_by_group does
    assert "none" not in out
    # a tail ESS of 300 passes a lower threshold
    assert group_verdicts(families, {"c": ["c"]}, rhat_max=1.01, ess_min=300)["c"]["ok"]


def _record(rep, *, trustworthy, fails=(), status="ok", chains=2):
    """A record whose families in ``fails`` fail on R-hat; the others pass with 2 chains."""
    families = {name: {"max R-hat": 1.05 if name in fails else 1.001, "R-hat at": name,
                       "min bulk ESS": 250.0, "bulk ESS at": name, "min tail ESS": 300.0}
                for name in ("gamma0", "gamma", "sigma_cell", "alpha", "eta", "beta", "delta")}
    return {"version": 2, "rep": rep, "status": status,
            "diagnostics": {"trustworthy": trustworthy, "failed_checks": [], "divergences": 0, "chains": chains,
                            "families": families}}


def test_group_flag_rates_count_known_flags_with_binomial_mc_errors():
    records = ([_record(i, trustworthy=False, fails=("delta",)) for i in range(6)]
               + [_record(6, trustworthy=False, fails=("alpha", "beta")),
                  _record(7, trustworthy=False),  # flagged by the whole-fit checks only (e.g. divergences)
                  _record(8, trustworthy=True), _record(9, trustworthy=True),
                  _record(10, trustworthy=False, fails=("eta",), status="failed")])
    table = group_flag_rates({"run": records})
    assert list(table.index) == [("run", WHOLE_FIT), ("run", "reported"), ("run", "beliefs and utilities")]
    assert table["fits"].tolist() == [10, 10, 10]
    assert table["flagged"].tolist() == [8, 1, 7]
    assert table["rate"].tolist() == pytest.approx([0.8, 0.1, 0.7])
    assert table["mcse"].tolist() == pytest.approx([math.sqrt(p * (1 - p) / 10) for p in (0.8, 0.1, 0.7)])
    assert table.attrs["rhat_max"] == 1.01 and table.attrs["ess_per_chain"] == 100.0
    # other thresholds and other groups, from the same records
    lenient = group_flag_rates({"run": records}, rhat_max=1.1)
    assert lenient.loc[("run", "reported"), "flagged"] == 0
    strict = group_flag_rates({"run": records}, ess_per_chain=130)  # bulk ESS 250 < 260 everywhere
    assert strict.loc[("run", "reported"), "flagged"] == 10
    custom = group_flag_rates({"run": records}, {"regression": ["gamma0", "gamma", "sigma_cell"],
                                                 "cells": ["alpha"]})
    assert custom.xs("run")["flagged"].to_dict() == {WHOLE_FIT: 8, "regression": 0, "cells": 1}
    # ESS thresholds scale with each fit's chains
    four = [_record(0, trustworthy=True, chains=4)]  # bulk ESS 250 < 400
    assert group_flag_rates({"r": four}).loc[("r", "reported"), "flagged"] == 1


def test_family_flag_counts_say_where_the_flags_live():
    records = [_record(0, trustworthy=False, fails=("delta",)), _record(1, trustworthy=False, fails=("delta", "eta")),
               _record(2, trustworthy=True), _record(3, trustworthy=False, fails=("alpha",), status="failed")]
    table = family_flag_counts({"run": records})
    assert list(table.columns[:3]) == ["fits", "delta", "eta"]
    assert table.loc["run"].to_dict() == {"fits": 3, "delta": 2, "eta": 1, "gamma0": 0, "gamma": 0,
                                          "sigma_cell": 0, "alpha": 0, "beta": 0}


def test_a_record_of_version_1_is_refused_naming_the_replication_and_the_field():
    old = {"version": 1, "rep": 3, "status": "ok",
           "diagnostics": {"trustworthy": False, "failed_checks": ["max R-hat"], "divergences": 0}}
    for function in (group_flag_rates, family_flag_counts):
        with pytest.raises(ValueError, match=r"replication 3 \(record version 1\).*diagnostics\['families'\]"):
            function({"run": [_record(0, trustworthy=True), old]})
    # a failed replication of any version is skipped, not refused
    assert group_flag_rates({"run": [{"version": 1, "rep": 4, "status": "failed"}]})["fits"].tolist() == [0, 0, 0]
