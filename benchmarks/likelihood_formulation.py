"""Benchmark: h_m01 (psi once per (cell, alternative), likelihood through sufficient statistics) vs per-observation psi.

A report of figures, not a test. On a simulated design the size of the
planned alignment study (6 x 3 cells, 300 observations per cell, R = 30,
D = 32, K = 3) it measures, side by side in one run:

1. Gradient speed. Both programs (``stan/h_m01.stan`` and the per-observation
   formulation ``stan/bench/h_m01_per_obs.stan``, where psi and eta are
   recomputed for every alternative of every observation's menu; it shares
   h_m01's functions through ``#include``) run the
   same short NUTS run (1 chain, same seed and initial values, max tree depth
   5): leapfrog steps (= gradient evaluations) over warmup and sampling /
   sampling wall time. Same model, same seed and inits; the programs add
   up the same terms in a different order, so their paths agree only until
   rounding differences grow (the gradient rate does not depend on the path).
   The leapfrog counts and the largest difference between the gamma draws
   are recorded, not required to match.
2. Same posterior: the two log densities at random unconstrained points
   (must agree to rounding), and the draws of step 1.
3. ESS per second for gamma: the cold fit of h_m01 through ``fit()``, on the
   backend it picks (``SEU_BACKEND``; the JSON records which), with the same
   initial values (``--chains``, ``--warmup``, ``--draws``; empty fit cache, generated
   quantities included, so the figure is conservative); the per-observation
   formulation runs it too with ``--full`` (about 10x slower: an hour here
   on a shared machine), otherwise its ESS/s is bounded by h_m01's ESS over
   the time its measured gradient rate needs for the same leapfrog steps.
4. Compile time (a cold build of h_m01), cold fit time and cache-hit time
   (the identical second call).

The figures are printed and written to
``benchmarks/results/likelihood_formulation.json`` (read by the
implementation chapter): ``date``, ``machine``, ``design``, ``formulations``
(one row per program, h_m01 first: ``name``, ``gradients``, ``sample_s``,
``grad_per_s``), ``gradient_ratio``, ``same_posterior``, ``ess_gamma`` and
``times`` (compile, cold fit, cache hit).

Timed programs have their generated quantities removed, so the figures
measure the likelihood, not the writing and parsing of 10,800 generated
values per draw (identical in both). Run::

    .venv/bin/python benchmarks/likelihood_formulation.py [--chains 2 --warmup 150 --draws 150 --full]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import arviz as az
import numpy as np

from seu_sensitivity import factorial_design, simulate_hierarchical
from seu_sensitivity.inference.backends import StanProgram, get_backend
from seu_sensitivity.inference.backends.pystan import build_model
from seu_sensitivity.inference.fitting import fit, prepare
from seu_sensitivity.inference.programs import stan_code


def without_generated_quantities(source: str) -> str:
    return source[: source.index("generated quantities {")]


def initial_values(stan_data: dict, chains: int) -> list[dict]:
    """Start every chain at the prior centre of the regression (gamma0 = its prior mean, gamma = 0,
    sigma_cell small); Stan's default uniform(-2, 2) inits put log alpha anywhere in +-16 with 7
    predictors, and the first warmup iterations then crawl at maximum tree depth."""
    start = {"gamma0_free": [stan_data["gamma0_mu"]], "sigma_cell_free": [0.2], "gamma": [0.0] * stan_data["P"]}
    return [dict(start) for _ in range(chains)]


def run(name: str, source: str, stan_data: dict, *, chains: int, warmup: int, draws: int, seed: int, **sampler):
    backend = get_backend("pystan")
    result = backend.sample(
        StanProgram(name, None, source), stan_data, chains=chains, warmup=warmup, draws=draws, seed=seed,
        save_warmup_stats=True, init=initial_values(stan_data, chains), **sampler,
    )
    gamma = result.draws["gamma"]  # (chain, draw, P)
    dataset = az.convert_to_dataset({"gamma": gamma})
    ess = az.ess(dataset)["gamma"].values
    return {
        "name": name,
        "result": result,
        "build_s": result.timing["build"],
        "sample_s": result.timing["sample"],
        "gradients": result.gradient_evaluations,
        "grad_per_s": result.gradient_evaluations / result.timing["sample"],
        "min_ess_gamma": float(ess.min()),
        "ess_per_s": float(ess.min()) / result.timing["sample"],
        "divergences": int(result.sample_stats["diverging"].sum()),
        "gamma_mean": gamma.mean(axis=(0, 1)),
        "gamma_mcse": az.mcse(dataset)["gamma"].values,
    }


def log_density_agreement(sources: list[str], stan_data: dict, points: int = 5) -> float:
    """Largest |difference| of the two programs' log densities at random unconstrained points."""
    models = [build_model(source, stan_data) for source in sources]
    n = len(models[0].unconstrain_pars({"gamma0_free": [2.5], "sigma_cell_free": [0.2],
                                        "gamma": [0.0] * stan_data["P"], "z": [0.0] * stan_data["J"],
                                        "beta_free": [0.0] * (stan_data["J"] * 3 * stan_data["D"]),
                                        "delta_free": [0.0] * (len(stan_data["K"]) * (stan_data["K"][0] - 2))}))
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(points):
        x = list(rng.normal(0.0, 0.5, size=n))
        x[0] = 2.5  # gamma0
        values = [model.log_prob(x) for model in models]
        worst = max(worst, abs(values[0] - values[1]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--draws", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n-obs", type=int, default=300)
    parser.add_argument("--full", action="store_true", help="also run the per-observation formulation at full length")
    args = parser.parse_args()

    design = factorial_design({"model": [f"m{i}" for i in range(1, 7)], "prompt": ["neutral", "cot", "role"]})
    data, truth = simulate_hierarchical(design, n_obs=args.n_obs, R=30, D=32, K=3, gamma0=2.5, sigma_cell=0.2, seed=42)
    _, stan_data, _, _ = prepare("h_m01", data)
    print(f"design: J = {data.J}, P = {data.P}, M = {data.M}, R = {data.R}, D = {data.D}, K = 3", flush=True)

    # both programs as fitted: their #include of the shared functions expanded
    vectorised = without_generated_quantities(stan_code("h_m01"))
    per_obs = without_generated_quantities(stan_code("bench/h_m01_per_obs"))

    # 4a. compile: a unique comment forces a cold build of h_m01
    start = time.perf_counter()
    build_model(f"// benchmark build {uuid.uuid4().hex}\n" + vectorised, stan_data)
    compile_s = time.perf_counter() - start

    # 1. gradient speed, identical short runs
    short = dict(chains=1, warmup=30, draws=20, seed=args.seed, max_depth=5)
    fast = run("h_m01", vectorised, stan_data, **short)
    slow = run("per-observation", per_obs, stan_data, **short)
    print(f"\n1. gradient speed (1 chain, 30 warmup + 20 draws, max tree depth 5, same seed and inits)")
    print("| formulation | gradient evals | sampling s | gradient evals / s |")
    print("|---|---:|---:|---:|")
    for row in (fast, slow):
        print(f"| {row['name']} | {row['gradients']} | {row['sample_s']:.1f} | {row['grad_per_s']:.1f} |")
    ratio = fast["grad_per_s"] / slow["grad_per_s"]
    print(f"ratio h_m01 / per-observation: {ratio:.1f}x (target >= 5x)")

    # 2. same posterior
    same_path = fast["gradients"] == slow["gradients"]
    max_draw_diff = float(np.max(np.abs(fast["result"].draws["gamma"] - slow["result"].draws["gamma"])))
    density_difference = log_density_agreement([vectorised, per_obs], stan_data)
    print(f"\n2. same posterior: max |log density difference| at 5 random points = "
          f"{density_difference:.2e}; same leapfrog count: {same_path}; "
          f"max |gamma draw difference| = {max_draw_diff:.2e}")

    # 3 + 4. cold fit through fit() (empty fit cache; compiled program cached), ESS/s for gamma, cache hit
    with tempfile.TemporaryDirectory() as folder:
        os.environ["SEU_CACHE_DIR"] = folder
        kwargs = dict(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed,
                      init=initial_values(stan_data, args.chains))
        start = time.perf_counter()
        idata = fit("h_m01", data, **kwargs)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        again = fit("h_m01", data, **kwargs)
        hit = time.perf_counter() - start
        assert np.array_equal(idata.posterior["gamma"].values, again.posterior["gamma"].values)
    ess = float(az.ess(idata, var_names=["gamma"])["gamma"].min())
    mean = idata.posterior["gamma"].mean(("chain", "draw")).values
    mcse = az.mcse(idata, var_names=["gamma"])["gamma"].values
    sampling_gradients = int(idata.sample_stats["n_steps"].sum())
    print(f"\n3. ESS for gamma: h_m01 through fit(), {args.chains} chains x ({args.warmup} warmup + {args.draws} draws)")
    print(f"   min bulk ESS (gamma) = {ess:.0f} in {cold:.1f} s wall (build, warmup, sampling, generated quantities): "
          f"{ess / cold:.3f} ESS/s; divergences: {int(idata.sample_stats['diverging'].sum())}")
    rows = []
    if args.full:
        rows.append(run("per-observation", per_obs, stan_data, chains=args.chains, warmup=args.warmup,
                        draws=args.draws, seed=args.seed))
        row = rows[0]
        print(f"   per-observation (measured): min bulk ESS {row['min_ess_gamma']:.0f} in {row['sample_s']:.1f} s: "
              f"{row['ess_per_s']:.3f} ESS/s")
    else:
        print(f"   per-observation (estimated: same draws, {sampling_gradients} sampling-phase gradients alone at its "
              f"measured {slow['grad_per_s']:.1f}/s take {sampling_gradients / slow['grad_per_s']:.0f} s): "
              f"at most {ess / (sampling_gradients / slow['grad_per_s']):.3f} ESS/s")
    print("   gamma: posterior mean +- MCSE (truth):")
    for p, name in enumerate(data.X.columns):
        print(f"  {name:>22}: {mean[p]:+.3f} +- {mcse[p]:.3f} ({truth['gamma'][name]:+.3f})")
    print(f"\n4. compile (cold build of h_m01, incl. data setup): {compile_s:.1f} s")
    print(f"   cold fit through fit() (compiled program cached, empty fit cache): {cold:.1f} s")
    print(f"   cache hit (identical second call): {hit:.2f} s")

    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "design": {"J": data.J, "P": data.P, "M": data.M, "R": data.R, "D": data.D, "K": 3},
        "formulations": [{key: row[key] for key in ("name", "gradients", "sample_s", "grad_per_s")}
                         for row in (fast, slow)],
        "gradient_ratio": ratio,
        "same_posterior": {"max_log_density_difference": density_difference, "same_leapfrog_count": same_path,
                           "max_gamma_draw_difference": max_draw_diff},
        "ess_gamma": {"chains": args.chains, "warmup": args.warmup, "draws": args.draws,
                      "min_bulk_ess": ess, "per_s": ess / cold},
        "times": {"compile_s": compile_s, "cold_fit_s": cold, "cache_hit_s": hit},
        # steps 1, 2 and the compile time use PyStan (its model object); step 3 fit()'s backend (SEU_BACKEND)
        "backends": {"gradient_speed_and_compile": "pystan", "fit": str(idata.attrs["backend"])},
    }
    target = Path(__file__).resolve().parent / "results" / "likelihood_formulation.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {target}")


if __name__ == "__main__":
    main()
