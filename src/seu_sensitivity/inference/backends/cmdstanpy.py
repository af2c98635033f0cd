"""CmdStanPy backend, used when a CmdStan installation is found.

Executables are compiled once per (program source, CmdStan version) into
``~/.cache/seu_sensitivity/cmdstan/<hash>/`` (override with
``SEU_CMDSTAN_BUILD_DIR``) and reused across processes; a file lock guards
concurrent compiles.

CmdStan hands draws over as CSV text; they are written with
:data:`SIG_FIGS` significant digits, which round-trip every double, so the
draws are the sampler's own, as PyStan's (binary) are. With the same
program, data, seed and initial values the two backends give the same draws.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from seu_sensitivity.inference.backends.base import STAN_STATS, Backend, SampleResult, StanDataError, StanProgram
from seu_sensitivity.inference.backends.base import StanProgramError, SamplingRun, sample_result
from seu_sensitivity.inference.backends.quiet import captured_console
from seu_sensitivity.settings import cmdstan_build_dir

__all__ = ["CmdStanPyBackend", "SIG_FIGS", "cmdstan_full_version", "quiet_cmdstanpy"]

#: PyStan-style sampler names -> CmdStanPy's names
_RENAME = {"delta": "adapt_delta", "max_depth": "max_treedepth", "stepsize": "step_size"}
#: significant digits of the CSV draws: 17 round-trip every IEEE double (CmdStan's default, 6, does not)
SIG_FIGS = 17


def cmdstan_full_version(folder: str | Path) -> str | None:
    """CmdStan's version as its makefile states it ("2.35.0"), or None if it does not.

    ``cmdstanpy.cmdstan_version()`` gives only (major, minor); a patch
    release can change the draws, so the fit cache keys on all three parts.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "makefile").write_text("# CmdStan\\nCMDSTAN_VERSION := 2.35.0\\n")
    >>> cmdstan_full_version(folder)
    '2.35.0'
    """
    try:
        text = (Path(folder) / "makefile").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r"^CMDSTAN_VERSION\s*:?=\s*(\S+)", text, flags=re.MULTILINE)
    return match.group(1) if match else None


def _build_root() -> Path:
    return cmdstan_build_dir()


class CmdStanPyBackend(Backend):
    """Sample with CmdStanPy (``CmdStanModel.sample``)."""

    name = "cmdstanpy"
    install_hint = (
        "Install CmdStanPy and CmdStan with: pip install cmdstanpy && python -m cmdstanpy.install_cmdstan "
        "(downloads CmdStan from GitHub), or set CMDSTAN to an existing CmdStan folder."
    )

    @classmethod
    def available(cls) -> bool:
        try:
            import cmdstanpy
        except ImportError:
            return False
        try:
            cmdstanpy.cmdstan_path()
        except Exception:  # ValueError when no installation is found
            return False
        return True

    #: draws come as text with this many significant digits (part of the fit cache key)
    sig_figs = SIG_FIGS

    def versions(self) -> dict[str, str]:
        import cmdstanpy

        cmdstan = cmdstan_full_version(cmdstanpy.cmdstan_path())
        if cmdstan is None:
            version = cmdstanpy.cmdstan_version()
            cmdstan = ".".join(map(str, version)) if version else "unknown"
        return {"cmdstanpy": cmdstanpy.__version__, "cmdstan": cmdstan}

    @staticmethod
    def sampler_arguments(sampler: Mapping[str, Any]) -> dict[str, Any]:
        """Translate sampler settings to CmdStanPy's keyword names (initial values: see :func:`split_inits`)."""
        return {_RENAME.get(key, key): value for key, value in sampler.items()}

    def _model(self, program: StanProgram):
        import cmdstanpy
        from filelock import FileLock

        digest = hashlib.sha256((program.source + repr(self.versions())).encode()).hexdigest()[:16]
        folder = _build_root() / digest
        folder.mkdir(parents=True, exist_ok=True)
        stem = program.name.replace("/", "__")
        stan_file = folder / f"{stem}.stan"
        with FileLock(str(folder / ".lock")):
            if not stan_file.exists():
                stan_file.write_text(program.source, encoding="utf-8")
            try:
                return cmdstanpy.CmdStanModel(stan_file=str(stan_file))
            except ValueError as error:  # stanc's verdict, after CmdStanPy's own first line
                message = str(error).split("Console:\n", 1)[-1].strip().replace(str(stan_file), program.name)
                raise StanProgramError(program.name, message) from None

    def _run(self, program: StanProgram, data: Mapping[str, Any], run: SamplingRun) -> SampleResult:
        chains, warmup, draws, seed, save_warmup_stats = (run.chains, run.warmup, run.draws, run.seed,
                                                          run.save_warmup_stats)
        inits = run.inits
        arguments = {"show_progress": False, **self.sampler_arguments(run.settings)}  # no progress bars in reports
        if warmup == 0:  # nothing to adapt; CmdStanPy refuses warmup 0 with adaptation on, PyStan does not
            arguments.setdefault("adapt_engaged", False)
        if inits.values is not None:
            arguments["inits"] = inits.values
        elif inits.radius is not None:
            arguments["inits"] = inits.radius
        start = time.perf_counter()
        with quiet_cmdstanpy():
            model = self._model(program)
            built = time.perf_counter()
            try:
                fit = model.sample(
                    data=dict(data),
                    chains=chains,
                    iter_warmup=warmup,
                    iter_sampling=draws,
                    seed=int(seed),
                    save_warmup=save_warmup_stats,
                    parallel_chains=min(chains, os.cpu_count() or 1),
                    sig_figs=self.sig_figs,
                    **arguments,
                )
            except RuntimeError as error:
                data_error = _data_error(str(error), program.source)
                if data_error is None:
                    raise
                raise StanDataError(program.name, data_error) from None
            declared = _declared_dimensions(model)
        done = time.perf_counter()
        skip = warmup if save_warmup_stats else 0
        out: dict[str, np.ndarray] = {}
        for name in fit.metadata.stan_vars:
            values = np.asarray(fit.stan_variable(name, inc_warmup=save_warmup_stats))  # (chain*draw, *shape)
            values = values.reshape(chains, -1, *values.shape[1:])
            out[name] = values[:, skip:]
        for name, shape in zero_size_variables(declared, out, chains, draws).items():
            out[name] = np.zeros(shape)
        method = fit.method_variables()  # name -> (draw, chain), warmup included when saved
        columns = {
            name: np.asarray(method[name]).reshape(-1, chains).T  # (draw, chain[, 1]) -> (chain, draw)
            for name in STAN_STATS
            if name in method
        }
        return sample_result(out, columns, skip, build_seconds=built - start, sample_seconds=done - built)


_BLOCK = re.compile(r"^\s*(data|transformed data|parameters|transformed parameters|model|generated quantities)\s*\{",
                    flags=re.MULTILINE)
_LOCATION = re.compile(r"\(in '[^']*', line (\d+),")


@contextlib.contextmanager
def quiet_cmdstanpy() -> Iterator[None]:
    """CmdStanPy's log lines ("compiling stan file", "Chain [1] start processing", ...) and any
    console output kept off the user's page, and attached to the error if the block fails.

    CmdStanPy logs INFO records through a handler on ``sys.stderr``, which in
    a notebook is the cell's output. For the block, its logger writes into
    :func:`~seu_sensitivity.inference.backends.quiet.captured_console`'s buffer instead.
    """
    from cmdstanpy.utils import get_logger

    logger = get_logger()  # configured now, so that CmdStanPy adds no handler of its own inside the block
    saved = logger.handlers[:], logger.propagate
    with captured_console():
        handler = logging.StreamHandler(sys.stderr)  # the capture buffer, inside the block
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.handlers, logger.propagate = [handler], False
        try:
            yield
        finally:
            logger.handlers, logger.propagate = saved


def _data_lines(source: str) -> range:
    """Line numbers (1-based) of a program's ``data`` and ``transformed data`` blocks."""
    starts = [(source.count("\n", 0, match.start()) + 1, match.group(1)) for match in _BLOCK.finditer(source)]
    first = next((line for line, block in starts if block == "data"), None)
    if first is None:
        return range(0)
    after = [line for line, block in starts if line > first and block not in ("data", "transformed data")]
    return range(first, after[0] if after else source.count("\n") + 2)


def _data_error(message: str, source: str) -> str | None:
    """Stan's complaint about the data in CmdStanPy's "Error during sampling" message, else None.

    CmdStanPy's message holds only Stan's ``Exception:`` lines, for data and
    initial values alike; the data are to blame when the exception was
    raised reading them (``stage=data initialization``), by the model's
    constructor (declared bounds of data), or at a line of the ``data`` or
    ``transformed data`` block (a ``reject``). Anything else (a failed
    initialisation, a reject in a function) is left to CmdStanPy's error.

    >>> source = "data {\\n  int N;\\n}\\ntransformed data {\\n  reject(N);\\n}\\nparameters { real mu; }\\n"
    >>> _data_error("Error during sampling:\\nException: 9 (in 'm.stan', line 5, column 2 to column 12)\\n", source)
    "9 (in 'm.stan', line 5, column 2 to column 12)"
    >>> _data_error("Error during sampling:\\nException: mu is nan (in 'm.stan', line 7, column 0)\\n", source) is None
    True
    """
    lines = list(dict.fromkeys(line.split("Exception:", 1)[1].strip()
                               for line in message.splitlines() if "Exception:" in line))
    data_lines = _data_lines(source)

    def about_data(line: str) -> bool:
        if "stage=data initialization" in line or "_model_namespace::" in line:
            return True
        location = _LOCATION.search(line)
        return location is not None and int(location.group(1)) in data_lines

    return "\n".join(lines) if lines and all(about_data(line) for line in lines) else None


def _declared_dimensions(model: Any) -> dict[str, int]:
    """Variable -> number of dimensions, from stanc's ``--info`` (parameters, transformed, generated)."""
    try:
        info = model.src_info()
    except Exception:  # pragma: no cover - stanc without --info: nothing to add
        return {}
    declared: dict[str, int] = {}
    for block in ("parameters", "transformed parameters", "generated quantities"):
        for name, spec in (info.get(block) or {}).items():
            declared[name] = int(spec.get("dimensions", 0))
    return declared


def zero_size_variables(declared: Mapping[str, int], present: Mapping[str, Any], chains: int,
                        draws: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the declared variables that CmdStan's CSV has no column for.

    A variable of size zero (``gamma`` when P = 0) writes no column, so
    CmdStanPy does not know it; it is returned as an empty array with every
    dimension 0, as PyStan's backend does.

    >>> zero_size_variables({"alpha": 0, "gamma": 1}, {"alpha": None}, chains=2, draws=3)
    {'gamma': (2, 3, 0)}
    """
    return {name: (chains, draws) + (0,) * ndim
            for name, ndim in declared.items() if name not in present and ndim > 0}
