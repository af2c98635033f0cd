"""What a validation run is: its configuration, presets, designs, seeds and plan.

A run is a :class:`ValidationConfig` (what to simulate, how to fit) plus a
number of replications. Everything that determines a replication's result is
in the config, so the config's content hash (:meth:`ValidationConfig.key`)
names the run's records, and replication ``r``'s seeds derive from
``(config.seed, r)`` alone (:func:`rep_seeds`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from seu_sensitivity.settings import DEFAULT_SEED

if TYPE_CHECKING:
    from seu_sensitivity.model.design import Design

__all__ = [
    "CHAPTER_QUICK_REPS",
    "DESIGNS",
    "FULL_REPS",
    "KINDS",
    "RECORD_VERSION",
    "ValidationConfig",
    "design_for",
    "rep_seeds",
    "validation_plan",
]

#: bump when the record layout changes, so old stored records are not mixed in (it is part of the run key)
RECORD_VERSION = 3

#: the kinds of run: parameter recovery at a fixed truth, simulation-based calibration
KINDS = ("recovery", "sbc")

#: the simulated designs, by name (see :func:`design_for`)
DESIGNS = ("2x2", "6x3")

#: the two binary factors of the small design
TWO_BY_TWO: dict[str, list[str]] = {"a": ["a1", "a2"], "b": ["b1", "b2"]}

#: replications per run in full mode (the validation plan's minimum) and in the chapter's quick mode
FULL_REPS = {"recovery": 100, "sbc": 200}
CHAPTER_QUICK_REPS = {"recovery": 12, "sbc": 10}


def design_for(name: str) -> "Design":
    """The named validation design.

    Parameters
    ----------
    name
        ``"2x2"`` (two binary factors, :data:`TWO_BY_TWO`) or ``"6x3"`` (the
        alignment study's design,
        :func:`~seu_sensitivity.model.design.alignment_study_design`).

    Returns
    -------
    Design
        Treatment-coded, first level of each factor as reference.

    Raises
    ------
    ValueError
        For any other name.

    Examples
    --------
    >>> design_for("6x3").J, design_for("6x3").P, design_for("2x2").J
    (18, 7, 4)
    """
    from seu_sensitivity.model.design import alignment_study_design, factorial_design

    if name == "2x2":
        return factorial_design(TWO_BY_TWO)
    if name == "6x3":
        return alignment_study_design()
    raise ValueError(f"design: expected '2x2' or '6x3', got {name!r}")


@dataclass(frozen=True)
class ValidationConfig:
    """Everything that determines a validation run's results (and hence its key).

    Parameters
    ----------
    kind
        ``"recovery"``: every replication simulates from the same fixed truth
        (``gamma0``, ``gamma``, ``sigma_cell``; the cell effects z, beta and delta
        are redrawn each time). ``"sbc"``: every parameter is drawn from
        ``sim_priors``.
    design
        ``"2x2"`` or ``"6x3"`` (see :func:`design_for`).
    n_obs, R, D, K
        Simulated data size (per cell), alternatives, features, consequences.
    chains, warmup, draws, sampler
        NUTS settings passed to :func:`seu_sensitivity.inference.fitting.fit` (``sampler``:
        e.g. ``{"adapt_delta": 0.9}``; an invalid entry makes every fit fail,
        which the tests use to exercise failure records).
    thin
        SBC: keep every ``thin``-th pooled draw for the rank, to reduce the
        autocorrelation that makes ranks of dependent draws non-uniform.
    gamma0, gamma, sigma_cell
        Recovery: the fixed truth of the regression (``gamma``: one slope per
        column of the design).
    sim_priors, fit_priors
        ``HM01Priors`` field overrides for simulation and for fitting; they
        differ only in the deliberately mis-specified SBC contrast.
    seed
        Base seed; replication seeds derive from it (:func:`rep_seeds`).
        Default :data:`seu_sensitivity.settings.DEFAULT_SEED`.
    label
        Added to the run key's readable prefix (e.g. ``"misspecified"``).

    Examples
    --------
    >>> cfg = ValidationConfig.preset("sbc", "2x2", quick=True)
    >>> cfg.chains, cfg.draws, cfg.thin, cfg.L
    (1, 200, 2, 100)
    >>> ValidationConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    kind: str = "sbc"
    design: str = "2x2"
    n_obs: int = 50
    R: int = 10
    D: int = 2
    K: int = 3
    chains: int = 2
    warmup: int = 500
    draws: int = 500
    thin: int = 5
    sampler: Mapping[str, Any] = field(default_factory=lambda: {"adapt_delta": 0.9})
    gamma0: float = 3.0
    gamma: tuple[float, ...] | None = None
    sigma_cell: float = 0.3
    sim_priors: Mapping[str, float] = field(default_factory=dict)
    fit_priors: Mapping[str, float] = field(default_factory=dict)
    seed: int = DEFAULT_SEED
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        if self.design not in DESIGNS:
            raise ValueError(f"design: expected '2x2' or '6x3', got {self.design!r}")
        if self.thin < 1 or self.chains < 1 or self.draws < 1:
            raise ValueError("thin, chains and draws must be >= 1")

    @classmethod
    def preset(cls, kind: str, design: str = "2x2", *, quick: bool = False, misspecified: bool = False,
               **overrides: Any) -> "ValidationConfig":
        """Standard settings of a run.

        Parameters
        ----------
        kind, design
            As in the class.
        quick
            Tiny data and short chains (tests, quick renders), same code path
            as full mode.
        misspecified
            SBC only: data simulated with gamma0 ~ Normal(3, 1) but fitted with
            gamma0 ~ Normal(1.5, 0.5), so ranks pile up.
        **overrides
            Any field, replacing the preset's value.

        Returns
        -------
        ValidationConfig
        """
        base: dict[str, Any] = dict(kind=kind, design=design)
        if quick:
            base.update(n_obs=20, R=6, D=1, K=3, chains=1, warmup=150, draws=200, thin=2)
        if design == "2x2":
            base.setdefault("gamma", (0.5, -0.5))
        else:
            # 6x3: 5 model contrasts + 2 prompt contrasts
            base.setdefault("gamma", (0.4, -0.4, 0.2, -0.2, 0.0, 0.3, -0.3))
        if misspecified:
            if kind != "sbc":
                raise ValueError("misspecified: only meaningful for kind='sbc'")
            base.update(fit_priors={"gamma0_mu": 1.5, "gamma0_sd": 0.5}, label="misspecified")
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain containers (dicts and lists), ready for JSON."""
        out = dataclasses.asdict(self)
        out["sampler"] = dict(self.sampler)
        out["sim_priors"] = dict(self.sim_priors)
        out["fit_priors"] = dict(self.fit_priors)
        out["gamma"] = None if self.gamma is None else list(self.gamma)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ValidationConfig":
        """The config of :meth:`to_dict`'s output (e.g. read back from JSON)."""
        data = dict(data)
        if data.get("gamma") is not None:
            data["gamma"] = tuple(float(g) for g in data["gamma"])
        return cls(**data)

    def key(self) -> str:
        """A readable, content-addressed run key: ``<kind>-<design>[-<label>]-<hash>``.

        The hash (:func:`seu_sensitivity.inference.cache.content_hash`, first
        12 hex digits) covers every setting, the record layout
        (:data:`RECORD_VERSION`), the design's cells and predictor matrix, and
        the source of the fitted Stan program, so editing ``stan/h_m01.stan``
        or the design starts a new run instead of reusing replications of the
        old one. Values are hashed canonically: ``np.int64(5)`` and ``5`` give
        the same key.

        Returns
        -------
        str
            e.g. ``"sbc-2x2-3f9a0c2b71de"``.
        """
        from seu_sensitivity.inference.cache import content_hash
        from seu_sensitivity.inference.programs import stan_code

        design = design_for(self.design)
        digest = content_hash(
            version=RECORD_VERSION,
            program=stan_code("h_m01"),  # includes expanded: an edited function is a new run
            design={"cells": list(design.cell_ids), "X": design.X},
            config=self.to_dict(),
        )[:12]
        name = "-".join(x for x in (self.kind, self.design, self.label) if x)
        return f"{name}-{digest}"

    @property
    def L(self) -> int:
        """Number of thinned draws per SBC rank; ranks take values 0..L."""
        return len(range(0, self.chains * self.draws, self.thin))


def validation_plan(quick: bool = False) -> dict[str, tuple[ValidationConfig, int]]:
    """The runs of the validation chapter, by name: ``{name: (config, replications)}``.

    Full mode: parameter recovery on the 2x2 and the 6x3 design
    (``FULL_REPS["recovery"]`` each), SBC and the mis-specified SBC contrast on
    2x2 (``FULL_REPS["sbc"]`` each). Quick mode: the same runs on 2x2 only,
    with ``CHAPTER_QUICK_REPS`` replications of tiny data. The chapter and the
    benchmark's projection of the full-mode time both read this plan.

    Examples
    --------
    >>> list(validation_plan(quick=True))
    ['recovery 2x2', 'sbc 2x2', 'sbc 2x2 misspecified']
    """
    reps = CHAPTER_QUICK_REPS if quick else FULL_REPS
    plan: dict[str, tuple[ValidationConfig, int]] = {}
    for design in ("2x2",) if quick else DESIGNS:
        plan[f"recovery {design}"] = (ValidationConfig.preset("recovery", design, quick=quick), reps["recovery"])
    plan["sbc 2x2"] = (ValidationConfig.preset("sbc", "2x2", quick=quick), reps["sbc"])
    plan["sbc 2x2 misspecified"] = (ValidationConfig.preset("sbc", "2x2", quick=quick, misspecified=True),
                                    reps["sbc"])
    return plan


def rep_seeds(config: ValidationConfig, rep: int) -> dict[str, int]:
    """Simulation and fit seeds of replication ``rep``.

    Independent streams via :class:`numpy.random.SeedSequence` spawned from
    ``(config.seed, rep)``: the same on every machine and in every order of
    execution. Both fit a signed 32-bit int, as Stan requires.

    Returns
    -------
    dict
        ``{"simulate": int, "fit": int}``.
    """
    state = np.random.SeedSequence(entropy=int(config.seed), spawn_key=(int(rep),)).generate_state(2)
    return {"simulate": int(state[0] % (2**31 - 1)), "fit": int(state[1] % (2**31 - 1))}
