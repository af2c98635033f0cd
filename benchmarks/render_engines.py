"""Benchmark: the whole book with Quarto and with the built-in engine, cold and warm, side by side.

Each engine renders its own fresh copy of the project (the files git tracks,
as in a fresh clone), pointed at by ``SEU_PROJECT_DIR`` so that its fit cache
and validation records start empty: the first render is cold, the second
warm. Compiled Stan programs are shared (httpstan's and CmdStan's caches are
per machine), as on any machine that has built the book once. The quick
book by default; ``--full-warm`` adds a full-mode render by Quarto of the
project itself, whose fit cache must already hold every full-mode fit.

Writes ``benchmarks/results/render_engines.json``.

    .venv/bin/python benchmarks/render_engines.py [--full-warm]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seu_sensitivity.settings import PROJECT_ENV, project_root
from seu_sensitivity.render.quarto import find_quarto, quarto_arguments

RESULT = project_root() / "benchmarks" / "results" / "render_engines.json"


def fresh_copy(root: Path, target: Path) -> Path:
    """The files git tracks in ``root``, copied to ``target`` (a fresh clone without .git)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)
    return target


def timed(command: list[str], cwd: Path, project: Path) -> float:
    """Wall seconds of ``command`` run in ``cwd`` with the project at ``project``; fails loudly."""
    env = {**os.environ, PROJECT_ENV: str(project), "QUARTO_PYTHON": sys.executable}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-warm", action="store_true",
                        help="also render the project itself in full mode with Quarto (every fit cached)")
    args = parser.parse_args()
    quarto = find_quarto()
    if quarto is None:
        raise SystemExit("Quarto not found: install it (https://quarto.org/docs/get-started/) or set QUARTO_PATH")
    root = project_root()
    seu = str(Path(sys.executable).with_name("seu"))
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="seu-engines-") as tmp:
        for engine in ("quarto", "built-in"):
            project = fresh_copy(root, Path(tmp) / engine)
            site = Path(tmp) / f"{engine}-site"
            if engine == "quarto":
                command = [quarto, *quarto_arguments(None, quick=True, output_dir=str(site))]
            else:
                command = [seu, "render", "--engine", "builtin", "--quick", "--project", str(project),
                           "--output-dir", str(site)]
            for state in ("cold", "warm"):
                results[f"quick, {engine}, {state}"] = seconds = timed(command, project, project)
                print(f"quick book, {engine:8}, {state}: {seconds:7.1f} s", flush=True)
    if args.full_warm:
        with tempfile.TemporaryDirectory(prefix="seu-full-") as site:
            command = [quarto, *quarto_arguments(None, quick=False, output_dir=site)]
            results["full, quarto, warm"] = seconds = timed(command, root, root)
            print(f"full book,  quarto  , warm: {seconds:7.1f} s")
    record = {
        "benchmark": "render_engines",
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "load_average_1min_at_end": os.getloadavg()[0]},
        "quarto": subprocess.run([quarto, "--version"], capture_output=True, text=True).stdout.strip(),
        "notes": "wall seconds; each engine renders a fresh copy of the project (empty fit cache and "
                 "validation records: cold), then again (warm); compiled Stan programs cached per machine; "
                 "the built-in engine runs two chapters at once, Quarto one",
        "seconds": {key: round(value, 1) for key, value in results.items()},
    }
    RESULT.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULT.relative_to(root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
