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
"""

from __future__ import annotations

from typing import Any

__all__ = ["MarkdownText", "md", "num", "ref"]


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
