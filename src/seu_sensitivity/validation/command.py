"""``seu validate recovery|sbc``: parameter recovery and SBC runs of h_m01.

Examples::

    seu validate sbc --design 2x2 --reps 200 --workers 2
    seu validate recovery --design 6x3 --reps 100 --scheduler tcp://host:8786
    seu validate sbc --quick --reps 4 --misspecified

Every replication is stored under ``<validation folder>/<run key>/`` (the
folder ``validation`` beside the fit cache, see
:func:`seu_sensitivity.settings.validation_dir`; or ``--root``), so re-running
the same command resumes an interrupted run.
"""

from __future__ import annotations

import argparse
import json

from seu_sensitivity.validation.config import FULL_REPS  # full-mode replication counts of the validation plan

#: replications of a quick run from the command line
QUICK_REPS = 4


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["recovery", "sbc"], help="parameter recovery or simulation-based calibration")
    parser.add_argument("--model", default="h_m01", choices=["h_m01"], help="model to validate (h_m01)")
    parser.add_argument("--design", default="2x2", choices=["2x2", "6x3"], help="simulated design")
    parser.add_argument("--reps", type=int, default=None,
                        help=f"replications (default: {QUICK_REPS} with --quick, else {FULL_REPS})")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (0: run in this process)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address (default: $SEU_DASK_SCHEDULER; none: local processes)")
    parser.add_argument("--quick", action="store_true", help="tiny data and short chains (same code path)")
    parser.add_argument("--misspecified", action="store_true",
                        help="SBC contrast: fit with a gamma0 prior different from the simulation prior")
    parser.add_argument("--seed", type=int, default=None, help="base seed of the run")
    parser.add_argument("--root", default=None,
                        help="results folder (default: 'validation' beside the fit cache, "
                             "e.g. <project>/.cache/validation)")
    parser.add_argument("--retry-failed", action="store_true", help="recompute replications recorded as failed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    """Run/resume the replications, print the summary and the recovery or uniformity table."""
    import pandas as pd

    from seu_sensitivity.validation.config import ValidationConfig
    from seu_sensitivity.validation.runner import run_validation
    from seu_sensitivity.validation.statistics import recovery_metrics, sbc_ranks, summarize_run, uniformity_tests

    overrides = {} if args.seed is None else {"seed": args.seed}
    if args.misspecified and args.kind != "sbc":
        print("seu validate: --misspecified applies to sbc only")
        return 2
    config = ValidationConfig.preset(args.kind, args.design, quick=args.quick, misspecified=args.misspecified,
                                     **overrides)
    reps = args.reps if args.reps is not None else (QUICK_REPS if args.quick else FULL_REPS[args.kind])
    result = run_validation(config, reps, workers=args.workers, scheduler=args.scheduler, root=args.root,
                            progress=not args.no_progress, retry_failed=args.retry_failed)
    summary = summarize_run(result)
    summary.update(run_key=config.key(), folder=str(result.folder), computed=len(result.computed),
                   skipped=len(result.skipped), wall_seconds=result.wall_seconds, executor=result.executor)
    if args.kind == "recovery":
        table = recovery_metrics(result.records, log_groups=("alpha",))  # alpha on the log scale, as the book reports it
    else:
        ranks = sbc_ranks(result.records)
        table = uniformity_tests(ranks, config.L) if len(ranks) else pd.DataFrame()
    if args.json:
        print(json.dumps({"summary": summary, "table": json.loads(table.to_json(orient="index"))}, indent=1,
                         default=str))
    else:
        print(f"run {summary['run_key']} ({summary['folder']})")
        print(f"  {summary['replications']} replications: {summary['ok']} ok, {summary['failed']} failed; "
              f"computed {summary['computed']}, resumed {summary['skipped']}; executor {summary['executor']}")
        print(f"  {summary['untrustworthy']} fits flagged by diagnose(); "
              f"{summary['seconds_per_rep']:.2f} s per replication; wall {summary['wall_seconds']:.1f} s")
        for failure in summary["failed_reps"]:
            print(f"  failed rep {failure['rep']} seeds {failure['seeds']}: {failure['error']}")
        with pd.option_context("display.width", 140, "display.max_rows", 200):
            print(table.round(3).to_string())
    # exit status 1 when any replication failed, so scripts notice
    return 1 if summary["failed"] else 0
