"""Benchmark: render the whole book twice with the built-in engine, cold then warm.

The first run fills the fit cache when it is empty (cold); the second finds
every fit cached (warm), which must finish within 60 s. Both execute
``default_jobs()`` chapters at once (2 on this machine); a third render, warm,
executes one chapter at a time, for the ratio. Per-chapter times overlap
when chapters run at once; the totals are wall times. Prints the times per
chapter, side by side, and writes them to
``benchmarks/results/render_book[_quick].json``.

``--cache-dir`` points the fit cache (``SEU_CACHE_DIR``) at a folder of its
own, so that "cold" really starts empty; ``--warm-only`` skips the cold run
(its column is then empty) when the cache is known to hold every fit.
Validation replications are cached under ``<project>/.cache/validation``.

    .venv/bin/python benchmarks/render_book.py [--quick] [--cache-dir DIR] [--warm-only] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

from seu_sensitivity.settings import project_root
from seu_sensitivity.render.builtin import default_jobs, render_book

BUDGET_SECONDS = 60.0


def timed_render(root: Path, out: Path, quick: bool, jobs: int | None = None) -> tuple[dict[str, float], float]:
    started = time.perf_counter()
    timings = render_book(root, quick=quick, output_dir=out, progress=None, kernel_stderr=None, jobs=jobs)
    return {t.source: t.total for t in timings}, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="render with small settings")
    parser.add_argument("--output-dir", type=Path, default=None, help="site folder (default: a temporary one)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="fit cache to use (SEU_CACHE_DIR)")
    parser.add_argument("--warm-only", action="store_true", help="skip the cold render (every fit already cached)")
    args = parser.parse_args()
    if args.cache_dir is not None:
        os.environ["SEU_CACHE_DIR"] = str(args.cache_dir)
    root = project_root()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.output_dir or Path(tmp) / "book"
        cold, cold_total = ({}, None) if args.warm_only else timed_render(root, out, args.quick)
        warm, warm_total = timed_render(root, out, args.quick)
        # the same warm render, one chapter at a time, for the ratio
        serial, serial_total = timed_render(root, out, args.quick, jobs=1)

    def show(value: float | None) -> str:
        return f"{value:>10.1f}" if value is not None else f"{'-':>10}"

    width = max(len(name) for name in warm) + 2
    print(f"chapters executed at once: {default_jobs()} (cold and warm), 1 (warm, one at a time)")
    print(f"{'chapter':<{width}}{'cold (s)':>10}{'warm (s)':>10}{'warm, 1 (s)':>12}")
    for name in warm:
        print(f"{name:<{width}}{show(cold.get(name))}{show(warm[name])}{show(serial[name]):>12}")
    print(f"{'total (wall)':<{width}}{show(cold_total)}{show(warm_total)}{show(serial_total):>12}")
    print(f"warm: one chapter at a time / {default_jobs()} at once = {serial_total / warm_total:.2f}x")
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "mode": "quick" if args.quick else "full",
        "cores": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "jobs": default_jobs(),
        "chapters": {name: {"cold_seconds": cold.get(name), "warm_seconds": warm[name],
                            "warm_seconds_one_at_a_time": serial[name]} for name in warm},
        "cold_total_seconds": cold_total,
        "warm_total_seconds": warm_total,
        "warm_total_seconds_one_at_a_time": serial_total,
        "warm_budget_seconds": BUDGET_SECONDS,
    }
    target = root / "benchmarks" / "results" / f"render_book{'_quick' if args.quick else ''}.json"
    target.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written: {target.relative_to(root)}")
    verdict = "within" if warm_total <= BUDGET_SECONDS else "OVER"
    print(f"warm re-render {warm_total:.1f} s: {verdict} the {BUDGET_SECONDS:.0f} s budget "
          f"({'quick' if args.quick else 'full'} settings)")
    return 0 if warm_total <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
