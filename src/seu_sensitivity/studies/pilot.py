"""The factorial pilot as a :class:`~seu_sensitivity.studies.study.Study`: its formulas, priors, seeds and sampler.

Two LLMs x two tasks x five sampling temperatures (20 cells,
:func:`seu_sensitivity.datasets.factorial_pilot`), with the task's
m_01 prior the pilot studies chose (:data:`~seu_sensitivity.datasets.TASK_PRIORS`) and
the tasks as utility groups (3 consequences for insurance, 4 for Ellsberg).
Factor order (gpt-4o and insurance first, the treatment references) comes
from the loader's Categoricals. The fits of the application chapter are

    study = pilot_study()
    study.fit_independent(**sampling, **FIT_OPTIONS["independent"])
    study.fit_hierarchical(**sampling, **FIT_OPTIONS["hierarchical"])
    study.fit_pooled(**sampling, **FIT_OPTIONS["pooled"])

>>> pilot_study().predictors(pooled=True).columns.tolist()
['task: ellsberg']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seu_sensitivity.datasets import TASK_PRIORS, factorial_pilot
from seu_sensitivity.studies.study import Study

__all__ = [
    "PILOT_FORMULA",
    "POOLED_FORMULA",
    "INDEPENDENT_SEED",
    "HIERARCHICAL_SEED",
    "POOLED_SEED",
    "HIERARCHICAL_SAMPLER",
    "RETRY_ADAPT_DELTA",
    "FIT_OPTIONS",
    "pilot_study",
]

#: the hierarchical regression. Temperature enters raw (not centred): T = 0
#: (greedy decoding) is the one temperature that means the same for both
#: providers, so the LLM and task effects and their interaction are read
#: there. One slope per LLM x task, since the providers' scales differ.
PILOT_FORMULA = "~ llm * task + llm:task:temperature"

#: complete pooling: one alpha per task
POOLED_FORMULA = "~ task"

#: base seed of the independent fits (the fit of row i uses INDEPENDENT_SEED + i),
#: and the seeds of the hierarchical and the complete-pooling fits
INDEPENDENT_SEED = 20250800
HIERARCHICAL_SEED = 20250801
POOLED_SEED = 20250802

#: sampler settings of both h_m01 fits: a smaller step size than Stan's default
#: (adapt_delta 0.8), since hierarchical scales with few groups invite divergences
HIERARCHICAL_SAMPLER: dict[str, float] = {"adapt_delta": 0.9}

#: adapt_delta of the refit of an independent fit with divergent transitions
RETRY_ADAPT_DELTA = 0.95

#: keyword arguments of the three fit methods, beside the sampling preset (chains, warmup, draws)
FIT_OPTIONS: dict[str, dict[str, Any]] = {
    "independent": {"seed": INDEPENDENT_SEED, "retry_adapt_delta": RETRY_ADAPT_DELTA},
    "hierarchical": {"seed": HIERARCHICAL_SEED, **HIERARCHICAL_SAMPLER},
    "pooled": {"seed": POOLED_SEED, **HIERARCHICAL_SAMPLER},
}


def pilot_study(folder: str | Path | None = None) -> Study:
    """The 20 pilot cells as a Study: :data:`PILOT_FORMULA`, :data:`POOLED_FORMULA`, tasks as utility groups."""
    cells, data = factorial_pilot(folder)
    return Study.from_cells(cells, data, PILOT_FORMULA, utility_group="task", cell_priors=TASK_PRIORS,
                            pooled_formula=POOLED_FORMULA)
