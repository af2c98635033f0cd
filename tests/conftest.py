"""Fixtures shared by several test files."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class QuartoBook:
    """The project's book rendered by Quarto: the site, Quarto's whole log, its exit status."""

    site: Path
    log: str
    returncode: int


@pytest.fixture(scope="session")
def quarto_book(tmp_path_factory) -> QuartoBook:
    """The project's whole book rendered in quick mode by real Quarto (``quarto render -P quick:true``).

    Skips where Quarto is not installed. In a fresh clone this is the cold
    render (empty fit cache); :func:`quick_book` then runs warm after it.
    """
    from seu_sensitivity.settings import project_root
    from seu_sensitivity.render.quarto import find_quarto, quarto_arguments

    quarto = find_quarto()
    if quarto is None:
        pytest.skip("Quarto not found: install it from https://quarto.org/docs/get-started/ to test the book "
                    "as Quarto renders it (CI installs it with ../shared/tools/quarto/install)")
    site = tmp_path_factory.mktemp("quarto-book")
    env = {**os.environ, "QUARTO_PYTHON": sys.executable}
    done = subprocess.run([quarto, *quarto_arguments(None, quick=True, output_dir=str(site))],
                          cwd=project_root(), env=env, capture_output=True, text=True)
    return QuartoBook(site, done.stdout + done.stderr, done.returncode)


@pytest.fixture(scope="session")
def quick_book(request, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The project's whole book rendered in quick mode with the built-in engine, once per session.

    Rendered chapter by chapter, so that one failure does not hide the
    others: returns the site folder and the error message of each chapter
    that failed. Used by the chapter tests and the real-browser test. Where
    Quarto is installed its render goes first, so this one runs warm from
    the fit cache, as a user's second build would.
    """
    from seu_sensitivity.settings import project_root
    from seu_sensitivity.render import RenderError
    from seu_sensitivity.render.builtin import render_book
    from seu_sensitivity.render.config import load_config
    from seu_sensitivity.render.quarto import find_quarto

    if find_quarto() is not None:
        request.getfixturevalue("quarto_book")
    root = project_root()
    out = tmp_path_factory.mktemp("book")
    errors: dict[str, str] = {}
    for chapter in load_config(root).chapter_paths():
        try:
            render_book(root, [chapter], quick=True, output_dir=out, progress=None, kernel_stderr=None)
        except RenderError as exc:
            errors[chapter] = str(exc)
    return out, errors


@pytest.fixture(scope="session", autouse=True)
def no_build_litter_in_the_project():
    """Stan compiles leave nothing in the working directory (the project, under `make test`).

    setuptools puts object files (about 20 MB a program) under ./build; every
    compile goes through seu_sensitivity.inference.backends.pystan.build_model, which
    builds in a scratch folder. A `build/` that appears during the session
    means some code path compiled around it, and fails the session.
    """
    from seu_sensitivity.settings import project_root

    litter = list(dict.fromkeys([Path.cwd() / "build", project_root() / "build"]))
    before = {path for path in litter if path.exists()}
    yield
    appeared = [str(path) for path in litter if path.exists() and path not in before]
    assert not appeared, f"a Stan compile left object files in {appeared}: compile through build_model()"
