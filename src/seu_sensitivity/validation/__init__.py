"""Validation of h_m01 at scale: parameter recovery and simulation-based calibration.

A *run* is a :class:`ValidationConfig` (what to simulate, how to fit) plus a
number of replications. Replication ``r`` is a pure function of the config and
``r``: its seeds are derived deterministically from ``(config.seed, r)``, it
simulates one data set with :func:`~seu_sensitivity.model.simulate.simulate_hierarchical`
(from the prior for SBC, from fixed truth for recovery), fits h_m01 and
returns a small JSON-able record (truth, posterior summaries, SBC ranks,
diagnostics, seconds). Records are written one file per replication::

    <project>/.cache/validation/<run-key>/rep-00042.json

with an atomic write (temporary file + ``os.replace``), so an interrupted run
resumes where it stopped: replications whose file exists are skipped. A
replication that raises is recorded with its error and seeds, and
:func:`summarize_run` counts the failures.

Replications run on a :class:`concurrent.futures.ProcessPoolExecutor` by
default, or on a Dask distributed cluster when a scheduler address is given
(argument or ``$SEU_DASK_SCHEDULER``). Workers only *compute* records and
return them; the calling process writes them, so workers on other machines
need no shared file system.

>>> from seu_sensitivity.validation import ValidationConfig, run_validation   # doctest: +SKIP
>>> cfg = ValidationConfig.preset("sbc", "2x2", quick=True)                   # doctest: +SKIP
>>> run = run_validation(cfg, reps=4, workers=2)                              # doctest: +SKIP
>>> uniformity_tests(sbc_ranks(run.records), run.L)                           # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DASK_ENV",
    "FULL_REPS",
    "CHAPTER_QUICK_REPS",
    "ValidationConfig",
    "ValidationRun",
    "coverage_checks",
    "coverage_threshold",
    "design_for",
    "ecdf_difference",
    "ecdf_difference_band",
    "flag_counts",
    "load_records",
    "mean_scaled_rank",
    "rank_statistic",
    "recovery_table",
    "replicate",
    "rep_seeds",
    "results_dir",
    "run_validation",
    "sbc_ranks",
    "summarize_run",
    "uniformity_tests",
    "validation_plan",
]

#: environment variable with a Dask scheduler address (``tcp://host:8786``)
DASK_ENV = "SEU_DASK_SCHEDULER"
#: bump when the record layout changes, so old cached records are not mixed in
RECORD_VERSION = 1

KINDS = ("recovery", "sbc")

#: replications per run in full mode (the validation plan's minimum) and in the chapter's quick mode
FULL_REPS = {"recovery": 100, "sbc": 200}
CHAPTER_QUICK_REPS = {"recovery": 12, "sbc": 10}


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


def design_for(name: str):
    """The named validation design: ``"2x2"`` (two binary factors) or ``"6x3"`` (the seed's design)."""
    from seu_sensitivity.model.design import factorial_design

    if name == "2x2":
        return factorial_design({"a": ["a1", "a2"], "b": ["b1", "b2"]})
    if name == "6x3":
        return factorial_design(
            {
                "model": ["gpt-4o", "claude-3.5", "gemini-1.5", "llama-3-70b", "mistral-large", "qwen-2-72b"],
                "prompt": ["neutral", "chain-of-thought", "role-play"],
            }
        )
    raise ValueError(f"design: expected '2x2' or '6x3', got {name!r}")


@dataclass(frozen=True)
class ValidationConfig:
    """Everything that determines a validation run's results (and hence its cache key).

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
    sim_priors, fit_priors
        ``HM01Priors`` field overrides for simulation and for fitting; they
        differ only in the deliberately mis-specified SBC contrast.
    seed
        Base seed; replication seeds derive from it (:func:`rep_seeds`).
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
    seed: int = 20240611
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        design_for(self.design)  # validates the name
        if self.thin < 1 or self.chains < 1 or self.draws < 1:
            raise ValueError("thin, chains and draws must be >= 1")

    @classmethod
    def preset(cls, kind: str, design: str = "2x2", *, quick: bool = False, misspecified: bool = False,
               **overrides: Any) -> "ValidationConfig":
        """Standard settings. ``quick``: tiny data and short chains (tests, quick renders),
        same code path as full mode. ``misspecified`` (SBC only): data simulated with
        gamma0 ~ Normal(3, 1) but fitted with gamma0 ~ Normal(1.5, 0.5), so ranks pile up."""
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
        out = dataclasses.asdict(self)
        out["sampler"] = dict(self.sampler)
        out["sim_priors"] = dict(self.sim_priors)
        out["fit_priors"] = dict(self.fit_priors)
        out["gamma"] = None if self.gamma is None else list(self.gamma)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ValidationConfig":
        data = dict(data)
        if data.get("gamma") is not None:
            data["gamma"] = tuple(float(g) for g in data["gamma"])
        return cls(**data)

    def key(self) -> str:
        """A readable, content-addressed run key: ``sbc-2x2-<hash>``.

        The hash covers every setting and the source of the fitted Stan
        program, so editing ``stan/h_m01.stan`` starts a new run instead of
        reusing replications of the old program.
        """
        from seu_sensitivity.inference.programs import stan_file

        program = hashlib.sha256(stan_file("h_m01").read_bytes()).hexdigest()
        payload = json.dumps({"v": RECORD_VERSION, "program": program, **self.to_dict()}, sort_keys=True, default=str)
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]
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
    """
    reps = CHAPTER_QUICK_REPS if quick else FULL_REPS
    plan: dict[str, tuple[ValidationConfig, int]] = {}
    for design in ("2x2",) if quick else ("2x2", "6x3"):
        plan[f"recovery {design}"] = (ValidationConfig.preset("recovery", design, quick=quick), reps["recovery"])
    plan["sbc 2x2"] = (ValidationConfig.preset("sbc", "2x2", quick=quick), reps["sbc"])
    plan["sbc 2x2 misspecified"] = (ValidationConfig.preset("sbc", "2x2", quick=quick, misspecified=True),
                                    reps["sbc"])
    return plan


def rep_seeds(config: ValidationConfig, rep: int) -> dict[str, int]:
    """Simulation and fit seeds of replication ``rep``: independent streams via SeedSequence,
    the same on every machine and in every order of execution."""
    state = np.random.SeedSequence(entropy=int(config.seed), spawn_key=(int(rep),)).generate_state(2)
    # Stan seeds must fit a signed 32-bit int
    return {"simulate": int(state[0] % (2**31 - 1)), "fit": int(state[1] % (2**31 - 1))}


def results_dir(config: ValidationConfig, root: str | os.PathLike | None = None) -> Path:
    """Folder of a run's records: ``<root or project/.cache/validation>/<run key>``."""
    if root is None:
        from seu_sensitivity.settings import project_root

        root = project_root() / ".cache" / "validation"
    return Path(root) / config.key()


def _rep_path(folder: Path, rep: int) -> Path:
    return folder / f"rep-{rep:05d}.json"


# ---------------------------------------------------------------------------
# One replication
# ---------------------------------------------------------------------------


def _flatten_truth(truth: Mapping[str, Any]) -> dict[str, float]:
    """Scalar parameters by name: gamma0, gamma[p], sigma_cell, alpha[cell], delta[group,k]."""
    out = {"gamma0": float(truth["gamma0"]), "sigma_cell": float(truth["sigma_cell"])}
    for p, v in truth["gamma"].items():
        out[f"gamma[{p}]"] = float(v)
    for c, v in truth["alpha"].items():
        out[f"alpha[{c}]"] = float(v)
    for g, d in truth["delta"].items():
        for k, v in enumerate(np.asarray(d, dtype=float), start=1):
            out[f"delta[{g},{k}]"] = float(v)
    return out


def _flatten_posterior(idata) -> dict[str, np.ndarray]:
    """Pooled draws (chain-major) of the same scalars as :func:`_flatten_truth`."""
    post = idata.posterior
    out: dict[str, np.ndarray] = {}

    def pooled(da) -> np.ndarray:
        return np.asarray(da.values, dtype=float).reshape(-1)

    out["gamma0"] = pooled(post["gamma0"])
    out["sigma_cell"] = pooled(post["sigma_cell"])
    for p in post["gamma"].coords["predictor"].values:
        out[f"gamma[{p}]"] = pooled(post["gamma"].sel(predictor=p))
    for c in post["alpha"].coords["cell"].values:
        out[f"alpha[{c}]"] = pooled(post["alpha"].sel(cell=c))
    for g in post["delta"].coords["group"].values:
        for k in post["delta"].coords["increment"].values:
            draws = pooled(post["delta"].sel(group=g, increment=k))
            if np.all(np.isnan(draws)):  # NaN padding of a group with fewer consequences
                continue
            out[f"delta[{g},{k}]"] = draws
    return out


def rank_statistic(draws: np.ndarray, truth: float, thin: int) -> int:
    """SBC rank: number of thinned draws below the true value (0..L).

    Draws are pooled chain-major, so taking every ``thin``-th keeps draws that
    are ``thin`` iterations apart within a chain (Talts et al. 2018, sec. 5).
    """
    kept = np.asarray(draws, dtype=float)[::thin]
    return int(np.sum(kept < truth))


def _simulate(config: ValidationConfig, seed: int):
    from seu_sensitivity.model.priors import HM01Priors
    from seu_sensitivity.model.simulate import simulate_hierarchical

    design = design_for(config.design)
    priors = HM01Priors(**config.sim_priors)
    kwargs: dict[str, Any] = dict(n_obs=config.n_obs, R=config.R, D=config.D, K=config.K, priors=priors, seed=seed)
    if config.kind == "recovery":
        kwargs.update(gamma0=config.gamma0, gamma=list(config.gamma) if config.gamma is not None else None,
                      sigma_cell=config.sigma_cell)
    return simulate_hierarchical(design, **kwargs)


def replicate(config: ValidationConfig | Mapping[str, Any], rep: int) -> dict[str, Any]:
    """Run replication ``rep`` of ``config`` and return its record; never raises.

    Top-level (picklable) so process pools and Dask workers can run it; the
    config may arrive as a dict. A failure anywhere (simulation, sampling,
    summarising) is returned as a record with ``status="failed"``, the error and
    the seeds, so that it can be reproduced.
    """
    if not isinstance(config, ValidationConfig):
        config = ValidationConfig.from_dict(config)
    seeds = rep_seeds(config, rep)
    record: dict[str, Any] = {
        "version": RECORD_VERSION, "run_key": config.key(), "rep": int(rep), "seeds": seeds,
        "kind": config.kind, "design": config.design, "host": os.uname().nodename, "pid": os.getpid(),
    }
    start = time.perf_counter()
    try:
        if multiprocessing.current_process().daemon:
            # httpstan samples in child processes, which daemonic processes may not have
            raise RuntimeError(
                "replicate: this worker process is daemonic and cannot start PyStan's sampler processes; "
                "start Dask workers with distributed.worker.daemon=False "
                "(env DASK_DISTRIBUTED__WORKER__DAEMON=False)"
            )
        from seu_sensitivity.inference.diagnostics import diagnose
        from seu_sensitivity.inference.fitting import fit
        from seu_sensitivity.model.priors import HM01Priors

        data, truth = _simulate(config, seeds["simulate"])
        fit_start = time.perf_counter()
        idata = fit(
            "h_m01", data, chains=config.chains, warmup=config.warmup, draws=config.draws, seed=seeds["fit"],
            priors=HM01Priors(**config.fit_priors), cache=False, **dict(config.sampler),
        )
        record["fit_seconds"] = time.perf_counter() - fit_start
        true_values = _flatten_truth(truth)
        draws = _flatten_posterior(idata)
        params: dict[str, dict[str, float]] = {}
        for name, value in true_values.items():
            if name not in draws:
                continue
            x = draws[name]
            q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
            params[name] = {
                "truth": value, "mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)),
                "q05": float(q[0]), "q25": float(q[1]), "q50": float(q[2]), "q75": float(q[3]), "q95": float(q[4]),
                "rank": rank_statistic(x, value, config.thin),
            }
        record["params"] = params
        record["L"] = config.L
        table = diagnose(idata)
        stats = idata.sample_stats
        record["diagnostics"] = {
            "trustworthy": bool(table.attrs.get("trustworthy", False)),
            "failed_checks": [str(i) for i in table.index[~table["ok"].astype(bool)]],
            "divergences": int(np.asarray(stats["diverging"].values).sum()) if "diverging" in stats else 0,
        }
        record["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure becomes a record, by design
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=8)
    record["seconds"] = time.perf_counter() - start
    return record


def _write_atomic(path: Path, record: Mapping[str, Any]) -> None:
    """Write JSON so that readers never see a half-written file (temp file + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, default=float)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_records(folder: str | os.PathLike, reps: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Records stored in ``folder`` (all, or only ``reps``), sorted by replication index."""
    folder = Path(folder)
    if reps is None:
        paths = sorted(folder.glob("rep-*.json"))
    else:
        paths = [p for p in (_rep_path(folder, r) for r in reps) if p.is_file()]
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as handle:
            out.append(json.load(handle))
    return sorted(out, key=lambda r: r["rep"])


# ---------------------------------------------------------------------------
# Running many replications
# ---------------------------------------------------------------------------


@dataclass
class ValidationRun:
    """Outcome of :func:`run_validation`: the config, its folder, the records, and what was computed now."""

    config: ValidationConfig
    folder: Path
    records: list[dict[str, Any]]
    computed: list[int]
    skipped: list[int]
    wall_seconds: float
    executor: str

    @property
    def L(self) -> int:
        return self.config.L

    @property
    def n_failed(self) -> int:
        return sum(r.get("status") != "ok" for r in self.records)

    @property
    def ok_records(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "ok"]


def _progress(total: int, enabled: bool, desc: str):
    """tqdm bar with ETA (its default format shows elapsed<remaining and rate)."""
    from tqdm.std import tqdm  # plain text on stderr, echoed live by the render engine (tqdm.auto would draw a widget)

    return tqdm(total=total, disable=not enabled, desc=desc, unit="rep", smoothing=0.1)


def _shutdown_httpstan() -> None:  # pragma: no cover - runs in worker processes
    """Stop httpstan's own (forked, non-daemon) sampler pool if this process started it."""
    import sys

    stub = sys.modules.get("httpstan.services_stub")
    if stub is not None:
        stub.executor.shutdown(wait=True, cancel_futures=True)


def _worker_init() -> None:  # pragma: no cover - runs in worker processes
    """Initialiser of our pool's worker processes.

    httpstan samples in a ProcessPoolExecutor of its own whose workers are
    non-daemonic children; when our worker exits, multiprocessing joins its
    children *before* interpreter shutdown would stop that pool, so without
    this finaliser (exitpriority >= 0 runs before the join) our
    ``executor.shutdown`` hangs forever after the last replication.
    """
    from multiprocessing import util

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one NUTS run per process; no BLAS oversubscription
    util.Finalize(None, _shutdown_httpstan, exitpriority=100)


def run_validation(
    config: ValidationConfig,
    reps: int | Sequence[int],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    retry_failed: bool = False,
    executor: cf.Executor | None = None,
    replicate_fn: Callable[[Any, int], dict[str, Any]] = replicate,
) -> ValidationRun:
    """Run (or resume) replications ``reps`` (a count, or explicit indices) of ``config``.

    Replications whose record file already exists are skipped (failed ones too,
    unless ``retry_failed``). Execution: ``scheduler`` (or ``$SEU_DASK_SCHEDULER``)
    -> a Dask distributed Client on that address; else a ProcessPoolExecutor
    with ``workers`` processes (spawn context: PyStan runs an asyncio server in
    each process, which forked children must not inherit); ``workers=0`` runs
    inline in this process. An ``executor`` given explicitly is used as is.
    Records are written by this process as results arrive, so a run killed
    half-way keeps everything finished so far.
    """
    indices = list(range(reps)) if isinstance(reps, int) else [int(r) for r in reps]
    folder = results_dir(config, root)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "config.json", config.to_dict())

    todo, skipped = [], []
    for r in indices:
        path = _rep_path(folder, r)
        if path.is_file():
            if retry_failed:
                with open(path, encoding="utf-8") as handle:
                    if json.load(handle).get("status") != "ok":
                        todo.append(r)
                        continue
            skipped.append(r)
        else:
            todo.append(r)

    scheduler = scheduler or os.environ.get(DASK_ENV) or None
    start = time.perf_counter()
    payload = config.to_dict()
    label = "inline"
    bar = _progress(len(todo), progress, config.key())

    def store(rep: int, record: Mapping[str, Any]) -> None:
        _write_atomic(_rep_path(folder, rep), record)
        bar.update(1)

    def lost(rep: int, exc: BaseException) -> dict[str, Any]:
        # the worker itself died (or could not unpickle): still record seed and error
        return {"version": RECORD_VERSION, "run_key": config.key(), "rep": rep, "seeds": rep_seeds(config, rep),
                "kind": config.kind, "design": config.design, "status": "failed",
                "error": f"{type(exc).__name__}: {exc}", "seconds": float("nan")}

    try:
        if not todo:
            pass
        elif executor is not None or (scheduler is None and workers > 0):
            own = executor is None
            if own:
                ctx = multiprocessing.get_context("spawn")
                executor = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
            label = f"{type(executor).__name__}({workers})" if own else type(executor).__name__
            try:
                futures = {executor.submit(replicate_fn, payload, r): r for r in todo}
                for fut in cf.as_completed(futures):
                    r = futures[fut]
                    try:
                        store(r, fut.result())
                    except Exception as exc:  # noqa: BLE001
                        store(r, lost(r, exc))
            finally:
                if own:
                    executor.shutdown(wait=True, cancel_futures=True)
        elif scheduler is not None:
            from dask.distributed import Client, as_completed

            label = f"dask({scheduler})"
            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            try:
                futures = client.map(replicate_fn, [payload] * len(todo), todo, pure=False)
                rep_of = {f.key: r for f, r in zip(futures, todo)}
                for fut in as_completed(futures):
                    r = rep_of[fut.key]
                    try:
                        store(r, fut.result())
                    except Exception as exc:  # noqa: BLE001
                        store(r, lost(r, exc))
            finally:
                if not isinstance(scheduler, Client):
                    client.close()
        else:
            for r in todo:
                store(r, replicate_fn(payload, r))
    finally:
        bar.close()
    wall = time.perf_counter() - start
    records = load_records(folder, indices)
    return ValidationRun(config, folder, records, computed=todo, skipped=skipped, wall_seconds=wall, executor=label)


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------


def _ok(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("status") == "ok"]


def parameter_group(name: str) -> str:
    """``gamma[a]`` -> ``gamma``; used to pool cells/levels in tables and figures."""
    return name.split("[", 1)[0]


def recovery_table(records: Iterable[Mapping[str, Any]], *, by: str = "parameter") -> pd.DataFrame:
    """Bias, RMSE and 50%/90% central-interval coverage per parameter (or per ``by="group"``).

    Coverage is the share of entries whose interval contains the truth. Its
    Monte Carlo standard error is the binomial sqrt(p (1 - p) / reps) at the
    nominal p (so that it does not collapse when coverage is 0 or 1), with
    ``reps`` the number of *replications*, not of entries: the entries of a
    group within one replication (cells, simplex increments) are dependent,
    and whatever that dependence, the mean of a replication's coverage
    indicators has variance at most p (1 - p); replications are independent.
    For one parameter (``by="parameter"``) ``n == reps`` and this is the exact
    binomial standard error; for a group it is an upper bound.
    Bias and RMSE use the posterior mean; ``rel_rmse`` divides RMSE by the mean
    posterior sd (below ~1.5 means the error is what the posterior admits).
    """
    columns = ["n", "reps", "bias", "rmse", "rel_rmse", "cov50", "cov50_mcse", "cov90", "cov90_mcse"]
    rows = []
    for rec in _ok(records):
        for name, s in rec["params"].items():
            rows.append({
                "parameter": name, "group": parameter_group(name), "rep": rec["rep"], "truth": s["truth"],
                "error": s["mean"] - s["truth"], "sd": s["sd"],
                "in50": s["q25"] <= s["truth"] <= s["q75"], "in90": s["q05"] <= s["truth"] <= s["q95"],
            })
    if not rows:
        return pd.DataFrame(columns=columns)
    long = pd.DataFrame(rows)
    out = long.groupby(by, sort=False).agg(
        n=("error", "size"), reps=("rep", "nunique"), bias=("error", "mean"),
        rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
        mean_sd=("sd", "mean"), cov50=("in50", "mean"), cov90=("in90", "mean"),
    )
    out["rel_rmse"] = out["rmse"] / out["mean_sd"]
    out["cov50_mcse"] = np.sqrt(0.5 * 0.5 / out["reps"])
    out["cov90_mcse"] = np.sqrt(0.9 * 0.1 / out["reps"])
    return out[columns]


def coverage_threshold(nominal: float, reps: int, *, n_tests: int = 1, alpha: float = 0.01) -> float:
    """Highest coverage that counts as under-coverage: a coverage ``<=`` this value fails.

    The threshold is ``k / reps`` with ``k`` the largest count whose lower tail
    ``P(Binomial(reps, nominal) <= k)`` is at most ``alpha / n_tests``: an exact
    one-sided binomial test of each of ``n_tests`` coverages, Bonferroni-corrected,
    so that with nominal intervals any of them fails with probability at most
    ``alpha``. The binomial is the exact distribution of ``reps`` x the coverage
    of one parameter, and of a group pooled over entries that are all contained
    or all missed together; with less dependent entries the pooled coverage is
    less spread out (the binomial is its most dispersed case in the convex
    order), so the test is conservative. When even ``k = 0`` is too likely the
    threshold is ``-1 / reps``: no coverage fails.
    """
    from scipy import stats

    if not 0 < nominal < 1 or reps < 1 or n_tests < 1 or not 0 < alpha < 1:
        raise ValueError("coverage_threshold: need 0 < nominal < 1, reps >= 1, n_tests >= 1, 0 < alpha < 1")
    cdf = stats.binom.cdf(np.arange(reps + 1), reps, nominal)
    allowed = np.flatnonzero(cdf <= alpha / n_tests)
    k = int(allowed[-1]) if len(allowed) else -1
    return k / reps


def coverage_checks(table: pd.DataFrame, *, levels: Sequence[float] = (0.5, 0.9), alpha: float = 0.01) -> pd.DataFrame:
    """The recovery failure rule applied to every row of a :func:`recovery_table` and every level.

    One row per (table row, level): ``coverage``, its binomial ``mcse`` over the
    row's ``reps`` replications, the ``threshold`` of :func:`coverage_threshold`
    with ``n_tests`` = rows x levels (the whole table is one family, with
    family-wise level ``alpha``), ``z`` (how many standard errors the threshold
    lies below nominal) and ``ok`` (coverage above the threshold). Only
    under-coverage fails: at a fixed truth, shrinkage towards a prior centred
    near the truth legitimately raises coverage above nominal.
    """
    n_tests = len(table) * len(levels)
    if n_tests == 0:
        raise ValueError("coverage_checks: empty table")
    rows = []
    for label, row in table.iterrows():
        reps = int(row["reps"])
        for level in levels:
            column = f"cov{int(round(100 * level))}"
            if column not in row:
                raise ValueError(f"coverage_checks: no column {column} for level {level}")
            mcse = math.sqrt(level * (1 - level) / reps)
            threshold = coverage_threshold(level, reps, n_tests=n_tests, alpha=alpha)
            rows.append({"row": label, "level": level, "coverage": float(row[column]), "mcse": mcse, "reps": reps,
                         "threshold": threshold, "z": (level - threshold) / mcse})
    out = pd.DataFrame(rows)
    out["ok"] = out["coverage"] > out["threshold"]
    out.attrs.update(alpha=alpha, n_tests=n_tests)
    return out


def sbc_ranks(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Ranks as a (replication x parameter) table of ints 0..L."""
    rows = {rec["rep"]: {k: s["rank"] for k, s in rec["params"].items()} for rec in _ok(records)}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def mean_scaled_rank(ranks: pd.DataFrame, L: int) -> pd.DataFrame:
    """Mean SBC rank / L per parameter, with its standard error under uniform ranks.

    A calibrated parameter's scaled rank is uniform on [0, 1] (mean 1/2, sd
    √(1/12)), so ``z = (mean - 1/2) / se`` is about standard normal; a
    posterior that sits below the truth pushes the mean up, one above it
    pushes it down.

    >>> ranks = pd.DataFrame({"gamma0": [200] * 4 + [0] * 4})
    >>> mean_scaled_rank(ranks, 200).round(3).loc["gamma0"].to_dict()
    {'mean': 0.5, 'se': 0.102, 'z': 0.0}
    """
    scaled = ranks / L
    mean = scaled.mean()
    se = np.sqrt(1 / 12) / np.sqrt(scaled.count())
    return pd.DataFrame({"mean": mean, "se": se, "z": (mean - 0.5) / se})


def _holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        adjusted[idx] = running
    return adjusted


def uniformity_tests(ranks: pd.DataFrame, L: int, *, bins: int | None = None, alpha: float = 0.05,
                     correction: str = "holm") -> pd.DataFrame:
    """Chi-square test of uniform ranks per parameter, with a multiplicity correction.

    Under calibration each rank is uniform on 0..L (L + 1 values). Ranks are
    grouped into ``bins`` equal-width bins (default: about n / 5 so expected
    counts stay >= 5, at most 20, and a divisor-friendly split of the L + 1
    values). ``correction``: ``"holm"`` or ``"bonferroni"`` over the
    parameters; ``reject`` is adjusted p < ``alpha``.
    """
    from scipy import stats

    n = len(ranks)
    if bins is None:
        bins = int(max(2, min(20, n // 5, L + 1)))
    # bin edges on the L + 1 rank values; probabilities from the exact counts of values per bin
    edges = np.linspace(0, L + 1, bins + 1)
    values_per_bin = np.diff(np.ceil(edges))
    probs = values_per_bin / (L + 1)
    rows = []
    for name in ranks.columns:
        r = ranks[name].dropna().to_numpy(dtype=float)
        counts = np.histogram(r, bins=np.ceil(edges) - 0.5)[0]
        expected = probs * len(r)
        stat, p = stats.chisquare(counts, expected)
        rows.append({"parameter": name, "n": len(r), "bins": bins, "chi2": float(stat), "p": float(p)})
    out = pd.DataFrame(rows).set_index("parameter")
    if correction == "holm":
        out["p_adj"] = _holm(out["p"].to_numpy())
    elif correction == "bonferroni":
        out["p_adj"] = np.minimum(1.0, out["p"] * len(out))
    else:
        raise ValueError(f"correction: expected 'holm' or 'bonferroni', got {correction!r}")
    out["reject"] = out["p_adj"] < alpha
    out.attrs.update(alpha=alpha, correction=correction)
    return out


def ecdf_difference(ranks: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """ECDF of the scaled ranks minus the uniform CDF, at z = (1..L+1)/(L+1)."""
    r = np.asarray(ranks, dtype=float)
    z = np.arange(1, L + 2) / (L + 1)
    ecdf = np.array([(r < k).mean() for k in range(1, L + 2)])  # share of ranks <= k-1
    return z, ecdf - z


def ecdf_difference_band(n: int, L: int, *, level: float = 0.95, n_sim: int = 2000, seed: int = 0) -> np.ndarray:
    """Half-width of a simultaneous ``level`` band for the ECDF difference of ``n`` uniform ranks.

    By simulation: draw ``n`` ranks uniform on 0..L, ``n_sim`` times, and take the
    ``level`` quantile of the largest absolute ECDF difference, standardised by
    the pointwise binomial sd sqrt(z (1 - z) / n) so the band is narrow at the
    ends and wide in the middle (as in Säilynoja et al. 2022). Returns the
    half-width at each z of :func:`ecdf_difference`; the whole curve of a
    calibrated model stays inside with probability ``level``.
    """
    rng = np.random.default_rng(seed)
    z = np.arange(1, L + 2) / (L + 1)
    sd = np.sqrt(np.maximum(z * (1 - z), 1e-12) / n)
    sims = rng.integers(0, L + 1, size=(n_sim, n))
    # ECDF at k-1 for k = 1..L+1 via cumulative counts
    counts = np.stack([np.bincount(row, minlength=L + 1) for row in sims])
    ecdf = np.cumsum(counts, axis=1) / n
    dev = np.abs(ecdf - z)[:, :-1] / sd[:-1]  # the last point is exactly 0
    crit = float(np.quantile(dev.max(axis=1), level))
    band = crit * sd
    band[-1] = 0.0
    return band


def flag_counts(runs: Mapping[str, ValidationRun | Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Which convergence checks flag the fits of each run: one row per run, one column per check.

    ``fits`` counts the replications that ran, ``flagged`` those with at least
    one failed check of :func:`seu_sensitivity.diagnose`; each further column
    counts the fits failing that check (a fit can fail several).

    >>> ok = {"status": "ok", "diagnostics": {"trustworthy": False, "failed_checks": ["max R-hat"]}}
    >>> clean = {"status": "ok", "diagnostics": {"trustworthy": True, "failed_checks": []}}
    >>> flag_counts({"demo": [ok, clean, {"status": "failed"}]}).loc["demo"].to_dict()
    {'fits': 2, 'flagged': 1, 'max R-hat': 1}
    """
    rows = {}
    for name, run in runs.items():
        ok = _ok(run.records if isinstance(run, ValidationRun) else run)
        counts: dict[str, int] = {"fits": len(ok), "flagged": sum(not r["diagnostics"]["trustworthy"] for r in ok)}
        for record in ok:
            for check in record["diagnostics"]["failed_checks"]:
                counts[check] = counts.get(check, 0) + 1
        rows[name] = counts
    return pd.DataFrame.from_dict(rows, orient="index").fillna(0).astype(int)


def summarize_run(run: ValidationRun | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and timing: replications, failed (with their seeds), untrustworthy fits, seconds per replication."""
    records = run.records if isinstance(run, ValidationRun) else list(run)
    failed = [r for r in records if r.get("status") != "ok"]
    ok = _ok(records)
    seconds = [r["seconds"] for r in ok if np.isfinite(r.get("seconds", np.nan))]
    return {
        "replications": len(records),
        "ok": len(ok),
        "failed": len(failed),
        "failed_reps": [{"rep": r["rep"], "seeds": r.get("seeds"), "error": r.get("error")} for r in failed],
        "untrustworthy": sum(not r["diagnostics"]["trustworthy"] for r in ok),
        "divergent_fits": sum(r["diagnostics"]["divergences"] > 0 for r in ok),
        "seconds_per_rep": float(np.mean(seconds)) if seconds else math.nan,
    }
