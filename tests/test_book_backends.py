"""One book, either backend: a chapter gives the same proposition checks on PyStan and on CmdStanPy.

The backend is chosen by ``SEU_BACKEND`` alone (the kernel inherits it); the
two backends give the same draws for the same seed, so every checked value
agrees, not only the verdicts. The single-cell chapter is rendered (quick
mode, built-in engine) once per backend; the whole book's comparison is in
the README's measurements.
"""

from __future__ import annotations

import pytest

from seu_sensitivity.inference.backends.cmdstanpy import CmdStanPyBackend
from seu_sensitivity.inference.backends.pystan import PyStanBackend
from seu_sensitivity.settings import BACKEND_ENV, project_root
from seu_sensitivity.render.builtin import render_book
from seu_sensitivity.render.outline import compare_checks, page_outline
from seu_sensitivity.render.site import page_path

pytestmark = pytest.mark.slow

CHAPTER = "foundations/single_cell_model.qmd"


def test_a_chapter_checks_the_same_on_both_backends(tmp_path, monkeypatch):
    for backend in (PyStanBackend, CmdStanPyBackend):
        if not backend.available():
            pytest.skip(f"{backend.name} is not available here: {backend.install_hint}")
    sites = {}
    for name in ("pystan", "cmdstanpy"):
        monkeypatch.setenv(BACKEND_ENV, name)
        sites[name] = tmp_path / name
        render_book(project_root(), [CHAPTER], quick=True, output_dir=sites[name], progress=None, kernel_stderr=None)
    checks = page_outline(sites["pystan"] / page_path(CHAPTER)).checks
    assert len(checks) >= 5 and all(row[4] == "yes" for row in checks)
    assert compare_checks(sites["pystan"], sites["cmdstanpy"], names=("PyStan", "CmdStanPy"), values=True) == []
