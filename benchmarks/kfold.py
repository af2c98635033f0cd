"""Benchmark: grouped K-fold cross-validation of the pilot's three models, the cost of each fold.

Runs what the application chapter runs ("Which model predicts better?"):
the 20 pilot datasets dealt into K folds by base problem (the same menus
held out in every dataset of a task), and on every fold the three models
refitted on the rest: m_01 on each dataset (20 fits, refitted once with a
smaller step size after a divergence), the hierarchical h_m01 and complete
pooling, all with the chapter's sampling preset capped at
``inference.kfold.MAX_DRAWS`` draws per chain (``Study.kfold_refits``). For each fold and model it
records the wall time of this run and the sampler's own time recorded when
the fit was run (the same figure whether this run sampled or loaded it from
the cache), then the elpd_kfold table.

Fits go through the fit cache (``SEU_CACHE_DIR``), with the chapter's seeds,
so a run warms the chapter's cache, and a second run only loads.

    .venv/bin/python benchmarks/kfold.py [--quick] [--folds K]

Writes ``benchmarks/results/kfold[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick sampling preset (default: full)")
    parser.add_argument("--folds", type=int, default=None, help="K (default: 5 quick, 10 full, as the chapter)")
    args = parser.parse_args()

    from seu_sensitivity.book.presets import sampling
    from seu_sensitivity.studies import pilot as app

    k = args.folds or (5 if args.quick else 10)
    study = app.pilot_study()
    settings = sampling(args.quick, preset="pilot")
    started = time.perf_counter()
    table, pointwise = study.kfold_comparison(k, settings, app.FIT_OPTIONS, progress=lambda line: print(line, flush=True))
    total = time.perf_counter() - started
    seconds, sampled = pointwise.attrs["seconds"], pointwise.attrs["sampling_seconds"]
    result = {
        "mode": "quick" if args.quick else "full",
        "k": k,
        "sampling": settings,
        "host": platform.node(),
        "cores": os.cpu_count(),
        "wall_seconds_this_run": total,
        "per_fold_wall_seconds_this_run": {m: seconds[m].round(1).tolist() for m in seconds.columns},
        "per_fold_sampling_seconds": {m: sampled[m].round(1).tolist() for m in sampled.columns},
        "mean_sampling_seconds_per_fold": {m: round(float(sampled[m].mean()), 1) for m in sampled.columns},
        "sampling_seconds_all_folds": round(float(sampled.to_numpy().sum()), 1),
        "elpd_kfold": {m: {c: round(float(v), 2) for c, v in row.items()} for m, row in table.iterrows()},
    }
    name = "kfold_quick.json" if args.quick else "kfold.json"
    out = Path(__file__).resolve().parent / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
