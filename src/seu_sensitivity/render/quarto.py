"""The Quarto engine: ``quarto render`` in a subprocess, its output streamed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from seu_sensitivity.settings import QUARTO_ENV, QUARTO_PYTHON_ENV, quarto_python, quarto_setting

from . import RenderError

INSTALL_HINT = ("Quarto not found: install it from https://quarto.org/docs/get-started/ "
                f"(or set {QUARTO_ENV} to the quarto executable), or use --engine builtin")


def find_quarto() -> str | None:
    """The quarto executable: ``$QUARTO_PATH`` if it names one, else ``quarto`` on PATH."""
    override = quarto_setting()
    if override:
        candidate = Path(override)
        if candidate.is_dir():
            candidate = candidate / "quarto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        found = shutil.which(override)
        if found:
            return found
    return shutil.which("quarto")


def quarto_arguments(files: list[str] | None, *, quick: bool, output_dir: str | None) -> list[str]:
    """Arguments after ``quarto``: the files, ``-P quick:true`` in quick mode, the output folder.

    >>> quarto_arguments(["a.qmd"], quick=True, output_dir="out")
    ['render', 'a.qmd', '-P', 'quick:true', '--output-dir', 'out']
    """
    args = ["render", *(files or [])]
    if quick:
        args += ["-P", "quick:true"]
    if output_dir:
        args += ["--output-dir", str(output_dir)]
    return args


def render_with_quarto(root: Path, files: list[str] | None = None, *, quick: bool = False,
                       output_dir: str | None = None, quarto: str | None = None) -> int:
    """Run ``quarto render`` in ``root``; its output goes straight to this terminal.

    Returns Quarto's exit status; raises :class:`RenderError` when Quarto is missing.
    """
    executable = quarto or find_quarto()
    if executable is None:
        raise RenderError(INSTALL_HINT)
    command = [executable, *quarto_arguments(files, quick=quick, output_dir=output_dir)]
    # Quarto runs the chapters with the Python that has this package (the
    # user's virtual environment) unless told otherwise
    env = {**os.environ, QUARTO_PYTHON_ENV: quarto_python()}
    try:
        # inherit stdout/stderr: Quarto's progress streams as it comes
        return subprocess.run(command, cwd=root, env=env).returncode
    except OSError as exc:
        raise RenderError(f"cannot run {executable}: {exc}") from exc
