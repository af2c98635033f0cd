"""``seu render [FILES...] [--engine auto|quarto|builtin] [--quick] [--output-dir DIR] [--jobs N]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import RenderError


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``seu render``."""
    parser.add_argument("files", nargs="*", metavar="FILES",
                        help="chapters to render (default: the whole book listed in _quarto.yml)")
    parser.add_argument("--engine", choices=["auto", "quarto", "builtin"], default="auto",
                        help="quarto, the built-in engine (Jupyter kernel + pandoc), or auto: "
                             "Quarto when it is installed (default)")
    parser.add_argument("--quick", action="store_true",
                        help="small settings (fewer draws and replications): what the tests run")
    parser.add_argument("--output-dir", metavar="DIR", default=None,
                        help="where the site goes (default: project.output-dir of _quarto.yml, _book/)")
    parser.add_argument("--jobs", "-j", metavar="N", type=int, default=None,
                        help="built-in engine: chapters executed at once, each in its own kernel "
                             "(default: 2 on a machine with two cores or more, else 1)")
    parser.add_argument("--project", metavar="DIR", default=None,
                        help="the book project folder (default: the seu_sensitivity project)")


def _project_dir(args: argparse.Namespace) -> Path:
    if args.project:
        return Path(args.project).resolve()
    from seu_sensitivity.settings import project_root

    return project_root()


def _project_relative(name: str, root: Path) -> str:
    """A file named on the command line, relative to the project (where the engines run).

    A path relative to the working directory is used when it lies inside the
    project; otherwise the name is taken relative to the project.
    """
    here = Path(name).resolve()
    if here.is_relative_to(root) and here.exists():
        return here.relative_to(root).as_posix()
    return name


#: modules a render needs beyond the library (the ``render`` extra), by the name pip knows
RENDER_REQUIREMENTS = {"yaml": "PyYAML", "nbclient": "nbclient", "nbformat": "nbformat",
                       "ipykernel": "ipykernel", "pypandoc": "pypandoc-binary"}


def missing_render_requirements() -> list[str]:
    """The pip names of the render extra's packages that are not installed."""
    import importlib.util

    return [pip for module, pip in RENDER_REQUIREMENTS.items() if importlib.util.find_spec(module) is None]


def run(args: argparse.Namespace) -> int:
    """Render with the chosen engine; return the exit status."""
    from .quarto import find_quarto, render_with_quarto

    missing = missing_render_requirements()
    if missing:
        print(f"seu render: error: missing {', '.join(missing)}; install them with "
              f"pip install 'seu_sensitivity[render]' (or: make setup)", file=sys.stderr, flush=True)
        return 2

    root = _project_dir(args)
    output_dir = str(Path(args.output_dir).resolve()) if args.output_dir else None
    files = [_project_relative(f, root) for f in args.files]
    engine = args.engine
    try:
        if engine == "auto":
            engine = "quarto" if find_quarto() else "builtin"
            reason = "Quarto found" if engine == "quarto" else "Quarto not found"
            print(f"seu render: {reason}, using the {engine} engine", flush=True)
        if engine == "quarto":
            return render_with_quarto(root, files, quick=args.quick, output_dir=output_dir)
        from .builtin import render_book

        if args.jobs is not None and args.jobs < 1:
            print(f"seu render: error: --jobs must be at least 1, got {args.jobs}", file=sys.stderr, flush=True)
            return 2
        started = time.perf_counter()
        timings = render_book(root, files, quick=args.quick, output_dir=output_dir, jobs=args.jobs)
        out = output_dir or root / "_book"
        print(f"seu render: {len(timings)} page(s) in {time.perf_counter() - started:.1f} s -> {out}", flush=True)
        return 0
    except RenderError as exc:
        print(f"seu render: error: {exc}", file=sys.stderr, flush=True)
        return 1
