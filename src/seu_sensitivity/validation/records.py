"""Where a validation run's records live, and reading and writing them.

Each replication's record is one JSON file, and the run's config sits beside
them::

    <validation_dir()>/<run key>/config.json
    <validation_dir()>/<run key>/rep-00042.json

:func:`seu_sensitivity.settings.validation_dir` is the folder ``validation``
beside the fit cache (so ``$SEU_CACHE_DIR`` moves both). Files are written
with :func:`seu_sensitivity.inference.cache.atomic_write_bytes`: a record is
either complete under its final name or absent, so an interrupted run resumes
by computing exactly the replications without a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from seu_sensitivity.settings import validation_dir

if TYPE_CHECKING:
    from seu_sensitivity.validation.config import ValidationConfig

__all__ = [
    "load_records",
    "pending_replications",
    "rep_path",
    "results_dir",
    "write_record",
    "write_run_config",
]


def results_dir(config: "ValidationConfig", root: str | os.PathLike[str] | None = None) -> Path:
    """Folder of a run's records: ``<root>/<run key>``.

    Parameters
    ----------
    config
        The run.
    root
        Folder of all runs; default :func:`seu_sensitivity.settings.validation_dir`.
    """
    return Path(validation_dir() if root is None else root) / config.key()


def rep_path(folder: str | os.PathLike[str], rep: int) -> Path:
    """The record file of replication ``rep`` in a run's ``folder``.

    >>> rep_path("runs/sbc-2x2-abc", 42).name
    'rep-00042.json'
    """
    return Path(folder) / f"rep-{rep:05d}.json"


def _write_json(path: Path, obj: Mapping[str, Any]) -> None:
    """Serialise first (a value JSON cannot hold fails before any file is touched), then write atomically."""
    from seu_sensitivity.inference.cache import atomic_write_bytes

    data = json.dumps(obj, indent=1, default=float).encode("utf-8")
    atomic_write_bytes(path, data)


def write_record(folder: str | os.PathLike[str], rep: int, record: Mapping[str, Any]) -> Path:
    """Store replication ``rep``'s record in ``folder``, atomically; return its path.

    numpy scalars in the record are written as floats. On any failure no
    record file of ``rep`` is left (an existing one is kept as it was).
    """
    path = rep_path(folder, rep)
    _write_json(path, record)
    return path


def write_run_config(folder: str | os.PathLike[str], config: "ValidationConfig") -> Path:
    """Store the run's config as ``config.json`` in ``folder`` (for people and tools reading the folder)."""
    path = Path(folder) / "config.json"
    _write_json(path, config.to_dict())
    return path


def _read(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_records(folder: str | os.PathLike[str], reps: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Records stored in ``folder`` (all, or only ``reps``), sorted by replication index.

    Replications of ``reps`` without a file are left out.
    """
    folder = Path(folder)
    if reps is None:
        paths = sorted(folder.glob("rep-*.json"))
    else:
        paths = [p for p in (rep_path(folder, r) for r in reps) if p.is_file()]
    return sorted((_read(p) for p in paths), key=lambda r: r["rep"])


def pending_replications(folder: str | os.PathLike[str], reps: Iterable[int], *,
                         retry_failed: bool = False) -> tuple[list[int], list[int]]:
    """Split ``reps`` into those still to compute and those already stored.

    Parameters
    ----------
    folder
        The run's folder.
    reps
        Replication indices, in the order to keep.
    retry_failed
        Count replications stored with a status other than ``"ok"`` as still to compute.

    Returns
    -------
    (todo, skipped)
        Two lists of indices.
    """
    todo, skipped = [], []
    for r in reps:
        path = rep_path(folder, r)
        if path.is_file() and not (retry_failed and _read(path).get("status") != "ok"):
            skipped.append(r)
        else:
            todo.append(r)
    return todo, skipped
