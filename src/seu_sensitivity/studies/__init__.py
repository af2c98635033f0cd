"""Studies: analyses assembled from the model and inference layers.

:class:`~seu_sensitivity.studies.study.Study` is the general API (cells,
their data, a formula; the independent, hierarchical and complete-pooling
fits and the tables that compare them); ``pilot`` is the factorial pilot
built on it, ``normal_means`` the primer's normal-means study.
"""

from __future__ import annotations

__all__ = ["Study"]


def __getattr__(name: str):
    # lazily: the study module imports ArviZ, which normal_means does not need
    if name == "Study":
        from seu_sensitivity.studies.study import Study

        return Study
    raise AttributeError(f"module 'seu_sensitivity.studies' has no attribute {name!r}")
