"""Benchmark: does the validation's flag rate on the reported quantities fall with longer chains?

A report of figures, not a test. The chapter's full-mode validation fits run
2 chains of 500 draws after 500 warm-up; at that length most fits are
flagged on the reported quantities (``benchmarks/results/validation_flags.json``).
This runs the same recovery replications of the 2 x 2 design (same seeds,
same simulated data) at the chapter's length and at 4 chains of 1000 draws
after 1000 warm-up, side by side, and reports for each the share of fits
flagged by ``diagnose()``, on the reported quantities
(:data:`seu_sensitivity.inference.diagnostics.REPORTED`) and on the beliefs
and utilities, with binomial Monte Carlo errors, and the seconds per fit.

    .venv/bin/python benchmarks/validation_chain_length.py [--reps 30] [--root DIR]

Writes ``benchmarks/results/validation_chain_length.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

LENGTHS = {"2 chains x 500 (the chapter's)": {}, "4 chains x 1000 after 1000": {"chains": 4, "warmup": 1000, "draws": 1000}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--root", default=None, help="records folder (default: a fresh one under /tmp)")
    args = parser.parse_args()
    from seu_sensitivity.inference.diagnostics import REPORTED
    from seu_sensitivity.validation import ValidationConfig, family_flag_counts, group_flag_rates, run_validation

    root = args.root or f"/tmp/seu-validation-length-{os.getpid()}"
    start_load = os.getloadavg()
    results = {}
    for label, overrides in LENGTHS.items():
        run = run_validation(ValidationConfig.preset("recovery", "2x2", **overrides), args.reps, workers=0,
                             root=root, progress=False)
        rates = group_flag_rates({label: run}).xs(label)
        ok = run.ok_records
        results[label] = {
            "fits": len(ok), "failed": run.n_failed,
            "flag_rates": {group: {k: float(v) for k, v in row.items()} for group, row in rates.iterrows()},
            "families_flagged": {k: int(v) for k, v in family_flag_counts({label: run}).loc[label].drop("fits").items()
                                 if v > 0},
            "seconds_per_fit": sum(r["fit_seconds"] for r in ok) / max(len(ok), 1),
        }
    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {start_load[0]:.1f} at the start, "
                   f"{os.getloadavg()[0]:.1f} at the end",
        "run": f"recovery 2x2, replications 0..{args.reps - 1}, same seeds at both lengths; one process",
        "reported": list(REPORTED),
        "results": results,
    }
    out = Path(__file__).resolve().parent / "results" / "validation_chain_length.json"
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
