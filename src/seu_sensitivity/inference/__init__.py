"""Inference: Stan programs fitted to the model's data, and what the draws say.

``programs`` (the registry of Stan programs), ``fitting`` (:func:`fit`),
``backends`` (PyStan and CmdStanPy behind one interface), ``cache`` (the
content-addressed fit cache) and ``memo``; ``convergence`` and
``diagnostics`` (R-hat, ESS, divergences and their flags), ``psis`` (PSIS-LOO),
``effects`` (posterior summaries of the regression), ``ppc`` and
``prior_predictive`` (predictive checks).
"""
