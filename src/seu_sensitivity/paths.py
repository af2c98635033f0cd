"""Where the project's folders are, wherever the code runs from.

Chapters execute with their own folder as the working directory (as Quarto
does), so nothing may be found relative to the working directory: paths are
found from the package's location (an editable install inside the project),
or from environment variables that override them.
"""

from __future__ import annotations

import os
from pathlib import Path

#: environment variable naming the project root (the folder with _quarto.yml)
PROJECT_ENV = "SEU_PROJECT_DIR"
#: environment variable naming the fit cache folder
CACHE_ENV = "SEU_CACHE_DIR"


def _looks_like_project(path: Path) -> bool:
    return (path / "_quarto.yml").is_file() or (path / "stan").is_dir()


def project_root() -> Path:
    """The project folder: ``$SEU_PROJECT_DIR``, the source checkout, or the nearest
    folder above the working directory that has ``_quarto.yml``."""
    override = os.environ.get(PROJECT_ENV)
    if override:
        return Path(override).resolve()
    source_checkout = Path(__file__).resolve().parents[2]
    if _looks_like_project(source_checkout):
        return source_checkout
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_quarto.yml").is_file():
            return folder
    return here


def cache_dir() -> Path:
    """Folder of cached fits: ``$SEU_CACHE_DIR`` or ``<project>/.cache/fits``."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else project_root() / ".cache" / "fits"


#: environment variable choosing the Stan backend of every fit: auto | pystan | cmdstanpy
BACKEND_ENV = "SEU_BACKEND"
#: the values it may take ("auto": CmdStanPy when a CmdStan installation is found, else PyStan)
BACKEND_CHOICES = ("auto", "cmdstanpy", "pystan")


def backend_setting() -> str:
    """The Stan backend fits use unless told otherwise: ``$SEU_BACKEND``, default ``"auto"``.

    The one place the choice is read, so that one book renders with either
    backend and no chapter names one.

    >>> backend_setting() in BACKEND_CHOICES
    True
    """
    value = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if value not in BACKEND_CHOICES:
        raise ValueError(f"{BACKEND_ENV}={os.environ[BACKEND_ENV]!r}: expected one of {', '.join(BACKEND_CHOICES)}")
    return value
