"""Benchmark: compile and sampling time of the two Stan backends, CmdStanPy and PyStan, side by side.

A report of figures, not a test. For each model, in one run:

- ``m_01`` on one dataset of the factorial pilot (the first row of
  :func:`seu_sensitivity.datasets.factorial_pilot`), with the application
  chapter's quick settings (2 chains, 250 warmup, 250 draws) and its seed for
  that cell;
- ``h_m01`` on the whole 20-cell pilot (the chapter's design
  ``studies.pilot.PILOT_FORMULA``, quick settings, ``HIERARCHICAL_SAMPLER``,
  ``HIERARCHICAL_SEED``),

each backend runs the same program, data, seed and settings twice through
``Backend.sample``, the backends taking turns (PyStan cold, CmdStanPy cold,
PyStan warm, CmdStanPy warm), so that a change of load on the machine falls
on both:

1. cold: compiled into an empty build folder. CmdStanPy builds into a fresh
   temporary ``SEU_CMDSTAN_BUILD_DIR``; for PyStan, httpstan's cache
   (``appdirs.user_cache_dir("httpstan")``) is moved to a fresh temporary
   folder by setting ``XDG_CACHE_HOME`` before httpstan is imported (its
   sampling workers are forked later and inherit it). Both therefore compile
   the program from scratch (stanc and the C++ compile of the model), while
   the libraries they link against stay built: CmdStan's precompiled header
   and main objects, httpstan's precompiled Stan services. The user's own
   caches are not touched.
2. warm: the compiled program found in that folder. httpstan also stores
   every seeded fit and replays it for an identical request; the stored fits
   are removed before each run, so that both runs sample.

``compile_s`` is the backend's ``timing["build"]`` of the cold run minus that
of the warm run (what compiling adds); ``build_cold_s`` and ``build_warm_s``
are the figures themselves (warm: finding the program and reading the data;
PyStan starts its HTTP server and checks the data through it).
``sample_s`` is the sampling time (``timing["sample"]``: NUTS, plus for
CmdStanPy writing and parsing the CSV files), of the cold and the warm run.
``same_draws`` says whether the two backends gave identical draws (every
variable, every sampler statistic). Results go to
``benchmarks/results/backend_speed.json``. Run (CmdStan found via
``$CMDSTAN``)::

    .venv/bin/python benchmarks/backend_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "backend_speed.json"
QUICK = dict(chains=2, warmup=250, draws=250)  # the application chapter's quick mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="seu-backend-speed-"))
    try:
        run(args.output, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(output_path: Path, scratch: Path) -> None:
    # before anything imports httpstan: its cache folder is read from XDG_CACHE_HOME on each use
    os.environ["XDG_CACHE_HOME"] = str(scratch / "xdg-cache")
    os.environ["SEU_CMDSTAN_BUILD_DIR"] = str(scratch / "cmdstan-build")
    assert "httpstan" not in sys.modules

    import httpstan.cache
    import numpy as np

    from seu_sensitivity.studies import pilot as app
    from seu_sensitivity.inference.backends import get_backend
    from seu_sensitivity.datasets import factorial_pilot
    from seu_sensitivity.inference.fitting import prepare

    assert str(httpstan.cache.cache_directory()).startswith(str(scratch)), httpstan.cache.cache_directory()
    backends = {name: get_backend(name) for name in ("pystan", "cmdstanpy")}
    load_at_start = os.getloadavg()[0]

    cells, data = factorial_pilot()
    first = cells.iloc[0]
    stacked = app.pilot_study().stacked()
    models = {
        "m_01": dict(prepared=prepare("m_01", data[first.cell_id]), seed=app.INDEPENDENT_SEED, sampler={},
                     dataset=f"pilot cell {first.cell_id} (M = {int(first.M)}, K = {int(first.K)})"),
        "h_m01": dict(prepared=prepare("h_m01", stacked), seed=app.HIERARCHICAL_SEED,
                      sampler=dict(app.HIERARCHICAL_SAMPLER),
                      dataset=f"the 20-cell pilot, {app.PILOT_FORMULA} (J = {stacked.J}, M = {stacked.M})"),
    }

    rows = []
    for model, spec in models.items():
        program, stan_data, _, _ = spec["prepared"]
        results: dict[str, dict[str, object]] = {name: {} for name in backends}
        for run in ("cold", "warm"):
            for name, backend in backends.items():
                print(f"{model}: {name}, {run} ...", flush=True)
                # httpstan stores every seeded fit and replays it for an identical request: remove the
                # stored fits (in this run's scratch cache) so that the warm run samples too
                for stored in (scratch / "xdg-cache").rglob("*.jsonlines.gz"):
                    stored.unlink()
                start = time.perf_counter()
                result = backend.sample(program, stan_data, seed=spec["seed"], **QUICK, **spec["sampler"])
                results[name][run] = dict(result=result, wall=time.perf_counter() - start)
        draws = {name: results[name]["warm"]["result"] for name in backends}
        a, b = draws["pystan"], draws["cmdstanpy"]
        same = (sorted(a.draws) == sorted(b.draws)
                and all(np.array_equal(a.draws[k], b.draws[k], equal_nan=True) for k in a.draws)
                and all(np.array_equal(a.sample_stats[k], b.sample_stats[k]) for k in a.sample_stats))
        for name, backend in backends.items():
            cold, warm = results[name]["cold"], results[name]["warm"]
            row = {
                "model": model,
                "backend": name,
                "versions": backend.versions(),
                "compile_s": round(cold["result"].timing["build"] - warm["result"].timing["build"], 2),
                "build_cold_s": round(cold["result"].timing["build"], 2),
                "build_warm_s": round(warm["result"].timing["build"], 2),
                "sample_cold_s": round(cold["result"].timing["sample"], 2),
                "sample_warm_s": round(warm["result"].timing["sample"], 2),
                "gradients": warm["result"].gradient_evaluations,
                "divergences": int(np.sum(warm["result"].sample_stats["diverging"])),
            }
            rows.append(row)
            print(f"  {name:>9}: compile {row['compile_s']:6.1f} s (build cold {row['build_cold_s']:.1f} s, "
                  f"warm {row['build_warm_s']:.1f} s); sampling {row['sample_cold_s']:.1f} s cold, "
                  f"{row['sample_warm_s']:.1f} s warm", flush=True)
        for row in rows[-2:]:
            row["same_draws_as_other_backend"] = bool(same)
        print(f"  same draws on both backends: {same}", flush=True)

    output = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
                   f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        "settings": {**QUICK, "h_m01 sampler": app.HIERARCHICAL_SAMPLER,
                     "seeds": {m: spec["seed"] for m, spec in models.items()}},
        "datasets": {m: spec["dataset"] for m, spec in models.items()},
        "method": (
            "Backend.sample twice per backend and model, the backends taking turns (PyStan cold, CmdStanPy cold, "
            "PyStan warm, CmdStanPy warm). Cold = compiled into an empty build folder: a fresh "
            "SEU_CMDSTAN_BUILD_DIR for CmdStanPy; for PyStan httpstan's cache moved to a fresh folder through "
            "XDG_CACHE_HOME (set before httpstan is imported). CmdStan's precompiled header and httpstan's "
            "precompiled Stan services are not rebuilt. httpstan's stored fits (it replays a seeded fit for an "
            "identical request) are removed before every run, so every run samples. compile_s = build_cold_s - build_warm_s; build_warm_s is "
            "finding the compiled program and reading the data (PyStan: starting its HTTP server, loading the "
            "module, checking the data). sample_s = timing['sample'] (NUTS; CmdStanPy includes writing and "
            "parsing its CSV at 17 significant digits). same_draws_as_other_backend: every draw and sampler "
            "statistic identical."
        ),
        "rows": rows,
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(output, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {output_path}")


if __name__ == "__main__":
    main()
