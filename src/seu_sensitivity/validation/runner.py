"""Running validation replications: one in this process, many on processes or a Dask cluster.

Replication ``r`` of a config is a pure function of the config and ``r``
(:func:`replicate`): it simulates one data set with
:func:`~seu_sensitivity.model.simulate.simulate_hierarchical` (from the prior
for SBC, from fixed truth for recovery) using the seeds of
:func:`~seu_sensitivity.validation.config.rep_seeds`, fits h_m01 and returns a
small JSON-able record (truth, posterior summaries, SBC ranks, diagnostics,
seconds). A replication that raises is returned as a record with its error
and seeds.

:func:`run_validation` runs the replications that have no stored record yet
on a :class:`concurrent.futures.ProcessPoolExecutor` (default), on a Dask
distributed cluster (a scheduler address given, or
:func:`seu_sensitivity.settings.dask_scheduler_setting`), or inline. Workers
only *compute* records and return them; the calling process stores them
(:mod:`~seu_sensitivity.validation.records`) as they arrive, so workers on
other machines need no shared file system and a run stopped half-way keeps
every finished replication.

>>> from seu_sensitivity.validation import ValidationConfig, run_validation   # doctest: +SKIP
>>> cfg = ValidationConfig.preset("sbc", "2x2", quick=True)                   # doctest: +SKIP
>>> run = run_validation(cfg, reps=4, workers=2)                              # doctest: +SKIP
>>> run.computed, run.n_failed                                                # doctest: +SKIP
([0, 1, 2, 3], 0)
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from seu_sensitivity.settings import dask_scheduler_setting
from seu_sensitivity.validation.config import RECORD_VERSION, ValidationConfig, design_for, rep_seeds
from seu_sensitivity.validation.records import (
    load_records,
    pending_replications,
    results_dir,
    write_record,
    write_run_config,
)
from seu_sensitivity.validation.statistics import (
    FAMILY_FIELDS,
    default_groups,
    group_verdicts,
    rank_statistic,
)

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ValidationRun", "convergence_by_family", "replicate", "run_validation"]

#: posterior variables that are not parameters of the fit: pointwise log-likelihood and replicated data
#: (normally in their own InferenceData groups; left out of the families should a posterior carry them)
GENERATED = ("log_lik", "y_rep")


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


def _flatten_posterior(idata: "az.InferenceData") -> dict[str, np.ndarray]:
    """Pooled draws (chain-major) of the same scalars as :func:`_flatten_truth`."""
    post = idata.posterior
    out: dict[str, np.ndarray] = {}

    def pooled(da: Any) -> np.ndarray:
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


def convergence_by_family(idata: "az.InferenceData") -> dict[str, Any]:
    """Convergence of each posterior variable (family) and the verdict of each default group.

    One call of :func:`seu_sensitivity.inference.diagnostics.diagnose_by_group`
    with one group per variable of the posterior (``gamma0``, ``gamma``,
    ``alpha``, ..., without :data:`GENERATED`) gives each family's
    ``max R-hat``, ``min bulk ESS`` and ``min tail ESS`` (and where the worst
    entry is); the default groups of ``diagnostics`` (read when called, so a
    changed definition of the reported quantities is followed) are then judged
    from those figures by :func:`~seu_sensitivity.validation.statistics.group_verdicts`,
    with the thresholds ``diagnose_by_group`` applied. A group's worst value is
    the worst of its families', so this is the verdict ``diagnose_by_group``
    gives that group, computed without a second pass over the draws.

    Returns
    -------
    dict
        ``chains``, ``rhat_max``, ``ess_min`` (the thresholds used),
        ``families`` (``{name: {"max R-hat", "R-hat at", "min bulk ESS",
        "bulk ESS at", "min tail ESS"}}``) and ``groups`` (``{label:
        {"variables", "max R-hat", "min bulk ESS", "min tail ESS", "ok"}}``).
    """
    from seu_sensitivity.inference.diagnostics import diagnose_by_group

    names = [str(name) for name in idata.posterior.data_vars if str(name) not in GENERATED]
    table = diagnose_by_group(idata, {name: [name] for name in names})
    families = {str(name): {field: (str(row[field]) if field.endswith(" at") else float(row[field]))
                            for field in FAMILY_FIELDS}
                for name, row in table.iterrows()}
    chains = int(idata.posterior.sizes["chain"])
    rhat_max, ess_min = float(table.attrs["rhat_max"]), float(table.attrs["ess_min"])
    return {"chains": chains, "rhat_max": rhat_max, "ess_min": ess_min, "families": families,
            "groups": group_verdicts(families, default_groups(), rhat_max=rhat_max, ess_min=ess_min)}


def _simulate(config: ValidationConfig, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One simulated data set of ``config`` and its true parameters."""
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

    Parameters
    ----------
    config
        The run, or its :meth:`~ValidationConfig.to_dict`.
    rep
        Replication index; its seeds are :func:`rep_seeds` ``(config, rep)``.

    Returns
    -------
    dict
        ``version``, ``run_key``, ``rep``, ``seeds``, ``kind``, ``design``,
        ``host``, ``pid``, ``status`` (``"ok"`` or ``"failed"``), ``seconds``;
        when ok also ``params`` (per scalar parameter: ``truth``, ``mean``,
        ``sd``, quantiles ``q05``..``q95`` and SBC ``rank``), ``L``,
        ``diagnostics`` (``trustworthy``, ``failed_checks`` and
        ``divergences`` of :func:`~seu_sensitivity.diagnose`, and the
        convergence of each posterior variable and of the default groups, from
        :func:`convergence_by_family`) and ``fit_seconds``; when failed
        ``error`` and ``traceback``.
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
            **convergence_by_family(idata),
        }
        record["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure becomes a record, by design
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=8)
    record["seconds"] = time.perf_counter() - start
    return record


@dataclass
class ValidationRun:
    """Outcome of :func:`run_validation`: the config, its folder, the records, and what was computed now."""

    config: ValidationConfig
    folder: Path  #: where the records are stored
    records: list[dict[str, Any]]  #: every stored record of the requested replications, by index
    computed: list[int]  #: replications computed by this call
    skipped: list[int]  #: replications found stored
    wall_seconds: float  #: time of this call's computing
    executor: str  #: what ran them: ``"inline"``, ``"ProcessPoolExecutor(2)"``, ``"dask(<address>)"``

    @property
    def L(self) -> int:
        """Number of thinned draws per SBC rank (ranks take values 0..L)."""
        return self.config.L

    @property
    def n_failed(self) -> int:
        """Replications recorded as failed."""
        return sum(r.get("status") != "ok" for r in self.records)

    @property
    def ok_records(self) -> list[dict[str, Any]]:
        """Records of the replications that completed."""
        return [r for r in self.records if r.get("status") == "ok"]


def _progress(total: int, enabled: bool, desc: str) -> Any:
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
    scheduler: Any = None,
    root: str | os.PathLike[str] | None = None,
    progress: bool = True,
    retry_failed: bool = False,
    executor: cf.Executor | None = None,
    replicate_fn: Callable[[Any, int], dict[str, Any]] = replicate,
) -> ValidationRun:
    """Run (or resume) replications of ``config``; return them all, stored and new.

    Replications whose record file already exists are skipped (failed ones too,
    unless ``retry_failed``). Records are stored by this process as results
    arrive, so a run killed half-way keeps everything finished so far.

    Parameters
    ----------
    config
        The run.
    reps
        A count (replications ``0..reps-1``) or explicit indices.
    workers
        Processes of a :class:`~concurrent.futures.ProcessPoolExecutor` (spawn
        context: PyStan runs an asyncio server in each process, which forked
        children must not inherit); ``0`` runs inline in this process.
    scheduler
        A Dask scheduler address (``tcp://host:8786``) or a
        ``dask.distributed.Client``; default
        :func:`seu_sensitivity.settings.dask_scheduler_setting`. When set (and
        no ``executor`` is given), replications run on that cluster.
    root
        Folder of all runs; default :func:`seu_sensitivity.settings.validation_dir`.
    progress
        Show a progress bar (with ETA) on stderr.
    retry_failed
        Recompute replications stored as failed.
    executor
        Run on this executor, as is (it is not shut down).
    replicate_fn
        The function computing one record from ``(config dict, rep)``;
        :func:`replicate` unless a test replaces it.

    Returns
    -------
    ValidationRun
        With the records of all of ``reps`` that are stored, sorted by index.
    """
    indices = list(range(reps)) if isinstance(reps, int) else [int(r) for r in reps]
    folder = results_dir(config, root)
    folder.mkdir(parents=True, exist_ok=True)
    write_run_config(folder, config)
    todo, skipped = pending_replications(folder, indices, retry_failed=retry_failed)

    scheduler = scheduler or dask_scheduler_setting()
    start = time.perf_counter()
    payload = config.to_dict()
    label = "inline"
    bar = _progress(len(todo), progress, config.key())

    def store(rep: int, record: Mapping[str, Any]) -> None:
        write_record(folder, rep, record)
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


