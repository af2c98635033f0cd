"""Proposition checks: statements of a chapter, verified numerically while it renders.

Each check computes a value, compares it with what the text claims within a
stated tolerance, and records the outcome. A chapter ends with
``checks.report()``, which shows the table of checks and raises
:class:`PropositionCheckFailed` naming every failed check, so that a false
statement fails the build.

>>> checks = Checks()
>>> bool(checks.close("softmax sums to one", value=0.3 + 0.7, expected=1.0, tol=1e-12))
True
>>> bool(checks.less("posterior correlation is strongly negative", value=-0.95, bound=-0.9))
True
>>> bool(checks.true("all R-hat below 1.01", True, detail="max 1.003"))
True
>>> len(checks), checks.all_passed
(3, True)
>>> checks.greater("effective sample size", value=350, bound=400).passed
False
>>> try:
...     checks.report(display=False)
... except PropositionCheckFailed as exc:
...     print(exc)
1 of 4 proposition checks failed:
  - effective sample size: value 350 > 400 is false
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Check", "Checks", "PropositionCheckFailed"]


class PropositionCheckFailed(AssertionError):
    """Raised by :meth:`Checks.report` when a check failed; the message lists the failures."""

    def __init__(self, failed: list["Check"], total: int):
        self.failed = failed
        lines = [f"{len(failed)} of {total} proposition checks failed:"]
        lines += [f"  - {c.statement}: {c.explanation()}" for c in failed]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Check:
    """One verified statement.

    ``relation`` is how ``value`` was compared: ``"≈"`` (within ``tolerance``
    of ``expected``), ``"<"``, ``">"`` (against the bound in ``expected``) or
    ``"true"`` (a condition).
    """

    statement: str
    value: Any
    expected: Any
    tolerance: float | None
    relation: str
    passed: bool
    note: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Show nothing when a check is a cell's last expression: the chapter's checks table reports it."""

    def explanation(self) -> str:
        """Why the check passed or failed, in words."""
        if self.relation == "≈":
            gap = abs(float(self.value) - float(self.expected)) if _finite(self.value, self.expected) else math.nan
            return f"|{_fmt(self.value)} - {_fmt(self.expected)}| = {_fmt(gap)}, tolerance {_fmt(self.tolerance)}"
        if self.relation in ("<", ">"):
            return f"value {_fmt(self.value)} {self.relation} {_fmt(self.expected)} is {str(self.passed).lower()}"
        return f"condition is {str(self.passed).lower()}" + (f" ({self.note})" if self.note else "")


def _finite(*values: Any) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _fmt(value: Any) -> str:
    """Numbers with 4 significant digits; anything else as str."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4g}"


def _scalar(value: Any, name: str) -> float:
    """A real number from a Python, NumPy or 0-d array value."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"check {name!r}: value must be a real number, got {type(value).__name__}") from None


class Checks:
    """The proposition checks of one chapter, in the order they were made."""

    def __init__(self) -> None:
        self._checks: list[Check] = []

    def __len__(self) -> int:
        return len(self._checks)

    def __iter__(self):
        return iter(self._checks)

    @property
    def all_passed(self) -> bool:
        """Whether every check so far passed."""
        return all(c.passed for c in self._checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self._checks if not c.passed]

    def _add(self, check: Check) -> Check:
        """Record ``check``; it is returned, true when it passed (and silent in a notebook)."""
        self._checks.append(check)
        return check

    def close(self, statement: str, *, value: Any, expected: Any, tol: float, note: str = "") -> Check:
        """Check ``|value - expected| <= tol``; a NaN value fails. Returns whether it passed."""
        if not tol >= 0:
            raise ValueError(f"check {statement!r}: tolerance must be >= 0, got {tol!r}")
        v, e = _scalar(value, statement), _scalar(expected, statement)
        passed = bool(abs(v - e) <= tol)  # False for NaN
        return self._add(Check(statement, v, e, float(tol), "≈", passed, note))

    def less(self, statement: str, *, value: Any, bound: Any, note: str = "") -> Check:
        """Check ``value < bound``. Returns whether it passed."""
        v, b = _scalar(value, statement), _scalar(bound, statement)
        return self._add(Check(statement, v, b, None, "<", bool(v < b), note))

    def greater(self, statement: str, *, value: Any, bound: Any, note: str = "") -> Check:
        """Check ``value > bound``. Returns whether it passed."""
        v, b = _scalar(value, statement), _scalar(bound, statement)
        return self._add(Check(statement, v, b, None, ">", bool(v > b), note))

    def true(self, statement: str, condition: Any, *, detail: str = "") -> Check:
        """Check that ``condition`` holds (any truthy value; NumPy booleans too)."""
        passed = bool(condition)
        return self._add(Check(statement, passed, True, None, "true", passed, detail))

    def table(self):
        """The checks as a DataFrame: check, value, expected, tolerance, passed (and note)."""
        import pandas as pd

        rows = []
        for c in self._checks:
            expected = {"≈": _fmt(c.expected), "<": f"< {_fmt(c.expected)}", ">": f"> {_fmt(c.expected)}",
                        "true": "true"}[c.relation]
            rows.append({"check": c.statement, "value": _fmt(c.value), "expected": expected,
                         "tolerance": "" if c.tolerance is None else _fmt(c.tolerance),
                         "passed": "yes" if c.passed else "NO", "note": c.note})
        return pd.DataFrame(rows, columns=["check", "value", "expected", "tolerance", "passed", "note"])

    def report(self, display: bool = True) -> None:
        """Show the table (in a notebook or a rendering chapter) and fail if any check failed.

        Raises :class:`PropositionCheckFailed` listing the failed checks, and
        ``ValueError`` when no check was made (a chapter promising checks must make some).
        """
        if not self._checks:
            raise ValueError("no proposition checks were made")
        if display:
            from IPython.display import HTML, display as show

            show(HTML(self.table().to_html(index=False, classes="proposition-checks", border=0)))
        failed = self.failed
        if failed:
            raise PropositionCheckFailed(failed, len(self._checks))
