"""Studies: analyses assembled from the model and inference layers.

:class:`~seu_sensitivity.studies.study.Study` is the general API (cells,
their data, a formula; the independent, hierarchical and complete-pooling
fits and the tables that compare them); ``pilot`` is the factorial pilot
built on it, ``normal_means`` the primer's normal-means study.
"""

from seu_sensitivity.studies.study import Study

__all__ = ["Study"]
