"""The README's ad hoc analysis runs as written (design, simulate, fit, summarise).

It compiles and samples h_m01 (slow: about a minute, once per machine for the
compile); the fit goes to a temporary cache so the project's cache is untouched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_the_ad_hoc_analysis():
    blocks = readme_python_blocks()
    assert len(blocks) == 1
    for step in ("factorial_design", "simulate_hierarchical", "seu.fit(", "seu.diagnose(", "az.summary("):
        assert step in blocks[0]


@pytest.mark.slow
def test_readme_analysis_runs(tmp_path):
    script = tmp_path / "readme_example.py"
    script.write_text(readme_python_blocks()[0], encoding="utf-8")
    env = dict(os.environ, SEU_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-W", "ignore", str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    # the diagnostics table and the summary of the regression parameters are printed
    assert "max R-hat" in result.stdout and "divergences" in result.stdout
    for name in ("gamma0", "gamma[llm[T.B]]", "gamma[prompt[T.directive]]", "sigma_cell"):
        assert name in result.stdout, result.stdout
    assert any((tmp_path / "cache").rglob("*.nc"))  # the fit was cached where we said
