"""Values for a chapter's inline expressions that Quarto inserts as markdown.

Quarto inserts the value of `` `{python} expr` `` as *escaped* text when it
is a string: ``"-0.5"`` becomes ``\\-0\\.5`` and ``"@sec-a"`` becomes
``@sec\\-a``. In prose that reads the same, but inside ``$…$`` the escapes
stay in the TeX (and the math breaks), and a cross-reference is no longer
one. A value with a ``text/markdown`` representation is inserted as it is,
in Quarto and in the built-in engine alike; these helpers make such values.

>>> num(-0.5), num(3.14159, ".2f"), ref("sec-x")
('-0.5', '3.14', '@sec-x')
>>> num(2.0)._repr_markdown_()
'2'

It also holds the few phrasings the prose repeats from page to page: an
estimate with its interval (:func:`estimate_text`) and a list of labels
(:func:`and_join`).
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["MarkdownText", "md", "num", "ref", "interval_text", "estimate_text", "and_join"]


class MarkdownText(str):
    """A string that notebooks (and so Quarto's inline expressions) show as markdown."""

    def _repr_markdown_(self) -> str:
        return str(self)


def md(text: str) -> MarkdownText:
    """``text`` to be inserted as markdown (math, links, emphasis) rather than escaped."""
    return MarkdownText(text)


def num(value: Any, spec: str = "g") -> MarkdownText:
    """``value`` formatted with ``spec`` (as in ``format``), safe inside ``$…$``.

    >>> f"$\\\\gamma_1 = {num(-0.25, '.1f')}$"
    '$\\\\gamma_1 = -0.2$'
    """
    return MarkdownText(format(value, spec))


def ref(label: str) -> MarkdownText:
    """A cross-reference ``@label`` that Quarto resolves (``sec-…``, ``eq-…``, ``fig-…``, ``tbl-…``)."""
    return MarkdownText(f"@{label}")


def interval_text(lower: float, upper: float, digits: int = 2) -> str:
    """An interval as the book prints it: ``[lower, upper]`` with ``digits`` decimals.

    >>> interval_text(0.256, 0.7512)
    '[0.26, 0.75]'
    """
    return f"[{lower:.{digits}f}, {upper:.{digits}f}]"


def estimate_text(value: float, lower: float, upper: float, digits: int = 2) -> str:
    """An estimate followed by its interval, e.g. a factor exp(gamma) on alpha with its 90% interval.

    >>> estimate_text(0.4612, 0.28, 0.751)
    '0.46 [0.28, 0.75]'
    """
    return f"{value:.{digits}f} {interval_text(lower, upper, digits)}"


def and_join(labels: Iterable[Any]) -> str:
    """Labels as a list in prose: ``a``, ``a and b``, ``a, b and c``.

    >>> and_join(["wide"]), and_join(["tight", "wide"]), and_join([1, 2, 3])
    ('wide', 'tight and wide', '1, 2 and 3')
    """
    labels = [str(label) for label in labels]
    if not labels:
        raise ValueError("and_join: no labels")
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
