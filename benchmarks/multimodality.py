"""Benchmark: remedies for chains stuck in separate modes, side by side on the simulated 2 x 2 study.

A report of figures, not a test. The study (issue 22): J = 4 cells (2 x 2),
K = 3, D = 4, R = 12, 150 choices per cell with menus of 2 to 4, simulated
and fitted under the tightened hyperpriors gamma0 ~ N(2.5, 0.5),
gamma ~ N(0, 0.5), sigma_cell ~ HalfNormal(0.3). For each remedy, in one run:

- ``4 chains``: the default, 4 chains of 1000 draws after 1000 warm-up;
- ``8 chains, dispersed``: 8 chains from initial values drawn uniformly in
  (-4, 4) on the unconstrained scale (Stan's default is (-2, 2));
- ``stacked by mode``: the 4 or the 8 chains, their modes (by the log density)
  weighted by Bayesian stacking
  (:func:`seu_sensitivity.inference.modes.mode_diagnostics`); R-hat and ESS
  are then those of the modes with weight, each mode's chains checked among
  themselves.

Reported per remedy: the modes, the worst R-hat and the smallest bulk ESS of
the reported quantities (gamma0, gamma, sigma_cell, alpha and the utility
logits eta_logit) and of the beliefs and utilities (beta, delta and eta's
level), each kind also alone (``diagnostics.QUANTITY_GROUPS``), and the wall
time.

    .venv/bin/python benchmarks/multimodality.py [--data-seed N] [--cache-dir DIR]
    .venv/bin/python benchmarks/multimodality.py --pilot [--cache-dir DIR]

Writes ``benchmarks/results/multimodality.json`` (``multimodality_pilot.json``
with ``--pilot``: the pilot in full mode with 4 chains, 4 chains twice as
long, and 8 dispersed chains).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path


def group_figures(idata, groups=None) -> dict:
    """Convergence per group: the reported quantities and the beliefs and utilities, then each kind alone."""
    from seu_sensitivity.inference.diagnostics import QUANTITY_GROUPS, diagnose_by_group

    tables = [diagnose_by_group(idata, groups)] + ([diagnose_by_group(idata, QUANTITY_GROUPS)] if groups is None else [])
    return {group: {"max_rhat": float(row["max R-hat"]), "min_bulk_ess": float(row["min bulk ESS"]),
                    "rhat_at": row["R-hat at"], "ok": bool(row["ok"])}
            for table in tables for group, row in table.iterrows()}


def stacked_by_mode(idata) -> dict:
    """The modes of a fit, their stacking weights, and the worst convergence within the modes that carry weight."""
    from seu_sensitivity.inference.modes import mode_diagnostics

    table = mode_diagnostics(idata)
    kept = table[table["kept"]]
    out = {"modes": table["chains"].tolist(), "weights": [round(float(w), 4) for w in table["weight"]],
           "reported_ok_in_kept_modes": bool(table.attrs["reported_ok"])}
    for group in ("reported", "beliefs and utilities"):
        out[group] = {"max_rhat": float(kept[f"{group}: max R-hat"].max()),
                      "min_bulk_ess": float(kept[f"{group}: min bulk ESS"].min())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-seed", type=int, default=1)
    parser.add_argument("--cache-dir", default=None, help="fit cache (default: a fresh one under /tmp)")
    parser.add_argument("--pilot", action="store_true",
                        help="the factorial pilot in full mode instead (results/multimodality_pilot.json)")
    args = parser.parse_args()
    if args.pilot:
        os.environ["SEU_CACHE_DIR"] = args.cache_dir or f"/tmp/seu-multimodality-{os.getpid()}"
        return pilot()
    os.environ["SEU_CACHE_DIR"] = args.cache_dir or f"/tmp/seu-multimodality-{os.getpid()}"

    import seu_sensitivity as seu
    from seu_sensitivity.inference.modes import separated_chains

    tight = seu.HM01Priors(gamma0_mu=2.5, gamma0_sd=0.5, gamma_sd=0.5, sigma_cell_sd=0.3)
    design = seu.factorial_design({"llm": ["A", "B"], "prompt": ["neutral", "directive"]})
    data, truth = seu.simulate_hierarchical(design, n_obs=150, R=12, D=4, K=3, seed=args.data_seed, priors=tight)
    sampling = dict(warmup=1000, draws=1000, seed=7, priors=tight)

    results = []
    four = seu.fit("h_m01", data, chains=4, **sampling)
    eight = seu.fit("h_m01", data, chains=8, init_radius=4.0, **sampling)
    # the sampler's own wall time, stored with the fit (so a cached fit still reports its cost)
    four_s, eight_s = seu.sampling_seconds(four), seu.sampling_seconds(eight)
    for label, idata, seconds in (("4 chains", four, four_s), ("8 chains, dispersed", eight, eight_s)):
        modes = separated_chains(idata, ["lp"])
        results.append({"remedy": label, "chains": int(idata.posterior.sizes["chain"]),
                        "modes": modes.loc["lp", "chains by mode"], "sampling_s": seconds, **group_figures(idata)})
    for label, idata, seconds in (("4 chains, stacked by mode", four, four_s),
                                  ("8 chains dispersed, stacked by mode", eight, eight_s)):
        results.append({"remedy": label, "chains": int(idata.posterior.sizes["chain"]), "sampling_s": seconds,
                        **stacked_by_mode(idata)})

    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "study": {"J": 4, "K": 3, "D": 4, "R": 12, "choices_per_cell": 150, "data_seed": args.data_seed,
                  "true_delta": [float(x) for x in truth["delta"]["all"]]},
        "results": results,
    }
    out = Path(__file__).resolve().parent / "results" / "multimodality.json"
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1))


def pilot() -> None:
    """The same remedies on the pilot's hierarchical fit, full mode (4 chains of 1000 after 500)."""
    import seu_sensitivity as seu
    from seu_sensitivity.inference.modes import separated_chains
    from seu_sensitivity.studies import pilot as pilot_settings

    study = pilot_settings.pilot_study()
    options = pilot_settings.FIT_OPTIONS["hierarchical"]
    results = []
    for label, chains, draws, extra in (("4 chains", 4, 1000, {}), ("4 chains, twice as long", 4, 2000, {}),
                                        ("8 chains, dispersed", 8, 1000, {"init_radius": 4.0})):
        idata = study.fit_hierarchical(chains=chains, warmup=500, draws=draws, **options, **extra)
        modes = separated_chains(idata, ["lp", "delta"])
        results.append({"remedy": label, "chains": chains, "sampling_s": seu.sampling_seconds(idata),
                        "modes by lp": modes.loc["lp", "chains by mode"],
                        "largest separation (MCSEs)": float(modes["separation"].max()),
                        **group_figures(idata), "stacked by mode": stacked_by_mode(idata)})
    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "study": "factorial pilot, 20 cells, h_m01 with the chapter's formula, adapt_delta 0.9, seed 20250801",
        "results": results,
    }
    out = Path(__file__).resolve().parent / "results" / "multimodality_pilot.json"
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
