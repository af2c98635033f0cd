"""The sampling settings every chapter uses, quick or full, and the note a quick page carries.

A chapter's parameter cell sets ``quick``; the chapter then asks for its
settings by preset name instead of writing them out, so the quick book (what
the tests render) and the full book differ in one place.

>>> sampling(quick=True)
{'chains': 2, 'warmup': 300, 'draws': 300}
>>> sampling(quick=False, preset="pilot")["warmup"]
500
>>> quick_note(False)
''
>>> quick_note(True).splitlines()[0]
'::: {.callout-warning}'
"""

from __future__ import annotations

from seu_sensitivity.settings import SAMPLING_PRESETS


def sampling(quick: bool, preset: str = "standard") -> dict[str, int]:
    """``chains``, ``warmup`` and ``draws`` of ``preset`` in quick or full mode (a fresh dict)."""
    if preset not in SAMPLING_PRESETS:
        raise ValueError(f"sampling preset {preset!r} unknown; known: {', '.join(SAMPLING_PRESETS)}")
    return dict(SAMPLING_PRESETS[preset]["quick" if quick else "full"])


#: the note at the top of every page built in quick mode
QUICK_NOTE = """::: {.callout-warning}
## Built in quick mode

This page was built in quick mode: short chains, small simulated studies and
few replications, so that the whole book renders in minutes. Its numbers are
a sketch and its fits may fail their convergence checks; the checks that need
full-size fits are skipped. Render the book without `--quick` for numbers to
quote.
:::
"""


def quick_note(quick: bool) -> str:
    """Markdown of the note a page shows when built in quick mode; empty in full mode."""
    return QUICK_NOTE if quick else ""
