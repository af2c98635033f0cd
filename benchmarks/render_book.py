"""Benchmark: render the whole book twice with the built-in engine, cold then warm.

The first run fills the fit cache when it is empty (cold); the second finds
every fit cached (warm), which must finish within 60 s. Prints both times per
chapter, side by side.

    .venv/bin/python benchmarks/render_book.py [--quick] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from seu_sensitivity.paths import project_root
from seu_sensitivity.render.builtin import render_book

BUDGET_SECONDS = 60.0


def timed_render(root: Path, out: Path, quick: bool) -> tuple[dict[str, float], float]:
    started = time.perf_counter()
    timings = render_book(root, quick=quick, output_dir=out, progress=None, kernel_stderr=None)
    return {t.source: t.total for t in timings}, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="render with small settings")
    parser.add_argument("--output-dir", type=Path, default=None, help="site folder (default: a temporary one)")
    args = parser.parse_args()
    root = project_root()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.output_dir or Path(tmp) / "book"
        cold, cold_total = timed_render(root, out, args.quick)
        warm, warm_total = timed_render(root, out, args.quick)
    width = max(len(name) for name in cold) + 2
    print(f"{'chapter':<{width}}{'cold (s)':>10}{'warm (s)':>10}")
    for name in cold:
        print(f"{name:<{width}}{cold[name]:>10.1f}{warm[name]:>10.1f}")
    print(f"{'total (wall)':<{width}}{cold_total:>10.1f}{warm_total:>10.1f}")
    verdict = "within" if warm_total <= BUDGET_SECONDS else "OVER"
    print(f"warm re-render {warm_total:.1f} s: {verdict} the {BUDGET_SECONDS:.0f} s budget "
          f"({'quick' if args.quick else 'full'} settings)")
    return 0 if warm_total <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
