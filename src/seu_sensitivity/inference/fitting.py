"""``fit()``: Stan program + data -> ArviZ InferenceData, through the fit cache.

One call for every model::

    idata = fit("h_m01", stacked_data, seed=1)          # packaged model, data object
    idata = fit("m_01", cell_data, priors=M01Priors(alpha_mu=3.5))
    idata = fit("primer/eight_schools_nc", {"J": 8, "y": [...], "sigma": [...]},
                dims={"theta": ["school"]}, coords={"school": names})   # any program in stan/

The InferenceData has posterior and sample_stats, and, when the program
provides them, log_likelihood, posterior_predictive, observed_data and
constant_data, with named dimensions and coordinates. For the packaged models
(see :data:`seu_sensitivity.inference.programs.REGISTRY`):

========================  ==================================  =====================================
group                     h_m01 / h_m01_centered              m_01
========================  ==================================  =====================================
posterior                 gamma0, gamma (predictor),          alpha, beta (consequence, feature),
                          sigma_cell, z, log_alpha, alpha      delta (increment), eta (alternative)
                          (cell), beta (cell, consequence,
                          feature), delta (group, increment),
                          alpha_new (new_cell)
log_likelihood            y (obs)                             y (obs)
posterior_predictive      y (obs): replicated choices         y (obs)
observed_data             y (obs)                             y (obs)
constant_data             cell_index (obs), X (cell,          menu_size (obs)
                          predictor)
========================  ==================================  =====================================

``beta`` and ``delta`` are NaN where a cell's (group's) K is below the largest K.

Caching: the key hashes the Stan source with its ``#include`` files expanded
(:func:`~seu_sensitivity.inference.programs.stan_code`), the full data dict (priors and
X_new included), the sampler settings and seed, the backend with its
versions, and the layout (dims, coords, names); an identical call loads the
netCDF from the cache without compiling or sampling.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import arviz as az
import numpy as np

from seu_sensitivity.inference.backends import get_backend
from seu_sensitivity.inference.backends.base import SampleResult, StanProgram, split_inits
from seu_sensitivity.inference.programs import Layout, model_spec, stan_code, stan_file
from seu_sensitivity.settings import DEFAULT_SEED

__all__ = ["fit", "DEFAULT_SEED", "build_inference_data", "prepare", "sampling_seconds"]

#: bump when the InferenceData layout built here changes (invalidates cached fits)
LAYOUT_VERSION = 3


def _prepare_packaged(model: str, data: Any, priors: Any, options: Mapping[str, Any]) -> tuple[dict, Layout, Any]:
    spec = model_spec(model)
    assert spec is not None
    if not isinstance(data, spec.data_type):
        raise TypeError(
            f"fit({model!r}): data must be a {spec.data_type.__name__}, got {type(data).__name__}"
            + (" (use stack_cells() to build one)" if spec.data_type.__name__ == "StackedData" else "")
        )
    if priors is None:
        priors = spec.priors_type()
    if not isinstance(priors, spec.priors_type):
        raise TypeError(f"fit({model!r}): priors must be a {spec.priors_type.__name__}, got {type(priors).__name__}")
    unknown = set(options) - set(spec.options)
    if unknown:
        raise TypeError(
            f"fit({model!r}): unexpected option(s) {sorted(unknown)}; this model accepts {list(spec.options) or 'none'}"
        )
    return spec.stan_data(data, priors, options), spec.layout(data, options), spec


def _generic_layout(
    dims: Mapping[str, Sequence[str]] | None,
    coords: Mapping[str, Sequence[Any]] | None,
    posterior_predictive: Sequence[str] | Mapping[str, str] | None,
    log_likelihood: str | Mapping[str, str] | None,
    observed_data: Mapping[str, Any] | None,
    constant_data: Mapping[str, Any] | None,
) -> Layout:
    if posterior_predictive is None:
        pp: dict[str, str] = {}
    elif isinstance(posterior_predictive, str):
        pp = {posterior_predictive: posterior_predictive}
    elif isinstance(posterior_predictive, Mapping):
        pp = dict(posterior_predictive)
    else:
        pp = {name: name for name in posterior_predictive}
    if log_likelihood is None:
        ll = {"log_lik": "log_lik"}
    elif isinstance(log_likelihood, str):
        ll = {log_likelihood: log_likelihood}
    else:
        ll = dict(log_likelihood)
    return Layout(
        posterior=None,
        dims={k: list(v) for k, v in (dims or {}).items()},
        coords={k: list(v) for k, v in (coords or {}).items()},
        log_likelihood=ll,
        posterior_predictive=pp,
        observed_data={k: np.asarray(v) for k, v in (observed_data or {}).items()},
        constant_data={k: np.asarray(v) for k, v in (constant_data or {}).items()},
    )


def prepare(
    model: str,
    data: Any,
    *,
    priors: Any = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Sequence[Any]] | None = None,
    posterior_predictive: Sequence[str] | Mapping[str, str] | None = None,
    log_likelihood: str | Mapping[str, str] | None = None,
    observed_data: Mapping[str, Any] | None = None,
    constant_data: Mapping[str, Any] | None = None,
    **options: Any,
) -> tuple[StanProgram, dict[str, Any], Layout, Any]:
    """The Stan program, Stan data dict, layout and data postprocessor that :func:`fit` would use.

    >>> from seu_sensitivity import simulate_cell
    >>> cell, _ = simulate_cell(M=5, R=4, D=2, K=3, seed=1)
    >>> program, stan_data, layout, _ = prepare("m_01", cell)
    >>> stan_data["alpha_mu"], layout.dims["beta"]
    (3.0, ['consequence', 'feature'])
    """
    program = StanProgram(model, stan_file(model), stan_code(model))  # includes expanded
    spec = model_spec(model)
    if spec is not None:
        if dims or coords or posterior_predictive or observed_data or constant_data or log_likelihood:
            raise TypeError(f"fit({model!r}): dims/coords/predictive names are fixed for this packaged model")
        stan_data, layout, spec = _prepare_packaged(model, data, priors, options)
        return program, stan_data, layout, (lambda draws: spec.postprocess(draws, data))
    if options:
        raise TypeError(f"fit({model!r}): unexpected keyword(s) {sorted(options)} for a generic Stan program")
    if priors is not None:
        raise TypeError(f"fit({model!r}): priors= applies to packaged models; put priors in the data dict")
    if not isinstance(data, Mapping):
        raise TypeError(f"fit({model!r}): data of a generic Stan program must be a dict, got {type(data).__name__}")
    layout = _generic_layout(dims, coords, posterior_predictive, log_likelihood, observed_data, constant_data)
    return program, dict(data), layout, (lambda draws: draws)


def _as_integers_if_integral(values: np.ndarray) -> np.ndarray:
    """Replicated data that are whole numbers (choices) in the smallest integer type that holds them.

    PyStan hands integer generated quantities over as float64; stored as such
    they cost 4 to 8 times the memory, disk and loading time of the int16
    (or int8) they are.

    >>> _as_integers_if_integral(np.array([[1.0, 3.0]])).dtype, _as_integers_if_integral(np.array([0.5])).dtype
    (dtype('int8'), dtype('float64'))
    """
    values = np.asarray(values)
    if values.dtype.kind != "f" or values.size == 0 or not np.all(np.isfinite(values)):
        return values
    if not np.array_equal(values, np.round(values)):
        return values
    low, high = values.min(), values.max()
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype)
    return values


def build_inference_data(result: SampleResult, layout: Layout, postprocess=lambda d: d, attrs=None) -> az.InferenceData:
    """Assemble an InferenceData from a backend's draws and a layout."""
    draws = postprocess(dict(result.draws))
    log_lik = {}
    for stan_name, name in layout.log_likelihood.items():
        if stan_name in draws:
            log_lik[name] = draws.pop(stan_name)
    predictive = {}
    for stan_name, name in layout.posterior_predictive.items():
        if stan_name not in draws:
            raise KeyError(f"posterior_predictive: the program has no variable {stan_name!r}; it has {sorted(draws)}")
        predictive[name] = _as_integers_if_integral(draws.pop(stan_name))
    if layout.posterior is None:
        posterior = draws
    else:
        posterior = {name: draws[name] for name in layout.posterior}
    used = set(posterior) | set(log_lik) | set(predictive) | set(layout.observed_data) | set(layout.constant_data)
    dims = {k: v for k, v in layout.dims.items() if k in used}
    needed = {d for v in dims.values() for d in v}
    coords = {k: v for k, v in layout.coords.items() if k in needed}
    groups: dict[str, Any] = {"posterior": posterior, "sample_stats": result.sample_stats}
    if log_lik:
        groups["log_likelihood"] = log_lik
    if predictive:
        groups["posterior_predictive"] = predictive
    if layout.observed_data:
        groups["observed_data"] = layout.observed_data
    if layout.constant_data:
        groups["constant_data"] = layout.constant_data
    return az.from_dict(**groups, dims=dims, coords=coords, attrs=dict(attrs or {}))


def fit(
    model: str,
    data: Any,
    *,
    chains: int = 4,
    warmup: int = 1000,
    draws: int = 1000,
    seed: int = DEFAULT_SEED,
    backend: str | None = None,
    cache: bool = True,
    priors: Any = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Sequence[Any]] | None = None,
    posterior_predictive: Sequence[str] | Mapping[str, str] | None = None,
    log_likelihood: str | Mapping[str, str] | None = None,
    observed_data: Mapping[str, Any] | None = None,
    constant_data: Mapping[str, Any] | None = None,
    X_new: Any = None,
    fixed: Mapping[str, float] | None = None,
    belief_scale: bool | str | Mapping[str, bool] = "auto",
    **sampler: Any,
) -> az.InferenceData:
    """Fit a Stan program from ``stan/`` with NUTS and return an ArviZ InferenceData.

    Parameters
    ----------
    model
        ``"m_01"``, ``"h_m01"``, ``"h_m01_centered"`` or any program under
        ``stan/`` named by its path without ``.stan`` (``"primer/eight_schools_nc"``).
    data
        A :class:`~seu_sensitivity.model.stacking.CellData` (m_01), a
        :class:`~seu_sensitivity.model.stacking.StackedData` (h_m01 and its centred
        variant), or a plain dict of Stan data for any other program.
    chains, warmup, draws
        NUTS chains, warmup iterations and kept draws per chain.
    seed
        Random seed (default :data:`DEFAULT_SEED`, 20240611; fits are never unseeded).
    backend
        ``None`` (default): the ``SEU_BACKEND`` setting (``auto`` unless set;
        :func:`seu_sensitivity.settings.backend_setting`); ``"auto"`` (CmdStanPy
        when CmdStan is installed, else PyStan), ``"cmdstanpy"`` or
        ``"pystan"``. Both give the same draws for the same seed and
        initial values (``tests/test_backend_contract.py``; not with
        ``warmup=0``, where they run different Stan services), so the
        choice changes the speed, not the fit.
    cache
        Load/store the fit in the fit cache (``.cache/fits/``, or ``$SEU_CACHE_DIR``).
    priors
        Packaged models: an ``M01Priors`` / ``HM01Priors`` (default: the class defaults).
    dims, coords, posterior_predictive, log_likelihood, observed_data, constant_data
        Generic programs only: dimension names per variable, coordinate labels,
        generated quantities that go to posterior_predictive (names or a
        mapping Stan name -> group name), the log-likelihood variable (default
        ``log_lik``, used when present), and arrays for observed/constant data.
    X_new
        h_m01: predictor rows for the population-predictive ``alpha_new``
        (DataFrame with the design's columns, Series/mapping for one row, or
        (N, P) array). Default: one row of zeros, ``"reference"``.
    fixed
        h_m01: hold ``gamma0`` and/or ``sigma_cell`` at given values, e.g.
        ``{"gamma0": g, "sigma_cell": s}`` (the reduction to m_01) or
        ``{"sigma_cell": 0.0}`` (complete pooling on the regression line).
    belief_scale
        m_01 and h_m01: sample each cell's beliefs in units of 1 + alpha |c|
        (``True``), as they are (``False``), per cell (``{cell id: bool}``), or
        ``"auto"``: scaled where a cell has at least 10 choices per belief
        coordinate (:func:`~seu_sensitivity.inference.programs.belief_scaling`). Same
        model either way; only the sampler's geometry differs. The choice is
        kept in ``constant_data["scale_beliefs"]``.
    **sampler
        Stan sampler settings: ``adapt_delta``, ``max_treedepth`` (or ``max_depth``), ...;
        initial values as ``init`` (or ``inits``): a dict, one dict per
        chain, or a number, the radius of random initial values (0: all
        unconstrained parameters at 0), or as ``init_radius``.

    Examples
    --------
    >>> from seu_sensitivity import simulate_hierarchical, factorial_design, fit   # doctest: +SKIP
    >>> design = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q"]})       # doctest: +SKIP
    >>> data, truth = simulate_hierarchical(design, n_obs=100, seed=1)            # doctest: +SKIP
    >>> idata = fit("h_m01", data, chains=2, seed=1, adapt_delta=0.9)             # doctest: +SKIP
    >>> idata.posterior["gamma"].dims                                              # doctest: +SKIP
    ('chain', 'draw', 'predictor')
    """
    if seed is None:
        raise ValueError("fit: seed must be an integer (default DEFAULT_SEED); unseeded fits are not allowed")
    for name, value in (("chains", chains), ("draws", draws)):
        if int(value) < 1:
            raise ValueError(f"fit: {name} must be >= 1, got {value}")
    if int(warmup) < 0:
        raise ValueError(f"fit: warmup must be >= 0, got {warmup}")
    options = {}
    if X_new is not None:
        options["X_new"] = X_new
    if fixed is not None:
        options["fixed"] = fixed
    if belief_scale != "auto":  # "auto" is the packaged models' default; generic programs take no option
        options["belief_scale"] = belief_scale
    program, stan_data, layout, postprocess = prepare(
        model,
        data,
        priors=priors,
        dims=dims,
        coords=coords,
        posterior_predictive=posterior_predictive,
        log_likelihood=log_likelihood,
        observed_data=observed_data,
        constant_data=constant_data,
        **options,
    )
    split_inits(sampler, int(chains))  # bad initial values fail here, naming the setting, before any compile
    engine = get_backend(backend)
    settings = {"chains": int(chains), "warmup": int(warmup), "draws": int(draws), "seed": int(seed), "sampler": dict(sampler)}
    versions = engine.versions()
    meta: dict[str, Any] = {"model": model, "backend": engine.name, "versions": versions, "settings": settings,
                            "sig_figs": engine.sig_figs}

    def create() -> az.InferenceData:
        start = time.perf_counter()
        result = engine.sample(
            program, stan_data, chains=settings["chains"], warmup=settings["warmup"], draws=settings["draws"],
            seed=settings["seed"], **sampler,
        )
        meta["wall_seconds"] = time.perf_counter() - start
        meta["timing"] = dict(result.timing)
        # the sampling time travels with the fit (and its cache entry), so a
        # report rendered from the cache can still say what the fit cost
        attrs = {"model": model, "backend": engine.name, "seed": settings["seed"],
                 "sampling_seconds": float(meta["wall_seconds"]),
                 **{f"{k}_version": v for k, v in versions.items()}}
        return build_inference_data(result, layout, postprocess, attrs=attrs)

    if not cache:
        return create()
    from seu_sensitivity.inference.cache import FitCache

    key = FitCache.make_key(
        source=program.source,
        data=stan_data,
        settings=settings,
        # sig_figs: draws that went through text with fewer digits are other draws (absent = exact binary)
        backend={"name": engine.name, "versions": versions,
                 **({"sig_figs": engine.sig_figs} if engine.sig_figs is not None else {})},
        layout={
            "version": LAYOUT_VERSION,
            "dims": layout.dims,
            "coords": {k: [str(x) for x in v] for k, v in layout.coords.items()},
            "log_likelihood": layout.log_likelihood,
            "posterior_predictive": layout.posterior_predictive,
            "observed_data": layout.observed_data,
            "constant_data": layout.constant_data,
        },
    )
    idata, _hit = FitCache().get_or_create(key, create, meta)
    return idata


def sampling_seconds(idata: az.InferenceData) -> float | None:
    """Wall time (s) the sampler took when this fit was run, or None if not recorded.

    :func:`fit` stores it in the InferenceData's attributes, so it survives
    the fit cache: a report that loads a cached fit can still state its cost.

    >>> import numpy as np
    >>> idata = az.from_dict(posterior={"mu": np.zeros((1, 5))}, attrs={"sampling_seconds": 12.5})
    >>> sampling_seconds(idata)
    12.5
    >>> sampling_seconds(az.from_dict(posterior={"mu": np.zeros((1, 5))})) is None
    True
    """
    value = getattr(idata, "attrs", {}).get("sampling_seconds")
    return None if value is None else float(value)
