"""Benchmark: how much the pilot's hierarchical answers depend on the hyperpriors.

A report of figures, not a test. On the factorial pilot in full mode (4 chains
of 1000 draws after 500, the chapter's seed and adapt_delta 0.9):

- the power-scaling sensitivity of the default fit (``HM01Priors()``) to its
  hyperpriors and to its likelihood, per gamma0, coefficient, sigma_cell and
  cell's alpha (:meth:`Study.prior_sensitivity`, Kallioinen et al. 2023);
- the answers (every coefficient and sigma_cell, 90% intervals) and
  sigma_cell against its prior, under the default hyperpriors and under the
  tightened ones of the upstream project, gamma0 ~ N(2.5, 0.5),
  gamma ~ N(0, 0.5), sigma_cell ~ HalfNormal(0.3) (:meth:`Study.with_priors`),
  side by side, with the sensitivity of the tightened fit too;
- the wall time of each fit (the sampler's own, recorded with the cached
  fit) and of each sensitivity computation, and the convergence of the
  regression and of alpha in each fit.

    SEU_CACHE_DIR=... .venv/bin/python benchmarks/prior_sensitivity.py

Fits go through the fit cache (``SEU_CACHE_DIR``, default the project's), so
a fit computed by the book or by another run is reused. Writes
``benchmarks/results/prior_sensitivity.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

#: convergence is reported for what the comparison reads (the Ellsberg beliefs and utilities mix slowly,
#: docs/decisions.md)
GROUPS = {"regression": ["gamma0", "gamma", "sigma_cell"], "alpha": ["alpha"]}

#: the upstream project's tightened hyperpriors
TIGHT = {"gamma0_mu": 2.5, "gamma0_sd": 0.5, "gamma_sd": 0.5, "sigma_cell_sd": 0.3}


def _records(table) -> dict:
    """A DataFrame as {row: {column: value}} with floats rounded for reading."""
    out = {}
    for index, row in table.iterrows():
        values = {str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        out[str(index)] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in values.items()
                           if not (isinstance(v, float) and v != v)}
    return out


def main() -> None:
    import seu_sensitivity as seu
    from seu_sensitivity.book.presets import sampling
    from seu_sensitivity.inference.diagnostics import diagnose_by_group
    from seu_sensitivity.studies import pilot

    settings = {**sampling(False, "pilot"), **pilot.FIT_OPTIONS["hierarchical"]}
    default = pilot.pilot_study()
    tight = default.with_priors(seu.HM01Priors(**TIGHT))
    runs = {}
    for name, study in (("default", default), ("tightened", tight)):
        started = time.perf_counter()
        idata = study.fit_hierarchical(**settings)
        obtained = time.perf_counter() - started
        started = time.perf_counter()
        sensitivity = study.prior_sensitivity()
        psens_s = time.perf_counter() - started
        runs[name] = {
            "priors": study.priors.to_stan(),
            "sampling_s": seu.sampling_seconds(idata),
            "obtained_s": round(obtained, 1),
            "psens_s": round(psens_s, 2),
            "convergence": _records(diagnose_by_group(idata, GROUPS)[["max R-hat", "min bulk ESS", "R-hat at", "ok"]]),
            "sensitivity": _records(sensitivity.drop(columns=["variable", "element"])),
            "answers": _records(study.answers(prob=0.9)),
            "heterogeneity": _records(study.heterogeneity(prob=0.9)),
        }
        print(name, "sampling", runs[name]["sampling_s"], "s; obtained in", runs[name]["obtained_s"], "s", flush=True)
        print(sensitivity.round(3).to_string(), flush=True)

    shifts = {}
    for row, answer in runs["default"]["answers"].items():
        other = runs["tightened"]["answers"][row]
        width = answer["upper"] - answer["lower"]
        shifts[row] = {"default mean": answer["mean"], "tightened mean": other["mean"],
                       "shift / default 90% width": round((other["mean"] - answer["mean"]) / width, 3),
                       "default P(> 0)": answer["P(> 0)"], "tightened P(> 0)": other["P(> 0)"]}
    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "study": "factorial pilot, 20 cells, h_m01 with the chapter's formula, "
                 f"{settings['chains']} chains x {settings['draws']} after {settings['warmup']}, "
                 f"adapt_delta {settings['adapt_delta']}, seed {settings['seed']}",
        "threshold": 0.05,
        "shifts": shifts,
        "runs": runs,
    }
    out = Path(__file__).resolve().parent / "results" / "prior_sensitivity.json"
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(shifts, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
