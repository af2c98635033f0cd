"""Long fits show progress: the package's progress bars reach the built-in engine's live stream."""

from __future__ import annotations

import io

from seu_sensitivity.render.execute import execute_document
from seu_sensitivity.render.qmd import parse_qmd_text

CHAPTER = """---
title: "Progress"
---

```{python}
#| include: false
from seu_sensitivity.validation.runner import _progress
bar = _progress(3, True, "replications")
for _ in range(3):
    bar.update()
bar.close()
```
"""


def test_progress_bar_of_a_cell_is_echoed_live_and_kept_off_the_page(tmp_path):
    doc = parse_qmd_text(CHAPTER, tmp_path / "progress.qmd")
    live = io.StringIO()
    result = execute_document(doc, tmp_path, progress=live)
    echoed = live.getvalue()
    assert "replications" in echoed and "3/3" in echoed  # the terminal saw the bar, to the end
    assert "replications" not in result.markdown  # include: false keeps it off the page
