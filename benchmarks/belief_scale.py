"""Benchmark: the scale of the sampled beliefs, s = 1 + alpha |c|, against s = 1 and s = alpha |c|.

A report of figures, not a test. m_01 (and h_m01, per cell) samples
``beta_free``, the rotated beliefs ``beta_rot`` with their first K - 1 rows
multiplied by a scale s and the log Jacobian added; every s gives the same
model. This script builds three copies of ``stan/m_01.stan`` that differ only
in the line defining log(s):

- ``unscaled``: s = 1 (the beliefs as the prior states them; the ridge
  between alpha and the spread of the expected utilities is a funnel where
  choices are nearly deterministic);
- ``alpha|c|``: s = alpha |c| (straightens that ridge, but puts a funnel at
  small alpha, where choices are nearly random);
- ``1+alpha|c|``: s = 1 + alpha |c|, the shipped programs' scale (used for
  the cells that ``belief_scale="auto"`` scales: at least 10 choices per
  belief coordinate; every cell here has 15 or 50).

Side by side in one run, each copy fits the same simulated cells: the six
cells of a 2 x 3 experiment (log alpha around ``gamma0``, cells apart by the
experiment's effects and sigma_cell = 0.5), at two sensitivities (gamma0 = 3,
nearly deterministic choices; gamma0 = 2) and two cell sizes (D = 1, R = 8,
100 choices; D = 2, R = 12, 60 choices), with m_01's prior LogNormal(3, 2.5)
on alpha. Per fit it records the divergent transitions, the largest R-hat
and the smallest bulk ESS over the parameters, the bulk ESS of log alpha, and
the sampling time; per variant the totals and worst values. Results go to
``benchmarks/results/belief_scale.json``. Run::

    .venv/bin/python benchmarks/belief_scale.py [--chains 4 --warmup 1000 --draws 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from seu_sensitivity import factorial_design, simulate_hierarchical
from seu_sensitivity.inference.backends import StanProgram, get_backend
from seu_sensitivity.inference.fitting import prepare
from seu_sensitivity.model.priors import M01Priors
from seu_sensitivity.inference.programs import stan_code

SCALE_LINE = "    real log_scale = log1p_exp(log_alpha + log(norm2(upsilon - mean(upsilon))));  // log(1 + alpha |c|)"
VARIANTS = {
    "unscaled": "    real log_scale = 0;",
    "alpha|c|": "    real log_scale = log_alpha + log(norm2(upsilon - mean(upsilon)));",
    "1+alpha|c|": SCALE_LINE,
}
EFFECTS = {"llm[T.B]": -0.6, "prompt[T.directive]": 0.4, "prompt[T.role]": -0.3}
SIZES = {"D=1, R=8, n=100": dict(n_obs=100, R=8, D=1), "D=2, R=12, n=60": dict(n_obs=60, R=12, D=2)}
GAMMA0 = (3.0, 2.0)
PRIOR = M01Priors(alpha_mu=3.0, alpha_sd=2.5)
SAMPLED = ("alpha", "beta_free", "delta")  # the parameters (generated quantities left out)


def variant_sources() -> dict[str, str]:
    """m_01's source with its scale line replaced, one copy per variant."""
    source = stan_code("m_01")
    if source.count(SCALE_LINE) != 1:
        raise RuntimeError("stan/m_01.stan no longer has the expected log_scale line; update SCALE_LINE")
    return {name: source.replace(SCALE_LINE, line) for name, line in VARIANTS.items()}


def cells():
    """(setting label, gamma0, cell id, CellData) for every simulated cell."""
    design = factorial_design({"llm": ["A", "B"], "prompt": ["neutral", "directive", "role"]})
    for size, shape in SIZES.items():
        for gamma0 in GAMMA0:
            data, _ = simulate_hierarchical(design, K=3, gamma0=gamma0, gamma=EFFECTS, sigma_cell=0.5, seed=41, **shape)
            for cell_id in data.cell_ids:
                yield size, gamma0, cell_id, data.cell(cell_id)


def fit_summary(result) -> dict[str, float]:
    posterior = az.convert_to_dataset({name: result.draws[name] for name in SAMPLED})
    rhat = az.rhat(posterior).to_array()
    ess = az.ess(posterior).to_array()
    log_alpha = az.convert_to_dataset({"log_alpha": np.log(result.draws["alpha"])})
    return {
        "divergences": int(result.sample_stats["diverging"].sum()),
        "max_rhat": float(rhat.max()),
        "min_bulk_ess": float(ess.min()),
        "ess_log_alpha": float(az.ess(log_alpha)["log_alpha"].min()),
        "sample_s": float(result.timing["sample"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=43)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "belief_scale.json")
    args = parser.parse_args()

    backend = get_backend("pystan")
    sources = variant_sources()
    rows = []
    for size, gamma0, cell_id, cell in cells():
        # scale_beliefs = 1 in every fit: the variants differ in what that scale is
        _, stan_data, _, _ = prepare("m_01", cell, priors=PRIOR, belief_scale=True)
        for name, source in sources.items():
            result = backend.sample(StanProgram(f"m_01 [{name}]", None, source), stan_data, chains=args.chains,
                                    warmup=args.warmup, draws=args.draws, seed=args.seed)
            rows.append({"variant": name, "setting": size, "gamma0": gamma0, "cell": cell_id, **fit_summary(result)})
            print(f"{size}, gamma0 {gamma0:g}, {cell_id:13s} {name:11s} " + ", ".join(
                f"{k} {v:.3g}" for k, v in rows[-1].items() if isinstance(v, (int, float)) and k != "gamma0"), flush=True)
    table = pd.DataFrame(rows)
    totals = table.groupby("variant", sort=False).agg(
        fits=("cell", "size"), divergences=("divergences", "sum"),
        fits_with_divergences=("divergences", lambda d: int((d > 0).sum())),
        worst_rhat=("max_rhat", "max"), fits_rhat_over_1_01=("max_rhat", lambda r: int((r > 1.01).sum())),
        median_min_bulk_ess=("min_bulk_ess", "median"), median_ess_log_alpha=("ess_log_alpha", "median"),
        sample_s=("sample_s", "sum"))
    print(totals.to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "sampling": {"chains": args.chains, "warmup": args.warmup, "draws": args.draws, "seed": args.seed},
        "totals": totals.reset_index().to_dict(orient="records"),
        "fits": rows,
    }, indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
