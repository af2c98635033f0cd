"""Benchmark: psi once per (cell, alternative) + categorical_logit per menu vs per-observation psi.

A report of figures, not a test. On a simulated design the size of the
planned alignment study (6 x 3 cells, 300 observations per cell, R = 30,
D = 32, K = 3) it measures, side by side in one run and with the same
sampler settings and seed:

* gradient evaluations per second (leapfrog steps over warmup and sampling /
  sampling wall time) of ``stan/h_m01.stan`` and of the per-observation
  formulation ``stan/bench/h_m01_per_obs.stan`` (psi and eta recomputed for
  every alternative of every observation's menu);
* ESS per second for gamma (min bulk ESS over the predictors / wall time);
* agreement of the two posteriors for gamma (difference of means in MCSE units);
* compile time (a cold build of h_m01), cold fit time through ``fit()``
  (empty fit cache) and cache-hit time (the identical second call).

Both programs are timed with their generated quantities removed, so the
figures measure the likelihood, not the writing and parsing of 10,800
generated values per draw (identical in both). Run::

    .venv/bin/python benchmarks/likelihood_formulation.py [--warmup 300 --draws 300 --chains 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

import arviz as az
import numpy as np

from seu_sensitivity import factorial_design, simulate_hierarchical
from seu_sensitivity.backends import StanProgram, get_backend
from seu_sensitivity.fitting import fit, prepare
from seu_sensitivity.models import stan_dir


def without_generated_quantities(source: str) -> str:
    return source[: source.index("generated quantities {")]


def run_formulation(name: str, source: str, stan_data: dict, args) -> dict:
    backend = get_backend("pystan")
    result = backend.sample(
        StanProgram(name, None, source), stan_data, chains=args.chains, warmup=args.warmup, draws=args.draws,
        seed=args.seed, save_warmup_stats=True,
    )
    gamma = result.draws["gamma"]  # (chain, draw, P)
    ess = az.ess(az.convert_to_dataset({"gamma": gamma}))["gamma"].values
    mcse = az.mcse(az.convert_to_dataset({"gamma": gamma}))["gamma"].values
    return {
        "name": name,
        "build_s": result.timing["build"],
        "sample_s": result.timing["sample"],
        "gradients": result.gradient_evaluations,
        "grad_per_s": result.gradient_evaluations / result.timing["sample"],
        "min_ess_gamma": float(ess.min()),
        "ess_per_s": float(ess.min()) / result.timing["sample"],
        "divergences": int(result.sample_stats["diverging"].sum()),
        "gamma_mean": gamma.mean(axis=(0, 1)),
        "gamma_sd": gamma.std(axis=(0, 1)),
        "gamma_mcse": mcse,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n-obs", type=int, default=300)
    args = parser.parse_args()

    design = factorial_design({"model": [f"m{i}" for i in range(1, 7)], "prompt": ["neutral", "cot", "role"]})
    data, truth = simulate_hierarchical(design, n_obs=args.n_obs, R=30, D=32, K=3, gamma0=2.5, sigma_cell=0.2, seed=42)
    _, stan_data, _, _ = prepare("h_m01", data)
    print(f"design: J = {data.J}, P = {data.P}, M = {data.M}, R = {data.R}, D = {data.D}, K = 3; "
          f"{args.chains} chains x ({args.warmup} warmup + {args.draws} draws), seed {args.seed}")

    vectorised = without_generated_quantities((stan_dir() / "h_m01.stan").read_text())
    per_obs = without_generated_quantities((stan_dir() / "bench" / "h_m01_per_obs.stan").read_text())
    # a unique comment forces a cold compile of the vectorised program: its build time is the compile time
    token = f"// benchmark build {uuid.uuid4().hex}\n"
    rows = [run_formulation("h_m01 (psi per cell x alternative)", token + vectorised, stan_data, args),
            run_formulation("per-observation psi", per_obs, stan_data, args)]

    print("\n| formulation | gradient evals | sampling s | gradient evals / s | min bulk ESS (gamma) | ESS / s | divergences |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['name']} | {row['gradients']} | {row['sample_s']:.1f} | {row['grad_per_s']:.1f} | "
              f"{row['min_ess_gamma']:.0f} | {row['ess_per_s']:.2f} | {row['divergences']} |")
    fast, slow = rows
    print(f"\ngradient speed ratio (h_m01 / per-observation): {fast['grad_per_s'] / slow['grad_per_s']:.1f}x (target >= 5x)")
    print(f"ESS/s ratio for gamma: {fast['ess_per_s'] / slow['ess_per_s']:.1f}x")
    z = (fast["gamma_mean"] - slow["gamma_mean"]) / np.hypot(fast["gamma_mcse"], slow["gamma_mcse"])
    print("same posterior? gamma means (h_m01 | per-obs | difference in combined MCSE units):")
    for p, name in enumerate(data.X.columns):
        print(f"  {name:>22}: {fast['gamma_mean'][p]:+.3f} | {slow['gamma_mean'][p]:+.3f} | {z[p]:+.1f}"
              f"   (truth {truth['gamma'][name]:+.3f})")
    print(f"\ncompile time (cold build of h_m01, incl. data setup): {fast['build_s']:.1f} s")

    with tempfile.TemporaryDirectory() as folder:
        os.environ["SEU_CACHE_DIR"] = folder
        kwargs = dict(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed)
        start = time.perf_counter()
        idata = fit("h_m01", data, **kwargs)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        again = fit("h_m01", data, **kwargs)
        hit = time.perf_counter() - start
        assert np.array_equal(idata.posterior["gamma"].values, again.posterior["gamma"].values)
    print(f"cold fit through fit() (compiled model cached, empty fit cache, with generated quantities): {cold:.1f} s")
    print(f"cache hit (identical second call): {hit:.2f} s")


if __name__ == "__main__":
    main()
