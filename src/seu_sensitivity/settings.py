"""The package's settings in one place: folders, environment variables, seeds, sampling presets.

Chapters execute with their own folder as the working directory (as Quarto
does), so nothing is found relative to the working directory: folders are
found from the package's location (an editable install inside the project),
or from environment variables that override them. Every environment variable
the package reads is named here:

==================  ==========================================================
``SEU_PROJECT_DIR`` the project root (the folder with ``_quarto.yml``)
``SEU_CACHE_DIR``   the cache folder of fits (default ``<project>/.cache/fits``);
                    validation records go to its sibling ``validation``
``SEU_STAN_DIR``    the folder of Stan programs (default ``<project>/stan``)
``SEU_BACKEND``     the Stan backend: ``auto`` (default), ``pystan``, ``cmdstanpy``
``SEU_MEMO``        ``0`` turns off the results remembered beside the fit cache
``SEU_CMDSTAN_BUILD_DIR`` where CmdStanPy keeps compiled programs
``SEU_DASK_SCHEDULER``    a Dask scheduler for validation runs
``QUARTO_PATH``     the ``quarto`` executable ``seu render`` uses
``QUARTO_PYTHON``   the Python Quarto runs chapters with (default: this one)
==================  ==========================================================
"""

from __future__ import annotations

import os
import sys
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


def validation_dir() -> Path:
    """Folder of validation records: ``validation`` beside the fit cache folder.

    With ``$SEU_CACHE_DIR=/x/fits`` the records go to ``/x/validation``, so one
    variable moves every cache the package writes.
    """
    return cache_dir().parent / "validation"


#: the seed of a fit when none is given (fits are never unseeded)
DEFAULT_SEED = 20240611

#: sampling settings of the book, by preset and mode (``quick`` renders are the tests' book)
SAMPLING_PRESETS: dict[str, dict[str, dict[str, int]]] = {
    # chapters on simulated studies: long warm-up for the hierarchical geometry
    "standard": {"full": {"chains": 4, "warmup": 1000, "draws": 1000},
                 "quick": {"chains": 2, "warmup": 300, "draws": 300}},
    # the pilot's cells (about 300 choices each) adapt in half the warm-up; the Ellsberg
    # utilities mix slowly, and 2000 draws per chain bring what the book reports to R-hat <= 1.01
    "pilot": {"full": {"chains": 4, "warmup": 500, "draws": 2000},
              "quick": {"chains": 2, "warmup": 250, "draws": 250}},
}


#: environment variable choosing the Stan backend of every fit: auto | pystan | cmdstanpy
BACKEND_ENV = "SEU_BACKEND"
#: the values it may take ("auto": CmdStanPy when a CmdStan installation is found, else PyStan)
BACKEND_CHOICES = ("auto", "cmdstanpy", "pystan")


#: environment variable that points at a folder of Stan programs
STAN_DIR_ENV = "SEU_STAN_DIR"


def stan_dir() -> Path:
    """The folder of Stan programs: ``$SEU_STAN_DIR`` or ``stan/`` of the project."""
    override = os.environ.get(STAN_DIR_ENV)
    return Path(override) if override else project_root() / "stan"


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


#: environment variable; ``0`` turns off the results remembered beside the fit cache
MEMO_ENV = "SEU_MEMO"


def memo_enabled() -> bool:
    """Whether results computed from draws are remembered on disk (``$SEU_MEMO`` is not ``0``)."""
    return os.environ.get(MEMO_ENV, "1") != "0"


#: environment variable naming where CmdStanPy keeps compiled programs
CMDSTAN_BUILD_DIR_ENV = "SEU_CMDSTAN_BUILD_DIR"


def cmdstan_build_dir() -> Path:
    """Where compiled CmdStan programs are kept: ``$SEU_CMDSTAN_BUILD_DIR`` or ``~/.cache/seu_sensitivity/cmdstan``."""
    override = os.environ.get(CMDSTAN_BUILD_DIR_ENV)
    return Path(override) if override else Path.home() / ".cache" / "seu_sensitivity" / "cmdstan"


#: environment variable with a Dask scheduler address (``tcp://host:8786``) for validation runs
DASK_ENV = "SEU_DASK_SCHEDULER"


def dask_scheduler_setting() -> str | None:
    """The Dask scheduler validation runs use when none is given: ``$SEU_DASK_SCHEDULER`` or None."""
    return os.environ.get(DASK_ENV) or None


#: environment variable naming the quarto executable
QUARTO_ENV = "QUARTO_PATH"


def quarto_setting() -> str | None:
    """The quarto executable named by ``$QUARTO_PATH``, if set."""
    return os.environ.get(QUARTO_ENV) or None


#: Quarto's own variable naming the Python that runs the chapters
QUARTO_PYTHON_ENV = "QUARTO_PYTHON"


def quarto_python() -> str:
    """The Python Quarto runs chapters with: ``$QUARTO_PYTHON``, else this interpreter (the user's environment)."""
    return os.environ.get(QUARTO_PYTHON_ENV) or sys.executable
