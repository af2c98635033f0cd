"""Validation of h_m01 at scale: parameter recovery and simulation-based calibration.

A run is a :class:`ValidationConfig` plus a number of replications; each
replication simulates one data set, fits h_m01 and keeps a small record.

``config``
    :class:`ValidationConfig`, its presets, the designs, replication seeds and
    the chapter's plan.
``runner``
    :func:`run_validation` and :func:`replicate`: replications inline, on
    processes or on a Dask cluster, resuming from stored records.
``records``
    Where records live (beside the fit cache) and their atomic reading and writing.
``statistics``
    Recovery metrics and coverage tests, SBC ranks, uniformity tests, ECDF bands, run summaries,
    flag rates of the whole fit and of each group of quantities.
``figures``
    The chapter's figures of those statistics.
``command``
    ``seu validate recovery|sbc``.

>>> from seu_sensitivity.validation import ValidationConfig, run_validation   # doctest: +SKIP
>>> cfg = ValidationConfig.preset("sbc", "2x2", quick=True)                   # doctest: +SKIP
>>> run = run_validation(cfg, reps=4, workers=2)                              # doctest: +SKIP
>>> uniformity_tests(sbc_ranks(run.records), run.L)                           # doctest: +SKIP
"""

from __future__ import annotations

from seu_sensitivity.validation.config import (
    CHAPTER_QUICK_REPS,
    FULL_REPS,
    RECORD_VERSION,
    ValidationConfig,
    design_for,
    rep_seeds,
    validation_plan,
)
from seu_sensitivity.validation.records import load_records, results_dir
from seu_sensitivity.validation.runner import ValidationRun, convergence_by_family, replicate, run_validation
from seu_sensitivity.validation.statistics import (
    WHOLE_FIT,
    convergence_thresholds,
    coverage_checks,
    coverage_threshold,
    default_groups,
    ecdf_band_exits,
    ecdf_difference,
    ecdf_difference_band,
    family_flag_counts,
    flag_counts,
    group_flag_rates,
    group_verdicts,
    mean_scaled_rank,
    parameter_group,
    rank_statistic,
    recovery_metrics,
    sbc_ranks,
    summarize_run,
    uniformity_tests,
)

__all__ = [
    "CHAPTER_QUICK_REPS",
    "FULL_REPS",
    "RECORD_VERSION",
    "ValidationConfig",
    "ValidationRun",
    "WHOLE_FIT",
    "convergence_by_family",
    "convergence_thresholds",
    "coverage_checks",
    "coverage_threshold",
    "default_groups",
    "design_for",
    "ecdf_band_exits",
    "ecdf_difference",
    "ecdf_difference_band",
    "family_flag_counts",
    "flag_counts",
    "group_flag_rates",
    "group_verdicts",
    "load_records",
    "mean_scaled_rank",
    "parameter_group",
    "rank_statistic",
    "recovery_metrics",
    "rep_seeds",
    "replicate",
    "results_dir",
    "run_validation",
    "sbc_ranks",
    "summarize_run",
    "uniformity_tests",
    "validation_plan",
]
