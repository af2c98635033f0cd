"""seu_sensitivity: SEU sensitivity models, from design matrices to fitted reports.

The public API is the names below (``__all__``), in the order of an analysis;
everything else is reached through its layer (``seu_sensitivity.model``,
``.inference``, ``.studies``, ``.validation``, ``.plots``) and may change::

    import seu_sensitivity as seu
    design = seu.factorial_design({"llm": ["a", "b"], "prompt": ["neutral", "directive"]})
    data, truth = seu.simulate_hierarchical(design, n_obs=100, seed=1)
    idata = seu.fit("h_m01", data, seed=1)      # cached: a second call loads the fit
    seu.diagnose(idata)                          # R-hat, ESS, divergences, flags

``seu_sensitivity.datasets`` loads the data shipped with the project
(``factorial_pilot()``, ``eight_schools()``).
"""

from __future__ import annotations

from seu_sensitivity.model.design import Design, design_from_formula, factorial_design
from seu_sensitivity.model.priors import HM01Priors, M01Priors
from seu_sensitivity.model.simulate import simulate_cell, simulate_hierarchical
from seu_sensitivity.model.stacking import CellData, StackedData, stack_cells

__version__ = "0.1.0"

__all__ = [
    # the model: designs, data, priors, simulation
    "Design",
    "design_from_formula",
    "factorial_design",
    "CellData",
    "StackedData",
    "stack_cells",
    "M01Priors",
    "HM01Priors",
    "simulate_cell",
    "simulate_hierarchical",
    # inference
    "fit",
    "diagnose",
    "sampling_seconds",
]

#: exported lazily (they import ArviZ, which is slow to import): name -> module
_LAZY = {
    "fit": "seu_sensitivity.inference.fitting",
    "sampling_seconds": "seu_sensitivity.inference.fitting",
    "diagnose": "seu_sensitivity.inference.diagnostics",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seu_sensitivity' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
