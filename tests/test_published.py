"""The pilot's published results: the shipped files, their validation, and the comparison with a study's fits."""

from __future__ import annotations

import shutil

import arviz as az
import numpy as np
import pandas as pd
import pytest

from seu_sensitivity.datasets import factorial_pilot
from seu_sensitivity.studies import pilot as app
from seu_sensitivity.studies import published as pub
from seu_sensitivity.studies.study import IndependentFits


def test_the_shipped_results_load_and_match_the_pilot_and_its_licence():
    per_dataset, slopes = pub.published_results()
    assert len(per_dataset) == 20 and len(slopes) == 4
    cells, _ = factorial_pilot()
    ours = set(zip(cells["llm"].astype(str), cells["task"].astype(str), cells["temperature"].round(6)))
    theirs = set(zip(per_dataset["llm"].astype(str), per_dataset["task"].astype(str), per_dataset["temperature"].round(6)))
    assert ours == theirs
    assert (per_dataset["alpha_q05"] < per_dataset["alpha_median"]).all()
    assert slopes["p_negative"].isna().sum() == 1  # not reported for GPT-4o x insurance
    folder = pub.published_dir()
    assert (folder / "README.md").is_file() and (folder.parent / "LICENSE-upstream").is_file()
    assert "MIT" in (folder.parent / "LICENSE-upstream").read_text()


@pytest.fixture
def copy(tmp_path):
    target = tmp_path / "published"
    shutil.copytree(pub.published_dir(), target)
    return target


def _edit(path, row, column, value):
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[row - 1, column] = value
    table.to_csv(path, index=False)


@pytest.mark.parametrize("file, row, column, value, message", [
    ("per_dataset.csv", 3, "alpha_median", "abc", r"per_dataset.csv, row 3 \(line 4\), field 'alpha_median': 'abc' is not a number"),
    ("per_dataset.csv", 5, "llm", "gpt-5", r"row 5 .*field 'llm': 'gpt-5' is not one of"),
    ("per_dataset.csv", 2, "ppc_p_ll", "1.2", r"row 2 .*field 'ppc_p_ll': 1.2 is not a probability"),
    ("per_dataset.csv", 7, "alpha_sd", "-1", r"row 7 .*field 'alpha_sd': -1 is not positive"),
    ("per_dataset.csv", 4, "alpha_q05", "500", r"row 4 .*field 'alpha_median': .* not in order"),
    ("per_dataset.csv", 2, "temperature", "0.0", r"row 2 .*field 'temperature': .* earlier row"),
    ("temperature_slopes.csv", 2, "slope_point_kind", "mean", r"temperature_slopes.csv, row 2 .*'slope_point_kind'"),
    ("temperature_slopes.csv", 3, "slope_point", "99", r"row 3 .*field 'slope_point': 99 is outside its interval"),
    ("temperature_slopes.csv", 1, "monotonicity_prob", "", r"row 1 .*field 'monotonicity_prob': '' is not a number"),
])
def test_errors_name_the_file_row_and_field(copy, file, row, column, value, message):
    _edit(copy / file, row, column, value)
    with pytest.raises(ValueError, match=message):
        pub.published_results(copy)


def test_missing_file_column_and_slope_row_are_named(copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="per_dataset.csv"):
        pub.published_results(tmp_path / "nowhere")
    table = pd.read_csv(copy / "temperature_slopes.csv")
    table.drop(columns="p_negative").to_csv(copy / "temperature_slopes.csv", index=False)
    with pytest.raises(ValueError, match="temperature_slopes.csv: missing column.*p_negative"):
        pub.published_results(copy)
    table.iloc[:3].to_csv(copy / "temperature_slopes.csv", index=False)
    with pytest.raises(ValueError, match="one row for each llm x task"):
        pub.published_results(copy)


def test_slopes_and_decreasing_probability():
    t = np.array([0.0, 0.3, 0.7, 1.0, 1.5])
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(200, 5))
    alpha = 50 - 20 * t + noise
    b = pub.temperature_slopes(alpha, t)
    reference = np.array([np.polyfit(t, a, 1)[0] for a in alpha])
    np.testing.assert_allclose(b, reference, rtol=1e-10)
    assert pub.decreasing_probability(alpha) > 0.95
    assert pub.decreasing_probability(np.full((10, 5), 3.0)) == 0.0  # flat is not decreasing
    with pytest.raises(ValueError, match="temperatures"):
        pub.temperature_slopes(alpha, t[:4])


def test_comparisons_recover_a_known_linear_alpha():
    """Fake fits whose alpha is exactly 60 - 20 T (independent) and 40 - 10 T (hierarchical) in every draw."""
    study = app.pilot_study()
    per_dataset, slopes = pub.published_results()
    temps = study.cells.set_index("cell_id")["temperature"]
    n = 100
    study.independent = IndependentFits(table=study.cells.copy(), fits={
        c: az.from_dict(posterior={"alpha": np.full((2, n // 2), 60 - 20 * temps[c]) * np.exp(
            np.linspace(-0.01, 0.01, n).reshape(2, -1))},
            log_likelihood={"y": np.zeros((2, n // 2, study.data[c].M))}) for c in study.cell_ids})
    alpha = np.array([40 - 10 * temps[c] for c in study.cell_ids])
    names = list(study.predictors().columns)
    gamma = np.zeros((2, n // 2, len(names)))
    gamma[..., names.index("temperature | gpt-4o, ellsberg")] = -0.2
    study.hierarchical = az.from_dict(
        posterior={"alpha": np.broadcast_to(alpha, (2, n // 2, 20)).copy(),
                   "log_alpha": np.broadcast_to(np.log(alpha), (2, n // 2, 20)).copy(), "gamma": gamma},
        dims={"alpha": ["cell"], "log_alpha": ["cell"], "gamma": ["predictor"]},
        coords={"cell": study.cell_ids, "predictor": names})
    a = pub.alpha_comparison(study, per_dataset)
    assert len(a) == 20 and list(a.columns[:6]) == ["llm", "task", "temperature", "upstream", "upstream_lower",
                                                    "upstream_upper"]
    row = a.loc["gpt-4o__insurance__T1_5"]
    assert row["independent"] == pytest.approx(30.0, rel=0.02) and row["hierarchical"] == pytest.approx(25.0)
    assert row["upstream"] == pytest.approx(36.0474)
    s = pub.slope_comparison(study, slopes).set_index(["llm", "task"])
    np.testing.assert_allclose(s["independent slope"], -20.0, rtol=0.02)
    np.testing.assert_allclose(s["hierarchical slope"], -10.0)
    assert (s["hierarchical P(decreasing)"] == 1.0).all() and (s["independent P(slope < 0)"] == 1.0).all()
    assert s.loc[("gpt-4o", "ellsberg"), "hierarchical P(gamma_T < 0)"] == 1.0
    assert s.loc[("gpt-4o", "insurance"), "hierarchical P(gamma_T < 0)"] == 0.0
    assert s.loc[("gpt-4o", "ellsberg"), "p_negative"] == pytest.approx(0.984)
