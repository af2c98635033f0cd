"""Shipped datasets load, agree with their manifest, and round-trip through stacking."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from seu_sensitivity.datasets import eight_schools, factorial_pilot, factorial_pilot_dir
from seu_sensitivity.model.stacking import stack_cells


def test_factorial_pilot_cells_and_data():
    cells, data = factorial_pilot()
    assert len(cells) == 20 and list(data) == cells["cell_id"].tolist()
    assert cells.groupby(["llm", "task"], observed=True).size().tolist() == [5, 5, 5, 5]
    assert set(cells.loc[cells["task"] == "insurance", "K"]) == {3}
    assert set(cells.loc[cells["task"] == "ellsberg", "K"]) == {4}
    assert cells["M"].between(292, 300).all()
    for cell_id, cell in data.items():
        assert (cell.R, cell.D) == (30, 32) and cell.cell_id == cell_id
        assert cell.menu_sizes.min() >= 2 and cell.menu_sizes.max() <= 4
    # features are the model's own embeddings: they differ between cells of a task
    insurance = cells.loc[cells["task"] == "insurance", "cell_id"]
    assert not np.array_equal(data[insurance.iloc[0]].w, data[insurance.iloc[1]].w)
    stacked = stack_cells(data, utility_group=dict(zip(cells["cell_id"], cells["task"].astype(str))))
    assert stacked.F == 20 and stacked.K_group.tolist() == [3, 4] and stacked.M == cells["M"].sum()


def test_factorial_pilot_ships_readme_and_licence():
    folder = factorial_pilot_dir()
    assert "MIT" in (folder / "LICENSE-upstream").read_text()
    assert "jeffhelzner/seu-sensitivity" in (folder / "README.md").read_text()


def test_manifest_disagreement_is_reported(tmp_path):
    folder = tmp_path / "pilot"
    shutil.copytree(factorial_pilot_dir(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[3]["M"] = 301
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=rf"{manifest[3]['file']}: manifest says M = 301"):
        factorial_pilot(folder)


def test_eight_schools_is_rubins_table():
    schools = eight_schools()
    assert schools["school"].tolist() == list("ABCDEFGH")
    assert schools["y"].iloc[0] == 28 and schools["sigma"].iloc[-1] == 18
    # precision-weighted pooled mean of the published table is about 7.7 (Gelman et al. 2013)
    weights = 1 / schools["sigma"] ** 2
    assert (schools["y"] * weights).sum() / weights.sum() == pytest.approx(7.69, abs=0.01)


def test_a_new_factor_needs_only_the_manifest_and_a_formula(tmp_path):
    from seu_sensitivity.studies import pilot
    from seu_sensitivity.studies.study import Study

    folder = tmp_path / "pilot"
    shutil.copytree(factorial_pilot_dir(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for position, entry in enumerate(manifest):
        entry["persona"] = "expert" if position % 2 else "novice"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    cells, data = factorial_pilot(folder)
    assert list(cells.columns) == ["cell_id", "llm", "task", "temperature", "persona", "K", "M"]
    study = Study.from_cells(cells, data, pilot.PILOT_FORMULA + " + persona", utility_group="task")
    assert any("persona" in column for column in study.predictors().columns)
    del manifest[5]["persona"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=rf"entry 5 \({manifest[5]['file']}\) lacks persona"):
        factorial_pilot(folder)
