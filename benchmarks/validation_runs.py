"""Benchmark of the validation runs: wall time per replication, 1 vs 2 workers, projected full-mode time.

Usage::

    .venv/bin/python benchmarks/validation_runs.py [--reps 4] [--full-reps 2] [--kind sbc]
        [--designs 2x2 6x3] [--note "what else ran on the machine"]
    .venv/bin/python benchmarks/validation_runs.py --from-records [--note ...]

1. Quick-mode replications (``ValidationConfig.preset(kind, "2x2", quick=True)``)
   run with 1 worker and then with 2 workers, each in a fresh results folder
   (so nothing is resumed) -> wall time, seconds per replication, speed-up.
   Wall time includes starting the worker processes (each loads PyStan and
   the compiled model once), which is what a user waits for.
2. ``--full-reps`` full-mode replications of each run of the chapter's plan
   (:func:`seu_sensitivity.validation.validation_plan`: recovery on 2x2 and
   6x3, SBC and mis-specified SBC on 2x2; ``--designs`` selects designs) in
   this process -> seconds per full replication, and the projected wall time
   of those full-mode runs on 1 and 2 workers. PyStan already runs a fit's
   chains in parallel, so with C cores and c chains per fit extra workers can
   add at most C / c: the 2-worker projection uses the measured quick-mode
   speed-up capped at max(1, C / c). One untimed replication runs first, so
   that the compile (or loading) of the program is not charged to the
   replications.
3. ``--from-records`` measures instead of projecting: it reads the records of
   a full run of the chapter's plan (``seu validate``, or a full render, in
   :func:`seu_sensitivity.settings.validation_dir`) and reports, per run, the replications
   found, their summed and mean time, failures and flagged fits. Runs with
   replications missing are reported as incomplete.

The figures, the load average at start and end, and ``--note`` are written to
``benchmarks/results/validation_runs.json``; other jobs on the machine slow
every figure down, so state them in the note.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time

from seu_sensitivity.settings import project_root
from seu_sensitivity.validation import (
    ValidationConfig,
    load_records,
    results_dir,
    run_validation,
    summarize_run,
    validation_plan,
)


def timed_run(config: ValidationConfig, reps: int, workers: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        run = run_validation(config, reps, workers=workers, root=root, progress=False)
        wall = time.perf_counter() - start
    return wall, summarize_run(run)


def write_results(results: dict) -> None:
    results["load_average_at_end"] = list(os.getloadavg())
    target = project_root() / "benchmarks" / "results" / "validation_runs.json"
    target.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written: {target.relative_to(project_root())}")


def from_records(note: str) -> None:
    """Times of a completed full-mode run of the chapter's plan, from its records."""
    runs, total, complete = {}, 0.0, True
    for name, (config, reps) in validation_plan(quick=False).items():
        records = load_records(results_dir(config), reps=range(reps))
        summary = summarize_run(records)
        seconds = sum(r.get("seconds", 0.0) for r in records)
        total += seconds
        complete &= len(records) == reps
        runs[name] = {"planned": reps, "found": len(records), "failed": summary["failed"],
                      "untrustworthy": summary["untrustworthy"], "divergent_fits": summary["divergent_fits"],
                      "seconds": seconds, "seconds_per_rep": summary["seconds_per_rep"]}
        print(f"  {name:22s}: {len(records):4d}/{reps} reps, {seconds / 60:6.1f} min "
              f"({summary['seconds_per_rep']:5.1f} s/rep), failed {summary['failed']}, "
              f"flagged {summary['untrustworthy']}")
    print(f"full plan: {total / 3600:.2f} h of replications on 1 worker" + ("" if complete else " (INCOMPLETE)"))
    write_results({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
                   "cores": os.cpu_count(), "note": note, "source": "records of the full plan",
                   "full_plan_records": {"complete": complete, "hours_1_worker": total / 3600, "runs": runs}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--full-reps", type=int, default=2)
    parser.add_argument("--kind", default="sbc", choices=["sbc", "recovery"])
    parser.add_argument("--designs", nargs="+", default=["2x2", "6x3"])
    parser.add_argument("--from-records", action="store_true",
                        help="report the times of a completed full run from its records (no fitting)")
    parser.add_argument("--note", default="", help="free text stored with the results (e.g. other load)")
    args = parser.parse_args()
    if args.from_records:
        from_records(args.note)
        return
    load_at_start = list(os.getloadavg())

    quick = ValidationConfig.preset(args.kind, "2x2", quick=True)
    print(f"quick mode, {args.kind} 2x2, {args.reps} replications")
    walls = {}
    for workers in (1, 2):
        wall, summary = timed_run(quick, args.reps, workers)
        walls[workers] = wall
        print(f"  {workers} worker(s): wall {wall:7.1f} s  = {wall / args.reps:6.2f} s/rep (wall)  "
              f"{summary['seconds_per_rep']:6.2f} s/rep (inside the worker)  failed {summary['failed']}")
    speedup = walls[1] / walls[2]
    print(f"  speed-up of 2 workers over 1: {speedup:.2f}x")
    cores = os.cpu_count() or 1
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
               "cores": cores, "note": args.note, "load_average_at_start": load_at_start,
               "quick": {"kind": args.kind, "design": "2x2", "reps": args.reps, "wall_seconds": walls,
                         "wall_seconds_per_rep": {w: t / args.reps for w, t in walls.items()},
                         "speedup_2_over_1": speedup},
               "full": {"reps_measured": args.full_reps, "seconds_per_rep": {}}}

    if args.full_reps <= 0:
        write_results(results)
        return
    plan = {name: (cfg, n) for name, (cfg, n) in validation_plan(quick=False).items() if cfg.design in args.designs}
    print(f"full mode, {args.full_reps} replication(s) of each planned run (1 worker, this process)")
    total_1 = 0.0
    for name, (cfg, n) in plan.items():
        timed_run(cfg, 1, 0)  # untimed: builds or loads the program
        wall, summary = timed_run(cfg, args.full_reps, 0)
        per_rep = wall / args.full_reps
        total_1 += per_rep * n
        results["full"]["seconds_per_rep"][name] = per_rep
        print(f"  {name:22s}: {per_rep:7.2f} s/rep  x {n} reps = {per_rep * n / 3600:6.2f} h "
              f"(1 worker); failed {summary['failed']}, flagged {summary['untrustworthy']}")
    chains = max(cfg.chains for cfg, _ in plan.values())
    full_speedup = min(speedup, max(1.0, cores / chains))
    print(f"projected full-mode time: {total_1 / 3600:.2f} h on 1 worker, {total_1 / full_speedup / 3600:.2f} h on "
          f"2 workers (speed-up {full_speedup:.2f}x: quick-mode {speedup:.2f}x capped at {cores} cores / "
          f"{chains} parallel chains per fit)")
    results["full"]["plan"] = {name: n for name, (_, n) in plan.items()}
    results["full"]["designs"] = args.designs
    results["full"]["speedup_2_over_1_assumed"] = full_speedup
    results["full"]["projected_hours"] = {"1 worker": total_1 / 3600, "2 workers": total_1 / full_speedup / 3600}
    write_results(results)


if __name__ == "__main__":
    main()
