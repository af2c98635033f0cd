"""Benchmark of where convergence flags live in full-mode validation fits: whole fit, reported quantities, beliefs.

Usage::

    .venv/bin/python benchmarks/validation_flags.py [--runs "recovery 2x2" "sbc 2x2"] [--reps 100]
        [--compute] [--note "what else ran on the machine"]

Reads the stored records of the chosen runs of the chapter's full-mode plan
(:func:`seu_sensitivity.validation.validation_plan`, in
:func:`seu_sensitivity.settings.validation_dir`): the first ``--reps``
replications of each, or as many as are stored. ``--compute`` first computes
the missing ones in this process, one replication at a time (``seu validate
... --workers 0`` does the same). For all records read together and for each
run it reports

- the share of fits flagged by ``diagnose()`` (every check on every variable),
  on the reported quantities alone and on the beliefs and utilities
  (:func:`seu_sensitivity.validation.group_flag_rates`, groups and thresholds
  taken from ``inference.diagnostics``), each with its binomial Monte Carlo
  standard error sqrt(p (1 - p) / n);
- how many fits fail R-hat or ESS on each posterior variable
  (:func:`seu_sensitivity.validation.family_flag_counts`), most frequent first;
- the reported quantities split into the regression (gamma0, gamma,
  sigma_cell) and each reported variable;
- how many fits the reported quantities flag on R-hat alone and on ESS alone
  (the same records judged with the other threshold switched off);
- seconds per fit (inside the worker, as recorded).

Results go to ``benchmarks/results/validation_flags.json`` with the date,
machine and load; a subset of the plan is reported as such (``planned`` and
``found`` per run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform

import numpy as np

from seu_sensitivity.settings import project_root
from seu_sensitivity.validation import (
    RECORD_VERSION,
    WHOLE_FIT,
    convergence_thresholds,
    default_groups,
    family_flag_counts,
    group_flag_rates,
    load_records,
    results_dir,
    run_validation,
    validation_plan,
)


def rates_of(table) -> dict:
    return {group: {"flagged": int(row["flagged"]), "fits": int(row["fits"]), "rate": float(row["rate"]),
                    "mcse": float(row["mcse"])} for group, row in table.iterrows()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    plan = validation_plan(quick=False)
    parser.add_argument("--runs", nargs="+", default=list(plan), choices=list(plan))
    parser.add_argument("--reps", type=int, default=None, help="replications of each run (default: the plan's)")
    parser.add_argument("--compute", action="store_true", help="compute missing replications first (1 process)")
    parser.add_argument("--note", default="", help="free text stored with the results (e.g. other load)")
    args = parser.parse_args()
    load_at_start = list(os.getloadavg())

    runs, planned = {}, {}
    for name in args.runs:
        config, reps = plan[name]
        reps = reps if args.reps is None else min(args.reps, reps)
        planned[name] = reps
        if args.compute:
            run_validation(config, reps, workers=0, progress=True)
        runs[name] = load_records(results_dir(config), range(reps))
    every = {"all": [record for records in runs.values() for record in records]}
    if not every["all"]:
        raise SystemExit("no records found: run seu validate first, or pass --compute")

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "processor": platform.machine(),
                    "load_average_at_start": load_at_start},
        "note": args.note,
        "record_version": RECORD_VERSION,
        "groups": {label: list(names) for label, names in default_groups().items()},
        "thresholds": convergence_thresholds(),
        "runs": {},
    }
    for label, records in {**every, **runs}.items():
        ok = [r for r in records if r.get("status") == "ok"]
        if not records:
            continue
        table = group_flag_rates({label: records}).xs(label)
        families = family_flag_counts({label: records}).loc[label]
        seconds = [r["seconds"] for r in ok if np.isfinite(r.get("seconds", np.nan))]
        # the reported group's flags by kind: R-hat alone (any ESS passes), ESS alone (any R-hat passes)
        rhat_only = group_flag_rates({label: records}, ess_per_chain=0.0).xs(label).loc["reported"]
        ess_only = group_flag_rates({label: records}, rhat_max=np.inf).xs(label).loc["reported"]
        entry = {"found": len(records), "ok": len(ok), "failed": len(records) - len(ok),
                 "flag_rates": rates_of(table),
                 "reported_flagged_by": {"R-hat": int(rhat_only["flagged"]), "ESS": int(ess_only["flagged"])},
                 # the reported quantities split: the regression alone, and each reported variable
                 "reported_parts": rates_of(group_flag_rates(
                     {label: records}, {"regression (gamma0, gamma, sigma_cell)": ["gamma0", "gamma", "sigma_cell"],
                                        **{name: [name] for name in default_groups()["reported"]}}).xs(label)),
                 "families_flagged": {name: int(count) for name, count in families.drop("fits").items()},
                 "seconds_per_fit": float(np.mean(seconds)) if seconds else None}
        if label in planned:
            entry["planned"] = planned[label]
        results["runs"][label] = entry
        print(f"{label}: {len(ok)} fits" + (f" of {planned[label]} planned" if label in planned else ""))
        for group, row in entry["flag_rates"].items():
            print(f"  {group:24s} {row['flagged']:4d} of {row['fits']:4d}  {row['rate']:6.1%} ± {row['mcse']:.1%}")
        print(f"  reported quantities flagged on R-hat: {entry['reported_flagged_by']['R-hat']}, "
              f"on ESS: {entry['reported_flagged_by']['ESS']}")
        top = [f"{name} {count}" for name, count in entry["families_flagged"].items() if count][:6]
        print(f"  variables failing most: {', '.join(top) or 'none'}; "
              f"{entry['seconds_per_fit'] or float('nan'):.1f} s per fit")
    results["summary"] = {"fits": results["runs"]["all"]["ok"],
                          "whole fit": results["runs"]["all"]["flag_rates"][WHOLE_FIT],
                          "reported": results["runs"]["all"]["flag_rates"]["reported"],
                          "beliefs and utilities": results["runs"]["all"]["flag_rates"]["beliefs and utilities"]}
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    target = project_root() / "benchmarks" / "results" / "validation_flags.json"
    target.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written: {target.relative_to(project_root())}")


if __name__ == "__main__":
    main()
