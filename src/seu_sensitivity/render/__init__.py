"""``seu render``: build the book with Quarto, or with the built-in engine.

Modules, one job each:

- :mod:`.config`  -- read ``_quarto.yml`` (title, chapters, parts, bibliography)
- :mod:`.qmd`     -- parse a ``.qmd`` file (front matter, Python cells, markdown)
- :mod:`.execute` -- run a chapter's cells in a Jupyter kernel (nbclient)
- :mod:`.convert` -- markdown to HTML with pandoc: cross-references, callouts, citations
- :mod:`.site`    -- page template, sidebar, previous/next links, offline CSS
- :mod:`.builtin` -- the built-in engine: the above, chapter after chapter
- :mod:`.quarto`  -- the Quarto engine (``quarto render`` in a subprocess)
- :mod:`.command` -- the ``seu render`` command line
"""

from __future__ import annotations


class RenderError(Exception):
    """A build failure with a message naming the file (and cell) at fault."""
