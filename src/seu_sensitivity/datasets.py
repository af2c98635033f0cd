"""Datasets shipped with the project, loaded by name.

>>> schools = eight_schools()
>>> schools.shape
(8, 3)
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seu_sensitivity.model.priors import M01Priors
from seu_sensitivity.model.stacking import CellData
from seu_sensitivity.settings import project_root

__all__ = ["eight_schools", "factorial_pilot", "factorial_pilot_dir"]

#: columns of the cells table returned by factorial_pilot, in order
PILOT_COLUMNS = ["cell_id", "llm", "task", "temperature", "K", "M"]
#: factor levels in the order the chapters use (the first is the treatment reference)
PILOT_LLMS = ["gpt-4o", "claude-sonnet-4"]
PILOT_TASKS = ["insurance", "ellsberg"]

#: the m_01 prior the pilot studies chose per task (LogNormal(3.0, 0.75) insurance, (3.5, 0.75) Ellsberg)
TASK_PRIORS: dict[str, M01Priors] = {
    "insurance": M01Priors(alpha_mu=3.0, alpha_sd=0.75),
    "ellsberg": M01Priors(alpha_mu=3.5, alpha_sd=0.75),
}


def eight_schools() -> pd.DataFrame:
    """Rubin's (1981) eight schools: estimated coaching effects on SAT-V and their standard errors.

    Columns ``school`` (A-H), ``y`` (estimated effect, points) and ``sigma``
    (its standard error), as published and reproduced in Gelman et al. (2013, sec. 5.5).
    """
    return pd.DataFrame(
        {
            "school": list("ABCDEFGH"),
            "y": [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0],
            "sigma": [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0],
        }
    )


def factorial_pilot_dir() -> Path:
    """Folder of the factorial pilot data (files, README, manifest, upstream licence)."""
    return project_root() / "applications" / "factorial_synthesis" / "data"


def factorial_pilot(folder: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, CellData]]:
    """The real factorial pilot: two LLMs x two tasks x five temperatures (20 cells).

    Returns ``(cells, data)``: ``cells`` has one row per dataset with
    ``cell_id``, ``llm``, ``task``, ``temperature``, any further factor the
    manifest records for every dataset (a new factor needs only the manifest and
    a formula that names it), ``K`` and ``M`` (``llm`` and ``task`` are ordered
    Categoricals with gpt-4o and insurance first);
    ``data`` maps ``cell_id`` to the :class:`CellData` read from its file.
    Each file's factors and sizes are checked against the manifest.

    Source: the public repository jeffhelzner/seu-sensitivity (MIT licence; see
    ``LICENSE-upstream`` in the data folder).
    """
    folder = Path(folder) if folder is not None else factorial_pilot_dir()
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"factorial pilot manifest not found: {manifest_path}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    rows, data = [], {}
    required = ("file", "llm", "task", "temperature", "K", "M")
    # a manifest key that is neither required nor a size (D, R) is a further factor
    extra_factors = [key for key in (manifest[0] if manifest else {}) if key not in (*required, "D", "R")]
    for position, entry in enumerate(manifest):
        missing = [key for key in (*required, *extra_factors) if key not in entry]
        if missing:
            raise ValueError(f"{manifest_path}: entry {position} ({entry.get('file', 'no file')}) lacks {', '.join(missing)}")
        cell_id = Path(entry["file"]).stem
        cell = CellData.from_stan_json(folder / entry["file"], cell_id=cell_id)
        for key in ("K", "M"):
            if getattr(cell, key) != entry[key]:
                raise ValueError(f"{entry['file']}: manifest says {key} = {entry[key]}, the file has {getattr(cell, key)}")
        data[cell_id] = cell
        rows.append([cell_id, entry["llm"], entry["task"], float(entry["temperature"]),
                     *(entry[key] for key in extra_factors), cell.K, cell.M])
    columns = [*PILOT_COLUMNS[:4], *extra_factors, *PILOT_COLUMNS[4:]]
    cells = pd.DataFrame(rows, columns=columns)
    cells["llm"] = pd.Categorical(cells["llm"], categories=PILOT_LLMS)
    cells["task"] = pd.Categorical(cells["task"], categories=PILOT_TASKS)
    if cells["llm"].isna().any() or cells["task"].isna().any():
        raise ValueError(f"{manifest_path}: an llm or task outside {PILOT_LLMS} / {PILOT_TASKS}")
    return cells, data
