"""The README's two examples run as written.

* the ad hoc analysis (design, simulate, fit, summarise) under "Using the
  package in your own analysis";
* the study example (``<!-- readme-example: study -->``): a prompt x
  temperature study read from m_01-layout JSON files, which the test writes
  from simulated cells into a temporary folder.

Both compile and sample (slow: about a minute each, plus the compiles once
per machine); the fits go to a temporary cache so the project's cache is untouched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

#: each example's marker: the text right before its code block
MARKERS = {
    "ad hoc": "## Using the package in your own analysis\n\n",
    "study": "<!-- readme-example: study -->\n",
}


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def readme_example(name: str) -> str:
    """The code of the README's python block that follows the marker of example ``name``."""
    text = README.read_text(encoding="utf-8")
    marker = MARKERS[name]
    assert text.count(marker) == 1, f"README: marker of the {name} example not found exactly once"
    match = re.match(r"```python\n(.*?)```", text.split(marker, 1)[1], flags=re.S)
    assert match, f"README: no python block right after the marker of the {name} example"
    return match.group(1)


def run_example(name: str, folder: Path) -> subprocess.CompletedProcess:
    script = folder / f"readme_{name.replace(' ', '_')}.py"
    script.write_text(readme_example(name), encoding="utf-8")
    env = dict(os.environ, SEU_CACHE_DIR=str(folder / "cache"), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-W", "ignore", str(script)], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_readme_has_both_examples():
    assert len(readme_python_blocks()) == len(MARKERS)
    ad_hoc = readme_example("ad hoc")
    for step in ("factorial_design", "simulate_hierarchical", "seu.fit(", "seu.diagnose(", "az.summary("):
        assert step in ad_hoc
    study = readme_example("study")
    for step in ("CellData.from_stan_json(", "Study.from_cells(", ".fit_independent(", ".fit_hierarchical(",
                 ".fit_pooled(", ".answers(", ".contrasts(", ".shrinkage(", ".loo_comparison(", ".ppc_table(",
                 ".forest_plot("):
        assert step in study


@pytest.mark.slow
def test_readme_analysis_runs(tmp_path):
    result = run_example("ad hoc", tmp_path)
    # the diagnostics table and the summary of the regression parameters are printed
    assert "max R-hat" in result.stdout and "divergences" in result.stdout
    for name in ("gamma0", "gamma[llm[T.B]]", "gamma[prompt[T.directive]]", "sigma_cell"):
        assert name in result.stdout, result.stdout
    assert any((tmp_path / "cache").rglob("*.nc"))  # the fit was cached where we said


@pytest.mark.slow
def test_readme_study_runs(tmp_path):
    from seu_sensitivity.model.simulate import simulate_cell

    # the README's four cells, simulated with a lower alpha for the directive prompt and at T = 1
    (tmp_path / "data").mkdir()
    alphas = {"neutral_t0": 20.0, "neutral_t1": 10.0, "directive_t0": 12.0, "directive_t1": 5.0}
    for i, (cell_id, alpha) in enumerate(alphas.items()):
        cell, _ = simulate_cell(M=60, R=10, D=2, K=3, alpha=alpha, seed=100 + i, cell_id=cell_id)
        (tmp_path / "data" / f"{cell_id}.json").write_text(json.dumps(cell.to_stan()), encoding="utf-8")
    result = run_example("study", tmp_path)
    out = result.stdout
    for text in ("prompt: directive", "temperature | directive", "sigma_cell", "directive - neutral at T = 1",
                 "pulled", "elpd_loo", "complete pooling", "p consistency"):
        assert text in out, out
    assert (tmp_path / "forest.png").stat().st_size > 0
    assert len(list((tmp_path / "cache").rglob("*.nc"))) >= 4 + 2  # four m_01 fits (and any refits), two h_m01
