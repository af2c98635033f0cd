"""Validation runs (recovery / SBC of h_m01): seeds, resume, failures, executors, summaries.

Real fits use a tiny 2x2 design and short single-chain runs (the statistics
of those fits are not asserted, only the machinery). Statistical claims of the
summaries are tested on synthetic records with a known truth, by simulation
with fixed seeds and stated Monte Carlo tolerances.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from seu_sensitivity.validation import (
    CHAPTER_QUICK_REPS,
    FULL_REPS,
    RECORD_VERSION,
    ValidationConfig,
    coverage_checks,
    coverage_threshold,
    ecdf_difference,
    ecdf_difference_band,
    flag_counts,
    load_records,
    mean_scaled_rank,
    rank_statistic,
    recovery_metrics,
    rep_seeds,
    results_dir,
    run_validation,
    sbc_ranks,
    summarize_run,
    uniformity_tests,
    validation_plan,
)

#: the smallest configuration that still exercises simulate -> fit -> summarise
TINY = dict(n_obs=20, R=6, D=1, K=3, chains=1, warmup=100, draws=100, thin=2)


def tiny(kind: str = "sbc", **overrides) -> ValidationConfig:
    return ValidationConfig.preset(kind, "2x2", quick=True, **{**TINY, **overrides})


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory):
    """Two SBC replications run in this process; reused as the reference of the executor tests."""
    root = tmp_path_factory.mktemp("validation")
    return run_validation(tiny(), 2, workers=0, root=root, progress=False), root


# ----------------------------------------------------------------------------- seeds and config


def test_rep_seeds_are_deterministic_distinct_and_depend_on_the_base_seed():
    cfg = tiny()
    assert rep_seeds(cfg, 3) == rep_seeds(tiny(), 3)
    seeds = [rep_seeds(cfg, r)["fit"] for r in range(50)]
    assert len(set(seeds)) == 50
    assert all(0 <= s < 2**31 - 1 for s in seeds)
    assert rep_seeds(cfg, 3) != rep_seeds(tiny(seed=1), 3)
    assert rep_seeds(cfg, 3)["simulate"] != rep_seeds(cfg, 3)["fit"]


def test_run_key_changes_with_any_setting_and_config_round_trips(tmp_path, monkeypatch):
    cfg = tiny()
    assert cfg.key() == tiny().key()
    # an edited Stan program is a new run (its replications are not reused)
    import shutil

    from seu_sensitivity.settings import stan_dir

    original_key = cfg.key()
    edited = tmp_path / "stan"
    shutil.copytree(stan_dir(), edited)
    monkeypatch.setenv("SEU_STAN_DIR", str(edited))
    assert cfg.key() == original_key  # the same programs elsewhere
    with open(edited / "h_m01.stan", "a") as program:
        program.write("\n// edited\n")
    edited_key = cfg.key()
    assert edited_key != original_key
    # so is an edit of a function the program includes
    with open(edited / "functions" / "seu_choice.stanfunctions", "a") as functions:
        functions.write("\n// edited\n")
    assert cfg.key() not in (original_key, edited_key)
    monkeypatch.delenv("SEU_STAN_DIR")
    assert cfg.key() == original_key
    assert cfg.key() != tiny(draws=101).key()
    assert cfg.key() != ValidationConfig.preset("sbc", "2x2", quick=True, misspecified=True, **TINY).key()
    assert ValidationConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.L == 50  # 100 draws thinned by 2
    with pytest.raises(ValueError):
        ValidationConfig(kind="nope")
    with pytest.raises(ValueError):
        ValidationConfig(design="3x3")


def test_run_key_is_canonical_numpy_and_python_values_give_the_same_key():
    cfg = tiny()
    same = tiny(n_obs=np.int64(20), R=np.int32(6), seed=np.int64(cfg.seed), gamma=(np.float64(0.5), np.float64(-0.5)),
                sampler={"adapt_delta": np.float64(0.9)})
    assert same.key() == cfg.key()
    # key order of the mappings does not matter, their values do
    assert tiny(fit_priors={"gamma0_sd": 0.5, "gamma0_mu": 1.5}).key() == tiny(
        fit_priors={"gamma0_mu": 1.5, "gamma0_sd": 0.5}).key()
    variants = [cfg, tiny(seed=1), tiny(n_obs=21), tiny(n_obs=20.5), tiny(sampler={"adapt_delta": 0.95}),
                tiny(gamma=(0.5, -0.4)), tiny(sim_priors={"gamma0_mu": 2.0}), tiny("recovery"), tiny(label="x")]
    assert len({v.key() for v in variants}) == len(variants)
    # a value without a defined content is refused rather than hashed by its repr
    with pytest.raises(TypeError):
        tiny(sampler={"callback": object()}).key()


def test_run_key_is_the_package_content_hash_and_the_same_in_another_process():
    from seu_sensitivity.inference.cache import content_hash
    from seu_sensitivity.inference.programs import stan_code
    from seu_sensitivity.validation import RECORD_VERSION, design_for

    cfg = tiny()
    design = design_for(cfg.design)
    digest = content_hash(version=RECORD_VERSION, program=stan_code("h_m01"),
                          design={"cells": list(design.cell_ids), "X": design.X}, config=cfg.to_dict())
    assert cfg.key() == f"sbc-2x2-{digest[:12]}"
    # nothing in the key depends on the process (string hashing is randomised per process)
    code = ("from seu_sensitivity.validation import ValidationConfig as C; "
            f"print(C.from_dict({cfg.to_dict()!r}).key())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == cfg.key()


def test_default_seed_is_the_package_default_and_6x3_is_the_alignment_study(monkeypatch):
    from seu_sensitivity.model import design as design_module
    from seu_sensitivity.settings import DEFAULT_SEED
    from seu_sensitivity.validation import design_for

    assert ValidationConfig().seed == DEFAULT_SEED
    six = design_for("6x3")
    assert list(six.cell_ids) == list(design_module.alignment_study_design().cell_ids)
    assert six.X.equals(design_module.alignment_study_design().X)
    assert len(ValidationConfig.preset("recovery", "6x3").gamma) == six.P
    # the design's content is part of the key: renamed levels are a new run
    before = ValidationConfig.preset("recovery", "6x3").key()
    monkeypatch.setitem(design_module.ALIGNMENT_STUDY, "prompt", ["plain", "chain-of-thought", "role-play"])
    assert ValidationConfig.preset("recovery", "6x3").key() != before


def test_validation_plan_full_mode_meets_the_required_counts_and_quick_mode_is_small():
    from seu_sensitivity.validation import command as validation_command

    full = validation_plan(quick=False)
    assert set(full) == {"recovery 2x2", "recovery 6x3", "sbc 2x2", "sbc 2x2 misspecified"}
    for name, (cfg, reps) in full.items():
        assert reps >= (100 if cfg.kind == "recovery" else 200), name
        assert cfg.n_obs == ValidationConfig().n_obs and cfg.chains >= 2  # full-size data and chains
    assert {cfg.design for cfg, _ in full.values() if cfg.kind == "recovery"} == {"2x2", "6x3"}
    wrong, _ = full["sbc 2x2 misspecified"]
    assert wrong.kind == "sbc" and dict(wrong.fit_priors) != dict(wrong.sim_priors)
    assert full["sbc 2x2"][0].fit_priors == full["sbc 2x2"][0].sim_priors
    quick = validation_plan(quick=True)
    assert set(quick) == {"recovery 2x2", "sbc 2x2", "sbc 2x2 misspecified"}
    for name, (cfg, reps) in quick.items():
        assert reps == CHAPTER_QUICK_REPS[cfg.kind] < FULL_REPS[cfg.kind]
        assert cfg == ValidationConfig.preset(cfg.kind, "2x2", quick=True, misspecified="misspecified" in name)
    # the command line's default full-mode counts are the plan's
    assert validation_command.FULL_REPS is FULL_REPS


# ----------------------------------------------------------------------------- runs


def test_inline_run_writes_one_record_per_replication_and_resumes(inline_run):
    run, root = inline_run
    assert run.computed == [0, 1] and run.skipped == []
    files = sorted(p.name for p in run.folder.glob("rep-*.json"))
    assert files == ["rep-00000.json", "rep-00001.json"]
    assert not list(run.folder.glob("*.tmp"))  # atomic writes leave no temporaries
    for rec in run.records:
        assert rec["status"] == "ok", rec.get("error")
        assert rec["seeds"] == rep_seeds(run.config, rec["rep"])
        names = set(rec["params"])
        groups = [n.split("[")[0] for n in names]
        # 2x2: gamma0, 2 slopes, sigma_cell, 4 cell sensitivities, K - 1 = 2 simplex increments
        assert {"gamma0", "sigma_cell"} <= names
        assert (groups.count("gamma"), groups.count("alpha"), groups.count("delta")) == (2, 4, 2)
        for s in rec["params"].values():
            assert 0 <= s["rank"] <= run.L
            assert s["q05"] <= s["q25"] <= s["q50"] <= s["q75"] <= s["q95"]
        # convergence by posterior variable and by default group (record version 2)
        diag = rec["diagnostics"]
        assert rec["version"] == RECORD_VERSION and diag["chains"] == 1
        assert {"gamma0", "gamma", "sigma_cell", "alpha", "eta", "beta", "delta"} <= set(diag["families"])
        assert not {"log_lik", "y_rep"} & set(diag["families"])
        assert set(diag["groups"]) == {"reported", "beliefs and utilities"}
        # one chain has no R-hat, so every group is flagged, as diagnose() flags the fit
        assert all(math.isnan(f["max R-hat"]) for f in diag["families"].values())
        assert not any(g["ok"] for g in diag["groups"].values()) and not diag["trustworthy"]
    # second run: nothing new is computed, the records are the stored ones
    again = run_validation(run.config, 2, workers=0, root=root, progress=False)
    assert again.computed == [] and again.skipped == [0, 1]
    assert again.records == run.records
    # extending the run computes only the new replication
    more = run_validation(run.config, 3, workers=0, root=root, progress=False)
    assert more.computed == [2] and more.records[:2] == run.records
    assert summarize_run(more)["ok"] == 3


def test_failed_replication_is_recorded_with_error_and_seed(tmp_path):
    cfg = tiny(sampler={"no_such_sampler_option": 1})
    run = run_validation(cfg, 2, workers=0, root=tmp_path, progress=False)
    summary = summarize_run(run)
    assert summary["failed"] == 2 and summary["ok"] == 0 and run.n_failed == 2
    for rec, info in zip(run.records, summary["failed_reps"]):
        assert rec["status"] == "failed"
        assert "no_such_sampler_option" in rec["error"]
        assert rec["seeds"] == rep_seeds(cfg, rec["rep"]) == info["seeds"]
    # failures are cached like successes; retry_failed recomputes them
    assert run_validation(cfg, 2, workers=0, root=tmp_path, progress=False).computed == []
    assert run_validation(cfg, 2, workers=0, root=tmp_path, progress=False, retry_failed=True).computed == [0, 1]


def test_process_executor_with_two_workers_reproduces_the_inline_records(inline_run, tmp_path):
    reference, _ = inline_run
    run = run_validation(reference.config, 2, workers=2, root=tmp_path, progress=False)
    assert run.executor.startswith("ProcessPoolExecutor(2)")
    assert [r["status"] for r in run.records] == ["ok", "ok"]
    # same seeds -> same data and same draws, whichever process ran the replication
    for a, b in zip(run.records, reference.records):
        assert a["params"] == b["params"]


def test_dask_local_cluster_runs_replications(inline_run, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    reference, _ = inline_run
    import dask

    # PyStan samples in child processes, which daemonic Dask workers may not start
    with dask.config.set({"distributed.worker.daemon": False}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run = run_validation(reference.config, 2, scheduler=cluster.scheduler_address, root=tmp_path, progress=False)
    assert run.executor.startswith("dask(")
    assert [r["status"] for r in run.records] == ["ok", "ok"]
    for a, b in zip(run.records, reference.records):
        assert a["params"] == b["params"]


# ----------------------------------------------------------------------------- where and how records are stored


def fake_replicate(config, rep: int) -> dict:
    """A replication without fitting: a record of the right shape, instantly."""
    return {"rep": rep, "status": "ok", "seconds": 0.0, "params": {"x": {"rank": rep}},
            "diagnostics": {"trustworthy": True, "failed_checks": [], "divergences": 0}}


def temporaries(folder) -> list:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_records_go_to_the_validation_folder_beside_seu_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SEU_CACHE_DIR", str(tmp_path / "elsewhere" / "fits"))
    cfg = tiny()
    expected = tmp_path / "elsewhere" / "validation" / cfg.key()
    assert results_dir(cfg) == expected
    run = run_validation(cfg, 2, workers=0, progress=False, replicate_fn=fake_replicate)
    assert run.folder == expected
    assert sorted(p.name for p in expected.iterdir()) == ["config.json", "rep-00000.json", "rep-00001.json"]
    assert ValidationConfig.from_dict(json.loads((expected / "config.json").read_text())) == cfg
    assert load_records(expected) == run.records and [r["rep"] for r in run.records] == [0, 1]


def test_an_interrupted_record_write_leaves_no_record_and_the_run_resumes(tmp_path, monkeypatch):
    cfg = tiny()
    real_replace = os.replace

    def crash_before_commit(src, dst, *args, **kwargs):
        if os.path.basename(dst) == "rep-00001.json":
            raise KeyboardInterrupt("killed while storing replication 1")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", crash_before_commit)
    with pytest.raises(KeyboardInterrupt):
        run_validation(cfg, 3, workers=0, root=tmp_path, progress=False, replicate_fn=fake_replicate)
    monkeypatch.setattr(os, "replace", real_replace)
    folder = results_dir(cfg, tmp_path)
    assert sorted(p.name for p in folder.glob("rep-*.json")) == ["rep-00000.json"]
    assert temporaries(folder) == []
    resumed = run_validation(cfg, 3, workers=0, root=tmp_path, progress=False, replicate_fn=fake_replicate)
    assert resumed.skipped == [0] and resumed.computed == [1, 2]


def test_a_failed_rewrite_keeps_the_stored_record_whole(tmp_path, monkeypatch):
    from seu_sensitivity.validation.records import write_record

    path = write_record(tmp_path, 4, fake_replicate(None, 4))
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_record(tmp_path, 4, {**fake_replicate(None, 4), "status": "failed"})
    assert path.read_bytes() == before and temporaries(tmp_path) == []
    # a record JSON cannot hold fails before any file is touched
    monkeypatch.undo()
    with pytest.raises(TypeError):
        write_record(tmp_path, 5, {"rep": 5, "bad": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep-00004.json"]


# ----------------------------------------------------------------------------- summaries, known answers


def _record(rep: int, params: dict) -> dict:
    return {"rep": rep, "status": "ok", "params": params, "diagnostics": {"trustworthy": True, "divergences": 0},
            "seconds": 1.0}


def _normal_summary(truth: float, mean: float, sd: float) -> dict:
    from scipy import stats

    q = stats.norm.ppf([0.05, 0.25, 0.5, 0.75, 0.95], loc=mean, scale=sd)
    return {"truth": truth, "mean": mean, "sd": sd, "q05": q[0], "q25": q[1], "q50": q[2], "q75": q[3],
            "q95": q[4], "rank": 0}


def test_recovery_metrics_bias_and_rmse_on_known_errors():
    errors = [1.0, -1.0, 3.0]
    records = [_record(i, {"gamma0": _normal_summary(2.0, 2.0 + e, 1.0)}) for i, e in enumerate(errors)]
    row = recovery_metrics(records).loc["gamma0"]
    assert row["n"] == 3
    assert row["bias"] == pytest.approx(1.0)
    assert row["rmse"] == pytest.approx(np.sqrt(11 / 3))
    # |error| <= 0.674 sd is inside the 50% interval, <= 1.645 sd inside the 90% one
    assert row["cov50"] == pytest.approx(0.0) and row["cov90"] == pytest.approx(2 / 3)
    assert row["cov90_mcse"] == pytest.approx(np.sqrt(0.9 * 0.1 / 3))


def _lognormal_summary(truth: float, log_median: float, log_sd: float) -> dict:
    """Summary of a posterior of theta whose log is normal (quantiles exponentiated)."""
    s = _normal_summary(np.log(truth), log_median, log_sd)
    mean = float(np.exp(log_median + log_sd**2 / 2))
    sd = float(mean * np.sqrt(np.expm1(log_sd**2)))
    return {**{k: float(np.exp(s[k])) for k in ("q05", "q25", "q50", "q75", "q95")},
            "truth": truth, "mean": mean, "sd": sd, "rank": 0}


def test_recovery_metrics_on_the_log_scale_for_a_skewed_parameter():
    # lognormal posteriors centred on the truth's log, sd 0.8 on the log scale, truths from 5 to 500:
    # no bias on the log scale, while the natural-scale mean sits far above the truth
    rng = np.random.default_rng(12)
    n, log_sd = 400, 0.8
    log_truth = rng.uniform(np.log(5), np.log(500), size=n)
    log_medians = log_truth + log_sd * rng.normal(size=n)  # the estimate's error on the log scale is N(0, 0.8)
    records = [_record(i, {f"alpha[c{i % 4}]": _lognormal_summary(float(np.exp(t)), m, log_sd)})
               for i, (t, m) in enumerate(zip(log_truth, log_medians))]
    log_row = recovery_metrics(records, by="group", log_groups=("alpha",)).loc["log alpha"]
    natural = recovery_metrics(records, by="group").loc["alpha"]
    assert log_row["scale"] == "log" and natural["scale"] == "natural"
    assert log_row["bias"] == pytest.approx(0.0, abs=4 * log_sd / np.sqrt(n))
    assert log_row["rmse"] == pytest.approx(log_sd, rel=0.15)
    # the interquartile range recovers the posterior sd of log alpha: a calibrated posterior's rel_rmse is about 1
    assert log_row["rel_rmse"] == pytest.approx(1.0, rel=0.15)
    assert natural["bias"] > 10  # the mean of a skewed posterior: exp(0.8^2 / 2) = 1.38 times the median
    # coverage does not depend on the scale
    assert log_row["cov90"] == natural["cov90"]
    # per parameter, rows are named by the log of the parameter
    assert list(recovery_metrics(records, log_groups=("alpha",)).index) == [f"log alpha[c{k}]" for k in range(4)]


@pytest.mark.parametrize("posterior_sd, expected50, expected90", [
    (1.0, 0.5, 0.9),                 # calibrated: posterior sd equals the sampling sd of the mean
    (0.5, 0.2611, 0.5117),           # overconfident: P(|N(0,1)| < 0.6745 * 0.5), P(|N(0,1)| < 1.6449 * 0.5)
])
def test_recovery_coverage_matches_known_coverage_within_mc_error(posterior_sd, expected50, expected90):
    rng = np.random.default_rng(11)
    n = 400
    truth = rng.normal(size=n)
    means = truth + rng.normal(size=n)  # the estimate's error is N(0, 1)
    records = [_record(i, {"theta": _normal_summary(t, m, posterior_sd)}) for i, (t, m) in enumerate(zip(truth, means))]
    row = recovery_metrics(records).loc["theta"]
    # 4 binomial standard errors at the expected value: fails by chance with probability < 1e-4
    assert abs(row["cov50"] - expected50) < 4 * np.sqrt(expected50 * (1 - expected50) / n)
    assert abs(row["cov90"] - expected90) < 4 * np.sqrt(expected90 * (1 - expected90) / n)
    assert row["bias"] == pytest.approx(0.0, abs=4 / np.sqrt(n))


def _group_records(rng, n_reps: int, m: int, coverage: float, dependent: bool) -> list[dict]:
    """Records with a group ``g`` of ``m`` entries whose 90% intervals contain the truth with
    probability ``coverage``: all entries of a replication together (``dependent``) or independently."""
    records = []
    for i in range(n_reps):
        hits = np.repeat(rng.random() < coverage, m) if dependent else rng.random(m) < coverage
        params = {f"g[{j}]": _normal_summary(0.0, 0.0 if hit else 5.0, 1.0) for j, hit in enumerate(hits)}
        records.append(_record(i, params))
    return records


def test_group_coverage_mcse_counts_replications_and_bounds_the_real_error():
    rng = np.random.default_rng(8)
    n_reps, m, n_sim = 40, 4, 4000
    dependent = recovery_metrics(_group_records(rng, n_reps, m, 0.9, True), by="group").loc["g"]
    independent = recovery_metrics(_group_records(rng, n_reps, m, 0.9, False), by="group").loc["g"]
    for row in (dependent, independent):
        assert (row["n"], row["reps"]) == (n_reps * m, n_reps)
        assert row["cov90_mcse"] == pytest.approx(np.sqrt(0.09 / n_reps))
    # the spread of a pooled coverage over repeated runs (sd estimated from n_sim runs, relative MC
    # error 1/sqrt(2 n_sim) ~ 1.1%, allowed 4 of them): entries contained together reach the bound,
    # independent entries are sqrt(m) times below it
    tol = 4 / np.sqrt(2 * n_sim)
    together = rng.binomial(n_reps, 0.9, n_sim) / n_reps
    apart = rng.binomial(n_reps * m, 0.9, n_sim) / (n_reps * m)
    assert np.std(together, ddof=1) == pytest.approx(dependent["cov90_mcse"], rel=tol)
    assert np.std(apart, ddof=1) == pytest.approx(dependent["cov90_mcse"] / np.sqrt(m), rel=tol)


def test_coverage_threshold_is_the_bonferroni_exact_binomial_bound():
    from scipy import stats

    for nominal, reps, n_tests in ((0.9, 100, 10), (0.5, 100, 20), (0.9, 12, 10), (0.5, 12, 10)):
        t = coverage_threshold(nominal, reps, n_tests=n_tests)
        k = round(t * reps)
        assert t == k / reps
        # k is the last count whose lower tail stays within alpha / n_tests
        assert stats.binom.cdf(k, reps, nominal) <= 0.01 / n_tests < stats.binom.cdf(k + 1, reps, nominal)
    # close to the normal approximation with 100 replications (nominal - 3.09 se = 0.807)
    assert coverage_threshold(0.9, 100, n_tests=10) == pytest.approx(0.79)
    assert coverage_threshold(0.5, 5, n_tests=10) == -0.2  # even 0 of 5 is not unlikely enough: nothing fails
    assert coverage_threshold(0.5, 25, n_tests=10) < coverage_threshold(0.5, 100, n_tests=10) < 0.5
    with pytest.raises(ValueError):
        coverage_threshold(1.0, 10)
    with pytest.raises(ValueError):
        coverage_threshold(0.9, 0)


def test_coverage_rule_holds_its_family_wise_level_and_catches_under_coverage():
    rng = np.random.default_rng(17)
    n_reps, groups, m, alpha, n_sim = 100, 5, 4, 0.05, 20000
    levels = (0.5, 0.9)
    thresholds = {lv: coverage_threshold(lv, n_reps, n_tests=groups * len(levels), alpha=alpha) for lv in levels}

    def any_fails(draw) -> np.ndarray:
        return np.any([draw(lv) <= thresholds[lv] for lv in levels for _ in range(groups)], axis=0)

    se = np.sqrt(alpha * (1 - alpha) / n_sim)
    # entries of a group contained together: the pooled coverage is binomial / reps
    together = any_fails(lambda lv: rng.binomial(n_reps, lv, n_sim) / n_reps).mean()
    # m independent entries per replication: less spread, so fewer false alarms
    apart = any_fails(lambda lv: rng.binomial(n_reps * m, lv, n_sim) / (n_reps * m)).mean()
    assert together <= alpha + 3 * se and apart <= together + 3 * se
    # a group whose 90% intervals cover 75% of the time is caught: threshold 0.81, P(Bin(100, 0.75) <= 81) ~ 0.94
    assert thresholds[0.9] == pytest.approx(0.81)
    assert np.mean(rng.binomial(n_reps, 0.75, n_sim) / n_reps <= thresholds[0.9]) >= 0.9


def test_coverage_checks_flags_rows_and_rejects_bad_tables():
    import pandas as pd

    table = pd.DataFrame({"reps": [100, 100], "cov50": [0.5, 0.2], "cov90": [0.95, 0.6]}, index=["good", "bad"])
    out = coverage_checks(table, alpha=0.01)
    assert len(out) == 4 and out.attrs["n_tests"] == 4
    assert np.allclose(out["threshold"], [coverage_threshold(lv, 100, n_tests=4) for lv in (0.5, 0.9, 0.5, 0.9)])
    assert np.allclose(out["z"], (out["level"] - out["threshold"]) / out["mcse"])
    assert out.set_index(["row", "level"])["ok"].to_dict() == {
        ("good", 0.5): True, ("good", 0.9): True, ("bad", 0.5): False, ("bad", 0.9): False}
    assert np.allclose(out["mcse"], np.sqrt(out["level"] * (1 - out["level"]) / 100))
    with pytest.raises(ValueError):
        coverage_checks(table.iloc[:0])
    with pytest.raises(ValueError):
        coverage_checks(table, levels=(0.8,))


def _sbc_ranks(rng, n_reps: int, L: int, posterior_sd: float) -> list[int]:
    """Ranks of a normal-normal model whose 'posterior' has sd ``posterior_sd`` (1 = calibrated,
    since prior and posterior are both N(0, 1) when the data carry no information)."""
    return [rank_statistic(rng.normal(0, posterior_sd, size=L), rng.normal(), thin=1) for _ in range(n_reps)]


def test_uniformity_test_holds_its_level_and_rejects_miscalibration():
    import pandas as pd

    rng = np.random.default_rng(2024)
    L, n_reps, n_sim, alpha = 49, 100, 200, 0.1
    rejected_uniform = rejected_narrow = 0
    for _ in range(n_sim):
        uniform = pd.DataFrame({f"p{i}": _sbc_ranks(rng, n_reps, L, 1.0) for i in range(3)})
        narrow = pd.DataFrame({"p0": _sbc_ranks(rng, n_reps, L, 0.6), "p1": _sbc_ranks(rng, n_reps, L, 1.0)})
        rejected_uniform += bool(uniformity_tests(uniform, L, alpha=alpha)["reject"].any())
        rejected_narrow += bool(uniformity_tests(narrow, L, alpha=alpha)["reject"]["p0"])
    # family-wise error rate <= alpha (Holm), allowing 3 Monte Carlo standard errors
    assert rejected_uniform / n_sim <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / n_sim)
    # an overconfident posterior (sd 0.6 instead of 1) gives U-shaped ranks, almost always detected
    assert rejected_narrow / n_sim >= 0.9


def test_holm_and_bonferroni_adjustments():
    import pandas as pd

    rng = np.random.default_rng(5)
    ranks = pd.DataFrame({"a": rng.integers(0, 20, 60), "b": np.zeros(60, dtype=int)})
    holm = uniformity_tests(ranks, 19, correction="holm")
    bonf = uniformity_tests(ranks, 19, correction="bonferroni")
    assert bool(holm.loc["b", "reject"]) and bool(bonf.loc["b", "reject"])  # all ranks 0: not uniform
    assert (holm["p_adj"] <= bonf["p_adj"] + 1e-15).all() and (holm["p_adj"] >= holm["p"]).all()
    with pytest.raises(ValueError):
        uniformity_tests(ranks, 19, correction="none")


def test_ecdf_band_is_simultaneous_at_its_level():
    n, L, level, n_check = 100, 30, 0.9, 400
    band = ecdf_difference_band(n, L, level=level, n_sim=2000, seed=1)
    rng = np.random.default_rng(99)  # independent of the band's own simulation
    inside = np.mean([np.all(np.abs(ecdf_difference(rng.integers(0, L + 1, n), L)[1]) <= band + 1e-12)
                      for _ in range(n_check)])
    assert abs(inside - level) < 4 * np.sqrt(level * (1 - level) / n_check)
    # the ECDF difference of ranks all at 0 leaves the band
    assert np.any(np.abs(ecdf_difference(np.zeros(n), L)[1]) > band)


def test_ecdf_band_exits_at_a_bonferroni_level_hold_the_family_wise_rate():
    """Ten calibrated parameters, per-band level 1 - 0.1 / 10: some curve leaves its band in at most
    about 10% of simulated families (within 4 binomial SEs); ranks piled at L always leave."""
    from seu_sensitivity.validation import ecdf_band_exits

    n, L, m, a, families = 60, 20, 10, 0.1, 300
    rng = np.random.default_rng(7)
    any_exit = [ecdf_band_exits(pd.DataFrame(rng.integers(0, L + 1, (n, m))), L, level=1 - a / m, seed=3).any()
                for _ in range(families)]
    assert np.mean(any_exit) < a + 4 * np.sqrt(a * (1 - a) / families)
    piled = pd.DataFrame({"x": np.full(n, L), "y": rng.integers(0, L + 1, n)})
    assert ecdf_band_exits(piled, L, level=1 - a / m)["x"]
    with pytest.raises(ValueError, match="level"):
        ecdf_difference_band(n, L, level=1.0)


def test_sbc_ranks_table_skips_failed_records():
    records = [_record(0, {"x": {"rank": 3}}), {"rep": 1, "status": "failed"}, _record(2, {"x": {"rank": 5}})]
    table = sbc_ranks(records)
    assert list(table.index) == [0, 2] and list(table["x"]) == [3, 5]


def test_load_records_reads_what_the_run_stored(inline_run):
    run, _ = inline_run
    assert load_records(run.folder, [0, 1]) == run.records[:2]
    assert load_records(run.folder, [99]) == []


# ----------------------------------------------------------------------------- CLI


def test_cli_validate_is_registered_and_rejects_misspecified_recovery(capsys):
    from seu_sensitivity.cli import COMMANDS, main

    assert COMMANDS["validate"][0] == "seu_sensitivity.validation.command"
    assert main(["validate", "recovery", "--quick", "--misspecified"]) == 2
    assert "sbc only" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["validate", "sbc", "--design", "3x3"])


# ----------------------------------------------------------------------------- figures


def test_validation_figures_have_one_panel_per_parameter():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seu_sensitivity.validation.figures import ecdf_difference_plot, rank_histograms, recovery_scatter

    rng = np.random.default_rng(3)
    records = [_record(i, {n: {**_normal_summary(0.0, rng.normal(), 1.0), "rank": int(rng.integers(0, 20))}
                           for n in ("a", "b", "c")}) for i in range(30)]
    for fig in (rank_histograms(records, 19), ecdf_difference_plot(records, 19), recovery_scatter(records)):
        titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
        assert titles == ["a", "b", "c"]
        plt.close(fig)


def test_centred_intervals_and_coverage_plot_show_every_group():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seu_sensitivity.validation.figures import centred_intervals_plot, coverage_plot

    rng = np.random.default_rng(4)
    names = ["gamma0", "gamma[a]", "gamma[b]", "sigma_cell", "alpha[c1]", "alpha[c2]", "delta[all,1]"]

    def summary(name):
        truth = float(np.exp(rng.normal(3, 0.3))) if name.startswith("alpha") else rng.normal()
        return _normal_summary(truth, truth * (1 + 0.1 * rng.normal()) if name.startswith("alpha")
                               else truth + rng.normal(), 1.0 if not name.startswith("alpha") else 0.1 * truth)

    records = [_record(i, {n: summary(n) for n in names}) for i in range(20)]
    fig = centred_intervals_plot({"A": records, "B": records[:10]}, max_intervals=15)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 10  # 2 runs x 5 groups, one column per run
    assert fig.get_size_inches()[0] == pytest.approx(8.0)  # the page's width
    titles = [ax.get_title().split(",")[0] for ax in visible]
    labels = ["$\\gamma_0$", "$\\gamma$", "$\\sigma_{\\mathrm{cell}}$", "$\\alpha$", "$\\delta$"]
    assert titles == [f"{run}: {label}" for label in labels for run in ("A", "B")]
    # the panel of alpha in run A (20 x 2 entries) draws at most 15 intervals
    assert len(visible[6].collections[0].get_segments()) == 15
    # the coverage in a title is the share of intervals containing the truth
    inside = np.mean([s["q05"] <= s["truth"] <= s["q95"] for r in records for k, s in r["params"].items()
                      if k.startswith("gamma[")])
    assert f"{inside:.2f}" in visible[2].get_title()
    plt.close(fig)

    import pandas as pd

    table = pd.concat({"2x2": recovery_metrics(records, by="group")}, names=["design", "group"])
    checks = coverage_checks(table)
    fig = coverage_plot(checks)
    assert [ax.get_title() for ax in fig.axes] == ["50% intervals", "90% intervals"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [f"2x2 {g}" for g in table.index.get_level_values(1)]
    plt.close(fig)


def test_sbc_contrast_plot_marks_the_miscalibrated_run():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    from seu_sensitivity.validation.figures import sbc_contrast_plot

    rng = np.random.default_rng(6)
    L, n = 19, 200
    uniform = [_record(i, {"x": {"rank": int(rng.integers(0, L + 1))}}) for i in range(n)]
    piled = [_record(i, {"x": {"rank": int(min(L, L - rng.integers(0, 4)))}}) for i in range(n)]
    fig = sbc_contrast_plot({"good": (uniform, L), "bad": (piled, L)}, parameters=("x",))
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines if not line.get_label().startswith("_")] == ["good", "bad"]
    curves = [line for line in ax.lines if not line.get_label().startswith("_")]
    colours = [mcolors.to_hex(line.get_color()) for line in curves]
    assert colours == [mcolors.to_hex("C0"), mcolors.to_hex("C3")]  # only the piled-up ranks leave the band
    plt.close(fig)


def test_flag_counts_tallies_each_failed_check_per_run_and_skips_failed_replications():
    def rec(*checks, status="ok"):
        return {"status": status, "diagnostics": {"trustworthy": not checks, "failed_checks": list(checks)}}

    runs = {
        "a": [rec("max R-hat", "divergences"), rec("max R-hat"), rec(), rec("divergences", status="failed")],
        "b": [rec("min bulk ESS"), rec()],
    }
    table = flag_counts(runs)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a"].to_dict() == {"fits": 3, "flagged": 2, "max R-hat": 2, "divergences": 1, "min bulk ESS": 0}
    assert table.loc["b"].to_dict() == {"fits": 2, "flagged": 1, "max R-hat": 0, "divergences": 0, "min bulk ESS": 1}
    # a fit counts once in `flagged` however many checks it fails
    assert (table["flagged"] <= table["fits"]).all()


def test_mean_scaled_rank_z_is_standard_normal_for_uniform_ranks_and_moves_with_bias():
    """Calibration by simulation: for uniform ranks, |z| > 1.96 about 5% of the time
    (2000 sets, MC SE 0.5 points: tolerance 3 SE); ranks piled at L give a large z."""
    rng = np.random.default_rng(5)
    L, n = 100, 60
    sets = pd.DataFrame({f"p{i}": rng.integers(0, L + 1, size=n) for i in range(2000)})
    table = mean_scaled_rank(sets, L)
    assert table["se"].tolist() == pytest.approx([np.sqrt(1 / 12 / n)] * 2000)
    share = float((table["z"].abs() > 1.96).mean())
    assert abs(share - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 2000)
    assert abs(float(table["z"].mean())) < 3 / np.sqrt(2000)
    biased = mean_scaled_rank(pd.DataFrame({"gamma0": rng.integers(70, L + 1, size=n)}), L)
    assert biased.loc["gamma0", "mean"] > 0.7 and biased.loc["gamma0", "z"] > 5
