"""Benchmark: the application chapter (factorial pilot) cold, then warm, and the time of its fits.

Cold: the chapter is rendered with an empty fit cache (a fresh
``$SEU_CACHE_DIR``), so every fit runs: 20 m_01 fits (plus refits), the
hierarchical h_m01 and complete pooling. Compiled Stan programs are not
part of the fit cache (httpstan keeps them in ``~/.cache/httpstan``), so a
first-ever run on a machine adds about 30 s per program. Warm: the same
render again, every fit loaded from the cache.

The sampling time of each fit is read from the cache's sidecar metadata
(``wall_seconds``), so the hierarchical fit's time is reported separately.
Budgets: cold within 20 minutes, warm within 30 s (full settings).

    .venv/bin/python benchmarks/application_chapter.py [--quick] [--cache-dir DIR] [--warm-only]

Writes ``benchmarks/results/application_chapter[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

CHAPTER = "applications/factorial_synthesis/factorial_synthesis.qmd"
COLD_BUDGET = 20 * 60.0
WARM_BUDGET = 30.0


def render_once(root: Path, out: Path, quick: bool) -> float:
    """Wall time of one render of the chapter (execution and conversion)."""
    from seu_sensitivity.render.builtin import render_book

    started = time.perf_counter()
    render_book(root, [CHAPTER], quick=quick, output_dir=out, progress=None, kernel_stderr=None)
    return time.perf_counter() - started


def fit_times(cache_dir: Path) -> dict[str, float]:
    """Sampling wall time per kind of fit, from the cache sidecars (the chapter's seeds only).

    With a shared cache (``--cache-dir``) every stored version of the chapter's
    fits is counted (quick and full settings alike), so use a fresh cache for timings.
    """
    from seu_sensitivity.studies.pilot import HIERARCHICAL_SEED, INDEPENDENT_SEED, POOLED_SEED

    totals = {"m_01 (sum over the independent fits)": 0.0, "m_01 fits": 0, "h_m01 hierarchical": 0.0,
              "h_m01 complete pooling": 0.0}
    for sidecar in cache_dir.rglob("*.json"):
        try:
            raw = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        meta = raw.get("meta", {})
        seconds = float(meta.get("wall_seconds") or 0.0)
        seed = meta.get("settings", {}).get("seed")
        if meta.get("model") == "m_01" and isinstance(seed, int) and 0 <= seed - INDEPENDENT_SEED < 100:
            totals["m_01 (sum over the independent fits)"] += seconds
            totals["m_01 fits"] += 1
        elif meta.get("model") == "h_m01":
            if seed == HIERARCHICAL_SEED:
                totals["h_m01 hierarchical"] += seconds
            elif seed == POOLED_SEED:
                totals["h_m01 complete pooling"] += seconds
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick settings (what the tests run)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="fit cache to use (default: a fresh temporary folder, so the first render is cold)")
    parser.add_argument("--warm-only", action="store_true", help="skip the cold render (use with --cache-dir)")
    args = parser.parse_args()

    from seu_sensitivity.settings import project_root

    root = project_root()
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = (args.cache_dir or Path(tmp) / "fits").resolve()
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.environ["SEU_CACHE_DIR"] = str(cache_dir)  # inherited by the chapter's kernel
        out = Path(tmp) / "book"
        cold = None if args.warm_only else render_once(root, out, args.quick)
        warm = render_once(root, out, args.quick)
        fits = fit_times(cache_dir)

    mode = "quick" if args.quick else "full"
    rows = [("cold render (empty fit cache)", cold), ("warm render (all fits cached)", warm)]
    rows += [(name, value) for name, value in fits.items()]
    width = max(len(name) for name, _ in rows) + 2
    print(f"application chapter, {mode} settings, {platform.node()} ({os.cpu_count()} cores)")
    print(f"{'':<{width}}{'seconds':>10}")
    for name, value in rows:
        text = "-" if value is None else (f"{value:d}" if isinstance(value, int) else f"{value:.1f}")
        print(f"{name:<{width}}{text:>10}")
    ok_cold = cold is None or cold <= COLD_BUDGET
    ok_warm = warm <= WARM_BUDGET
    if not args.quick:
        print(f"cold {'within' if ok_cold else 'OVER'} {COLD_BUDGET / 60:.0f} min; "
              f"warm {'within' if ok_warm else 'OVER'} {WARM_BUDGET:.0f} s")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    target = results / f"application_chapter{'_quick' if args.quick else ''}.json"
    target.write_text(json.dumps({
        "mode": mode, "host": platform.node(), "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(), "cold_seconds": cold, "warm_seconds": warm, "fits": fits,
        "budgets": {"cold_seconds": COLD_BUDGET, "warm_seconds": WARM_BUDGET},
    }, indent=2) + "\n")
    print(f"wrote {target}")
    return 0 if (ok_cold and ok_warm) or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
