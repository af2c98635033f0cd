"""Benchmark: ArviZ's per-element R-hat and bulk/tail ESS against the vectorised ``convergence`` module.

A report of figures, not a test. On posterior draws the size of the pilot
hierarchical fit (about 2700 elements; 4 chains x 1000 draws and 2 x 250,
the extremes of the book's fits) it times, side by side in one run:

1. ArviZ 0.23: ``az.rhat``, ``az.ess(method="bulk")`` and ``az.ess(method="tail")``
   on a Dataset (ArviZ loops over the elements in Python), as ``diagnose``
   used to call them;
2. ``convergence.summary`` (the three diagnostics sharing one sort of the
   draws, what ``diagnose`` calls now) and the three separate functions;
3. ``diagnostics.diagnose`` end to end on the same draws.

Wall and CPU (process) seconds are both reported: the machine is shared, and
CPU time is the steadier figure. The draws are AR(1) chains with a different
autocorrelation per element and a few shifted chains, NaN-free. The script
checks the largest absolute and relative differences from ArviZ.

    .venv/bin/python benchmarks/diagnostics_speed.py [--elements 2700] [--sizes 4x1000 2x250] [--seed 1]

Writes ``benchmarks/results/diagnostics_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import arviz as az
import numpy as np

from seu_sensitivity.inference import convergence
from seu_sensitivity.inference.diagnostics import diagnose


def draws(chains: int, n_draws: int, elements: int, seed: int) -> np.ndarray:
    """AR(1) chains, phi from 0 to 0.95 across elements, every 50th element with a shifted chain."""
    rng = np.random.default_rng(seed)
    phi = np.linspace(0.0, 0.95, elements)
    x = np.empty((chains, n_draws, elements))
    x[:, 0] = rng.normal(size=(chains, elements))
    for t in range(1, n_draws):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=(chains, elements))
    x[0, :, ::50] += 1.0
    return x


def timed(function):
    """(result, wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def compare(chains: int, n_draws: int, elements: int, seed: int) -> dict:
    x = draws(chains, n_draws, elements, seed)
    dataset = az.convert_to_dataset({"theta": x})
    idata = az.from_dict(posterior={"theta": x})
    arviz_functions = {"rhat": lambda: az.rhat(dataset), "ess_bulk": lambda: az.ess(dataset, method="bulk"),
                       "ess_tail": lambda: az.ess(dataset, method="tail")}
    convergence.summary(x[:, :, :10])  # warm the imports and the FFT plan cache for both
    az.rhat(az.convert_to_dataset({"theta": x[:, :, :10]}))

    arviz, arviz_wall, arviz_cpu = {}, 0.0, 0.0
    for name, function in arviz_functions.items():
        result, wall, cpu = timed(function)
        arviz[name] = result["theta"].values
        arviz_wall, arviz_cpu = arviz_wall + wall, arviz_cpu + cpu
    ours, ours_wall, ours_cpu = timed(lambda: convergence.summary(x))
    separate = {name: timed(lambda name=name: getattr(convergence, name)(x)) for name in convergence.NAMES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, diagnose_wall, diagnose_cpu = timed(lambda: diagnose(idata))

    differences = {}
    for name in convergence.NAMES:
        absolute = np.abs(ours[name] - arviz[name])
        differences[name] = {"max_abs_diff": float(np.max(absolute)),
                             "max_rel_diff": float(np.max(absolute / np.abs(arviz[name]))),
                             "nan_agree": bool(np.array_equal(np.isnan(ours[name]), np.isnan(arviz[name])))}
    return {
        "chains": chains, "draws": n_draws, "elements": elements,
        "arviz_s": {"wall": arviz_wall, "cpu": arviz_cpu},
        "vectorised_s": {"wall": ours_wall, "cpu": ours_cpu},
        "speedup": {"wall": arviz_wall / ours_wall, "cpu": arviz_cpu / ours_cpu},
        "separate_functions_s": {name: {"wall": wall, "cpu": cpu} for name, (_, wall, cpu) in separate.items()},
        "diagnose_s": {"wall": diagnose_wall, "cpu": diagnose_cpu},
        "differences": differences,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=2700)
    parser.add_argument("--sizes", nargs="+", default=["4x1000", "2x250"], help="chains x draws")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rows = []
    for size in args.sizes:
        chains, n_draws = (int(part) for part in size.split("x"))
        row = compare(chains, n_draws, args.elements, args.seed)
        rows.append(row)
        worst = max(d["max_rel_diff"] for d in row["differences"].values())
        print(f"{chains} x {n_draws} x {args.elements}: ArviZ {row['arviz_s']['wall']:.2f} s "
              f"(CPU {row['arviz_s']['cpu']:.2f}), vectorised {row['vectorised_s']['wall']:.2f} s "
              f"(CPU {row['vectorised_s']['cpu']:.2f}): {row['speedup']['wall']:.1f}x wall, "
              f"{row['speedup']['cpu']:.1f}x CPU; diagnose {row['diagnose_s']['wall']:.2f} s; "
              f"max relative difference {worst:.1e}", flush=True)

    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "versions": {"arviz": az.__version__, "numpy": np.__version__},
        "sizes": rows,
    }
    target = Path(__file__).resolve().parent / "results" / "diagnostics_speed.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
