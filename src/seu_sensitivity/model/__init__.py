"""The model: the SEU choice rule and the data it reads, with no Stan and no sampling.

``design`` (cell tables to design matrices), ``stacking`` (one cell's data and
J cells stacked), ``choice`` (the model's mathematics in NumPy), ``simulate``
(data with known truth) and ``priors`` (the prior defaults each Stan program
takes as data).
"""
