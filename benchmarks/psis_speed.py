"""Benchmark: ArviZ's per-observation PSIS and PSIS-LOO against the vectorised ``psis`` module.

A report of figures, not a test. On log likelihoods shaped like the
application chapter's fits (about 6000 observations; 4 chains x 1000 draws,
the full settings, and 2 x 250, the quick ones) it times, side by side in one
run:

1. ``az.psislw`` against ``psis.psislw`` (minus the log likelihood, as LOO uses it);
2. ``az.loo(idata, pointwise=True, reff=...)`` against ``psis.loo(idata, reff=...)``,
   what ``inference.loo.loo_table`` calls once per model.

Wall and CPU (process) seconds are both reported: the machine is shared, and
CPU time is the steadier figure. The log likelihoods are those of a logistic
choice model with three predictors per observation, a few observations made
influential (large Pareto k). The script records the largest absolute and
relative differences from ArviZ (relative ones of Pareto k are large only
where k is near 0: they are last-bit differences).

    .venv/bin/python benchmarks/psis_speed.py [--observations 6000] [--sizes 4x1000 2x250] [--seed 1]

Writes ``benchmarks/results/psis_speed.json``.
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

from seu_sensitivity.inference import psis


def log_likelihood(chains: int, n_draws: int, observations: int, seed: int) -> np.ndarray:
    """(chains, draws, observations) logistic log likelihoods; every 500th observation an outlier."""
    rng = np.random.default_rng(seed)
    theta = rng.normal([0.5, -0.3, 0.2], 0.15, size=(chains * n_draws, 3))
    x = rng.normal(size=(observations, 3))
    x[::500] *= 8.0  # far from the bulk of the data: influential
    eta = theta @ x.T
    y = rng.random(observations) < 1 / (1 + np.exp(-eta.mean(axis=0)))
    sign = np.where(y, 1.0, -1.0)
    return -np.logaddexp(0.0, -sign * eta).reshape(chains, n_draws, observations)


def timed(function):
    """(result, wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def differences(ours, theirs) -> dict:
    """Largest absolute and relative differences (inf when the infinite entries disagree)."""
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    finite = np.isfinite(theirs)
    if not np.array_equal(finite, np.isfinite(ours)):
        return {"abs": float("inf"), "rel": float("inf")}
    gap = np.abs(ours[finite] - theirs[finite])
    return {"abs": float(np.max(gap, initial=0.0)), "rel": float(np.max(gap / np.abs(theirs[finite]), initial=0.0))}


def compare(chains: int, n_draws: int, observations: int, seed: int, reff: float) -> dict:
    ll = log_likelihood(chains, n_draws, observations, seed)
    idata = az.from_dict(posterior={"theta": np.zeros((chains, n_draws))}, log_likelihood={"y": ll},
                         dims={"y": ["obs"]})
    draws_first = -ll.reshape(chains * n_draws, observations)
    draws_last = np.ascontiguousarray(draws_first.T)  # ArviZ's numpy layout, not timed
    psis.psislw(draws_first[:, :10], reff)  # warm both
    az.psislw(draws_last[:10], reff)

    (arviz_lw, arviz_k), arviz_wall, arviz_cpu = timed(lambda: az.psislw(draws_last, reff))
    (lw, k), ours_wall, ours_cpu = timed(lambda: psis.psislw(draws_first, reff))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arviz_loo, arviz_loo_wall, arviz_loo_cpu = timed(lambda: az.loo(idata, pointwise=True, reff=reff))
        ours_loo, ours_loo_wall, ours_loo_cpu = timed(lambda: psis.loo(idata, reff=reff))

    gaps = {
        "psislw_log_weights": differences(lw, arviz_lw.T),
        "psislw_pareto_k": differences(k, arviz_k),
        **{f"loo_{field}": differences(ours_loo[field], arviz_loo[field])
           for field in ("elpd_loo", "se", "p_loo", "loo_i", "pareto_k")},
    }
    return {
        "chains": chains, "draws": n_draws, "observations": observations, "reff": reff,
        "pareto_k_above_0.7": int(np.sum(arviz_k > 0.7)),
        "psislw": {"arviz_s": {"wall": arviz_wall, "cpu": arviz_cpu},
                   "vectorised_s": {"wall": ours_wall, "cpu": ours_cpu},
                   "speedup": {"wall": arviz_wall / ours_wall, "cpu": arviz_cpu / ours_cpu}},
        "loo": {"arviz_s": {"wall": arviz_loo_wall, "cpu": arviz_loo_cpu},
                "vectorised_s": {"wall": ours_loo_wall, "cpu": ours_loo_cpu},
                "speedup": {"wall": arviz_loo_wall / ours_loo_wall, "cpu": arviz_loo_cpu / ours_loo_cpu}},
        "max_differences": gaps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=6000)
    parser.add_argument("--sizes", nargs="+", default=["4x1000", "2x250"], help="chains x draws")
    parser.add_argument("--reff", type=float, default=0.9, help="relative efficiency passed to both")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rows = []
    for size in args.sizes:
        chains, n_draws = (int(part) for part in size.split("x"))
        row = compare(chains, n_draws, args.observations, args.seed, args.reff)
        rows.append(row)
        gaps = row["max_differences"]
        for name in ("psislw", "loo"):
            timing = row[name]
            print(f"{name} {chains} x {n_draws} x {args.observations}: ArviZ {timing['arviz_s']['wall']:.2f} s "
                  f"(CPU {timing['arviz_s']['cpu']:.2f}), vectorised {timing['vectorised_s']['wall']:.2f} s "
                  f"(CPU {timing['vectorised_s']['cpu']:.2f}): {timing['speedup']['wall']:.1f}x wall, "
                  f"{timing['speedup']['cpu']:.1f}x CPU", flush=True)
        print(f"  largest differences from ArviZ: Pareto k {gaps['psislw_pareto_k']['abs']:.1e} absolute, "
              f"log weights {gaps['psislw_log_weights']['rel']:.1e} relative, "
              f"loo_i {gaps['loo_loo_i']['rel']:.1e} relative", flush=True)

    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "versions": {"arviz": az.__version__, "numpy": np.__version__},
        "sizes": rows,
    }
    target = Path(__file__).resolve().parent / "results" / "psis_speed.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
