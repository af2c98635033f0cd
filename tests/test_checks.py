"""Proposition checks: each kind passes and fails where it should; report() fails loudly."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import seu_sensitivity.book.checks as checks_module
from seu_sensitivity.book.checks import Checks, PropositionCheckFailed


def test_close_uses_the_stated_tolerance_inclusively():
    checks = Checks()
    assert checks.close("at the edge", value=1.5, expected=1.0, tol=0.5)
    assert not checks.close("just outside", value=1.5000001, expected=1.0, tol=0.5)
    assert [c.passed for c in checks] == [True, False]


def test_close_fails_on_nan_and_rejects_negative_tolerance():
    checks = Checks()
    assert not checks.close("nan never passes", value=math.nan, expected=0.0, tol=1e9)
    with pytest.raises(ValueError, match="tolerance"):
        checks.close("bad", value=1.0, expected=1.0, tol=-1)


def test_bounds_are_strict_and_numpy_scalars_work():
    checks = Checks()
    assert checks.less("r below", value=np.float64(-0.95), bound=-0.9)
    assert not checks.less("equal is not less", value=-0.9, bound=-0.9)
    assert checks.greater("ess above", value=np.int64(401), bound=400)
    assert not checks.greater("equal is not greater", value=400, bound=400)
    assert checks.true("numpy bool", np.bool_(True))
    assert not checks.true("falsy", 0, detail="zero")


def test_non_numeric_value_is_a_clear_type_error():
    with pytest.raises(TypeError, match="'vector'"):
        Checks().close("vector", value=[1.0, 2.0], expected=1.0, tol=1.0)


def test_table_lists_every_check_with_its_outcome():
    checks = Checks()
    checks.close("sums to one", value=1.0, expected=1.0, tol=1e-12, note="exact")
    checks.less("negative", value=-2.0, bound=0.0)
    table = checks.table()
    assert list(table.columns) == ["check", "value", "expected", "tolerance", "passed", "note"]
    assert table["check"].tolist() == ["sums to one", "negative"]
    assert table["passed"].tolist() == ["yes", "yes"]
    assert table["expected"].tolist() == ["1", "< 0"]
    assert table["tolerance"].tolist() == ["1e-12", ""]


def test_report_names_every_failed_check_and_only_those():
    checks = Checks()
    checks.close("good", value=1.0, expected=1.0, tol=0.1)
    checks.close("shrinkage weight", value=0.5, expected=0.7, tol=0.05)
    checks.true("all chains mixed", False, detail="R-hat 1.2")
    with pytest.raises(PropositionCheckFailed) as info:
        checks.report(display=False)
    message = str(info.value)
    assert "2 of 3" in message
    assert "shrinkage weight" in message and "all chains mixed" in message and "R-hat 1.2" in message
    assert "good" not in message.split(":", 1)[1]
    assert [c.statement for c in info.value.failed] == ["shrinkage weight", "all chains mixed"]


def test_report_passes_silently_when_all_hold_and_refuses_an_empty_list():
    checks = Checks()
    checks.true("holds", True)
    assert checks.report(display=False) is None
    with pytest.raises(ValueError, match="no proposition checks"):
        Checks().report(display=False)


def test_doctests():
    result = doctest.testmod(checks_module)
    assert result.attempted > 0 and result.failed == 0


def test_a_check_is_truthy_and_shows_nothing_as_a_cells_last_expression():
    """A chapter's check cell ends in ``checks.less(...)``: the page must not show a bare True."""
    from IPython.core.formatters import DisplayFormatter

    checks = Checks()
    passed, failed = checks.less("a", value=1, bound=2), checks.less("b", value=3, bound=2)
    assert passed and not failed
    assert bool(passed) is True and bool(failed) is False
    shown, _ = DisplayFormatter().format(passed)
    assert shown == {}
