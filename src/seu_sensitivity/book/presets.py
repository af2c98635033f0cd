"""The sampling settings every chapter uses, quick or full.

A chapter's parameter cell sets ``quick``; the chapter then asks for its
settings by preset name instead of writing them out, so the quick book (what
the tests render) and the full book differ in one place.

>>> sampling(quick=True)
{'chains': 2, 'warmup': 300, 'draws': 300}
>>> sampling(quick=False, preset="pilot")["warmup"]
500
"""

from __future__ import annotations

from seu_sensitivity.settings import SAMPLING_PRESETS


def sampling(quick: bool, preset: str = "standard") -> dict[str, int]:
    """``chains``, ``warmup`` and ``draws`` of ``preset`` in quick or full mode (a fresh dict)."""
    if preset not in SAMPLING_PRESETS:
        raise ValueError(f"sampling preset {preset!r} unknown; known: {', '.join(SAMPLING_PRESETS)}")
    return dict(SAMPLING_PRESETS[preset]["quick" if quick else "full"])
