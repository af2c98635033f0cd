r"""Stan programs as a page shows them: listings, folded listings and excerpts of blocks.

The book reads every listing from the packaged programs when the page
renders, so the text shown is the text fitted. Each helper returns an
IPython ``Markdown`` object, which Quarto and the built-in engine insert as
markdown.

>>> print(stan_listing("data {\n  int N;\n}\n").data)
```stan
data {
  int N;
}
```
"""

from __future__ import annotations

from typing import Sequence

from IPython.display import Markdown

from seu_sensitivity.inference.programs import stan_blocks

__all__ = ["stan_listing", "stan_folded", "stan_excerpt"]


def _fenced(code: str) -> str:
    return f"```stan\n{code.strip(chr(10))}\n```"


def stan_listing(code: str) -> Markdown:
    """Stan code as a fenced, highlighted block (blank lines at either end dropped)."""
    return Markdown(_fenced(code))


def stan_folded(title: str, code: str) -> Markdown:
    """A long Stan listing in a collapsed callout titled ``title``, which the reader can open.

    >>> 'collapse="true"' in stan_folded("functions", "real f();").data
    True
    """
    return Markdown(f'::: {{.callout-note collapse="true"}}\n## {title}\n\n{_fenced(code)}\n:::')


def stan_excerpt(model: str, blocks: Sequence[str] = ("parameters", "model")) -> Markdown:
    """The named blocks of a packaged program, comments and blank lines removed, as one listing.

    For a page that shows the statistical core of a program beside its
    equations; the full program belongs in a listing of its own.

    >>> "parameters {" in stan_excerpt("m_01").data
    True
    """
    code = stan_blocks(model)
    unknown = [name for name in blocks if name not in code]
    if unknown:
        raise KeyError(f"stan_excerpt: {model} has no block(s) {', '.join(unknown)}; it has {', '.join(code)}")
    lines = [line.split("//")[0].rstrip() for name in blocks for line in code[name].splitlines()]
    return stan_listing("\n".join(line for line in lines if line.strip()))
