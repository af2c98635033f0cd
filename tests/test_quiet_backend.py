"""A fit prints nothing: PyStan's build and sampling messages and the compiler's output stay off the
user's terminal and page (a chapter cell, a validation worker), and reach the user when something fails."""

from __future__ import annotations

import pytest

from seu_sensitivity.inference.backends.base import StanProgram
from seu_sensitivity.inference.backends.pystan import PyStanBackend, build_model

pytestmark = pytest.mark.slow

NORMAL = """
data { int<lower=0> N; vector[N] y; }
parameters { real mu; }
model { mu ~ normal(0, 10); y ~ normal(mu, 1); }
"""


@pytest.fixture(scope="module")
def pystan() -> PyStanBackend:
    if not PyStanBackend.available():
        pytest.skip("PyStan is not installed: pip install pystan")
    return PyStanBackend()


def test_building_and_sampling_print_nothing(pystan, capfd):
    program = StanProgram("quiet_normal", path=None, source=NORMAL)  # type: ignore[arg-type]
    result = pystan.sample(program, {"N": 3, "y": [0.1, -0.2, 0.3]}, chains=2, warmup=100, draws=100, seed=3)
    assert result.draws["mu"].shape == (2, 100)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_a_failed_fit_carries_what_stan_said(pystan, capfd):
    """Sampling that cannot start fails with Stan's own explanation attached, not silently."""
    program = StanProgram("quiet_positive", path=None, source="""
        parameters { real<lower=0> sigma; }
        model { target += log(-1.0); }
    """)  # type: ignore[arg-type]
    with pytest.raises(Exception) as failure:
        pystan.sample(program, {}, chains=1, warmup=10, draws=10, seed=1)
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    assert "console output before the error" in notes  # what PyStan printed, kept for the user
    assert "Rejecting initial value" in str(failure.value) + notes
    assert capfd.readouterr() == ("", "")


def test_build_model_prints_nothing(pystan, capfd):
    model = build_model(NORMAL, {"N": 1, "y": [0.0]}, seed=1, name="quiet_normal")
    assert model.param_names == ("mu",)
    assert capfd.readouterr() == ("", "")
