"""Fixtures shared by several test files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The project's whole book rendered in quick mode with the built-in engine, once per session.

    Rendered chapter by chapter, so that one failure does not hide the
    others: returns the site folder and the error message of each chapter
    that failed. Used by the chapter tests and the real-browser test.
    """
    from seu_sensitivity.paths import project_root
    from seu_sensitivity.render import RenderError
    from seu_sensitivity.render.builtin import render_book
    from seu_sensitivity.render.config import load_config

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
    compile goes through seu_sensitivity.backends.pystan.build_model, which
    builds in a scratch folder. A `build/` that appears during the session
    means some code path compiled around it, and fails the session.
    """
    from seu_sensitivity.paths import project_root

    litter = list(dict.fromkeys([Path.cwd() / "build", project_root() / "build"]))
    before = {path for path in litter if path.exists()}
    yield
    appeared = [str(path) for path in litter if path.exists() and path not in before]
    assert not appeared, f"a Stan compile left object files in {appeared}: compile through build_model()"
