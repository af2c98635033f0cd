"""seu_sensitivity: SEU sensitivity models, from design matrices to fitted reports.

The public API, in the order of an analysis::

    from seu_sensitivity import factorial_design, stack_cells, simulate_hierarchical
    design = factorial_design({"llm": ["a", "b"], "prompt": ["neutral", "directive"]})
    data, truth = simulate_hierarchical(design, n_obs=100, seed=1)
    data.to_stan()        # the data dict of h_m01
"""

from __future__ import annotations

from seu_sensitivity.model.design import ALIGNMENT_STUDY, Design, alignment_study_design, design_from_formula, factorial_design
from seu_sensitivity.model.stacking import CellData, StackedData, stack_cells
from seu_sensitivity.model.simulate import simulate_cell, simulate_hierarchical

__version__ = "0.1.0"

__all__ = [
    "CellData",
    "Design",
    "StackedData",
    "design_from_formula",
    "diagnose",
    "factorial_design",
    "alignment_study_design",
    "ALIGNMENT_STUDY",
    "fit",
    "sampling_seconds",
    "simulate_cell",
    "simulate_hierarchical",
    "stack_cells",
]

#: exported lazily (they import ArviZ, which is slow to import): name -> module
_LAZY = {"fit": "seu_sensitivity.inference.fitting", "sampling_seconds": "seu_sensitivity.inference.fitting",
         "diagnose": "seu_sensitivity.inference.diagnostics"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seu_sensitivity' has no attribute {name!r}")
