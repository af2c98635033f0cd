"""The registry of Stan programs: where each lives, its text, and how it meets the data.

For each packaged program the registry says which file under ``stan/`` it
runs, how data objects become Stan data, which options it takes, and how
draws become named, labelled variables. :func:`seu_sensitivity.fit` reads it;
programs not in the registry are fitted generically (plain dict data, the
caller's dims and coords).

Programs share functions through Stan's ``#include`` directive
(``stan/functions/seu_choice.stanfunctions``). :func:`stan_code` expands the
includes here, in the package, so the fit cache hashes the whole text and
both backends compile the same self-contained program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from seu_sensitivity.model.choice import stacked_expected_utilities, utility_logits
from seu_sensitivity.model.priors import HM01Priors, M01Priors
from seu_sensitivity.model.stacking import CellData, StackedData
from seu_sensitivity.settings import stan_dir

__all__ = [
    "REGISTRY",
    "Layout",
    "ProgramSpec",
    "StanIncludeError",
    "BLOCK_NAMES",
    "expand_includes",
    "stan_file",
    "stan_code",
    "stan_blocks",
    "switched_lines",
    "model_spec",
    "belief_scaling",
    "choices_per_belief_coordinate",
    "x_new_frame",
    "SCALED_BELIEFS_MIN_CHOICES",
]

#: the blocks of a Stan program, in the only order Stan accepts
BLOCK_NAMES: tuple[str, ...] = (
    "functions", "data", "transformed data", "parameters", "transformed parameters", "model", "generated quantities",
)

# ``#include path``, ``#include "path"`` or ``#include <path>`` alone on its line, as stanc reads it
_INCLUDE = re.compile(r'^[ \t]*#include[ \t]+(?:"([^"]+)"|<([^>]+)>|(\S+))[ \t]*$')


class StanIncludeError(ValueError):
    """An ``#include`` that cannot be expanded: a missing file (named with the including
    file and line) or a cycle of includes (the chain is named)."""


def expand_includes(path: str | Path, include_dirs: Sequence[str | Path] | None = None) -> str:
    r"""The text of the Stan file ``path`` with every ``#include`` replaced by the included text.

    An included path is looked up relative to the including file's folder,
    then in each of ``include_dirs`` (default: ``stan/``), as stanc's
    ``--include-paths``. Included files may include others.

    Raises :class:`StanIncludeError` naming the including file, its line and
    the missing path, or the chain of files when includes form a cycle.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "f.stanfunctions").write_text("real two() { return 2; }\n")
    >>> _ = (folder / "m.stan").write_text("functions {\n#include f.stanfunctions\n}\n")
    >>> print(expand_includes(folder / "m.stan"))
    functions {
    real two() { return 2; }
    }
    <BLANKLINE>
    """
    dirs = [Path(d) for d in (include_dirs if include_dirs is not None else [stan_dir()])]
    return _expand(Path(path), dirs, ())


def _expand(path: Path, dirs: list[Path], chain: tuple[Path, ...]) -> str:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(resolved):], resolved))
        raise StanIncludeError(f"#include cycle: {cycle}")
    out: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(keepends=True), start=1):
        match = _INCLUDE.match(line.rstrip("\r\n"))
        if match is None:
            out.append(line)
            continue
        name = next(g for g in match.groups() if g)
        candidates = [path.parent / name, *(d / name for d in dirs)]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            looked = ", ".join(dict.fromkeys(str(c.parent) for c in candidates))
            raise StanIncludeError(f"{path}, line {number}: #include {name!r}: no such file (looked in {looked})")
        text = _expand(found, dirs, (*chain, resolved))
        out.append(text if text.endswith("\n") else text + "\n")
    return "".join(out)


def stan_file(model: str) -> Path:
    """Path of the Stan program that ``model`` runs (``"m_01"``, ``"h_m01"``, ``"primer/eight_schools_nc"``, ...).

    Registry names map to their file (``"h_m01_centered"`` runs ``h_m01.stan``
    with the ``centred`` switch on). Raises FileNotFoundError listing the
    programs that do exist.

    >>> stan_file("h_m01_centered").name
    'h_m01.stan'
    """
    spec = REGISTRY.get(model)
    path = stan_dir() / f"{spec.file if spec is not None else model}.stan"
    if not path.is_file():
        known = sorted(p.stem for p in stan_dir().glob("*.stan"))
        raise FileNotFoundError(f"no Stan program {model!r} in {stan_dir()}; known: {', '.join(known) or 'none'}")
    return path


def stan_code(model: str) -> str:
    """The self-contained text of the Stan program ``model`` runs: its file with every
    ``#include`` expanded (:func:`expand_includes`). This is what both backends compile
    and what the fit cache hashes.

    >>> code = stan_code("h_m01")
    >>> any(line.startswith("#include") for line in code.splitlines()), "matrix utility_rotation(" in code
    (False, True)
    """
    return expand_includes(stan_file(model))


def stan_blocks(model_or_code: str) -> dict[str, str]:
    r"""The top-level blocks of a packaged program (a registry name or program text), by name.

    Each value runs from the block's header line to its closing brace. The
    packaged programs write every block header at the start of a line
    (``data {``) and its closing brace alone on a line (``}``); the blocks are
    found by that layout, which ``tests/test_stan_includes.py`` checks for every
    program under ``stan/``. A text without that layout raises ValueError.

    >>> list(stan_blocks("m_01"))
    ['functions', 'data', 'transformed data', 'parameters', 'transformed parameters', 'model', 'generated quantities']
    >>> stan_blocks("parameters {\n  real mu;\n}\nmodel {\n}\n")["parameters"]
    'parameters {\n  real mu;\n}'
    """
    code = model_or_code if "\n" in model_or_code else stan_code(model_or_code)
    lines = code.splitlines()
    headers = [(i, line[:-2]) for i, line in enumerate(lines) if line.endswith(" {") and line[:-2] in BLOCK_NAMES]
    blocks: dict[str, str] = {}
    for number, (i, name) in enumerate(headers):
        stop = headers[number + 1][0] if number + 1 < len(headers) else len(lines)
        closing = [k for k in range(i + 1, stop) if lines[k] == "}"]
        if not closing:
            raise ValueError(f"block {name!r} (line {i + 1}) has no closing brace alone on a line")
        blocks[name] = "\n".join(lines[i : closing[-1] + 1])
    order = [BLOCK_NAMES.index(name) for name in blocks]
    if not blocks or order != sorted(order):
        raise ValueError(f"expected Stan blocks, headers at the start of a line, in Stan's order; found {list(blocks)}")
    return blocks


def functions_from(model_or_code: str, function: str) -> str:
    r"""The functions block of a program from the definition of ``function`` on, with the comment lines above it.

    What a listing shows when only the last functions of the block matter
    (``functions {`` and an ellipsis stand for the ones before). Raises
    ValueError naming the function when the block does not define it.

    >>> code = "functions {\n  real f() { return 1; }\n  // g doubles\n  real g(real x) { return 2 * x; }\n}\n"
    >>> print(functions_from(code, "g"))
    functions {
      ...
      // g doubles
      real g(real x) { return 2 * x; }
    }
    """
    block = stan_blocks(model_or_code).get("functions", "")
    found = re.search(rf"\n((?:[ \t]*//[^\n]*\n)*[ \t]*[\w\[\], ]+ {re.escape(function)}\()", block)
    if found is None:
        raise ValueError(f"function {function!r}: not defined in the functions block")
    return "functions {\n  ...\n" + block[found.start(1):]


def switched_lines(model_or_code: str, switch: str) -> dict[str, list[str]]:
    """What changes when the data switch ``switch`` flips: by block, each statement that
    tests ``switch == 1`` together with the lines it guards. Blocks that never test it are
    left out.

    A guarded statement runs from the line that tests the switch to the end of
    its ``if``/``else``: every following line indented deeper, or at the same
    depth starting with ``}`` or ``else``. Lines are returned without the
    block's indentation.

    >>> switched_lines("h_m01", "centred")["model"]
    ['if (centred == 1)', '  z_or_log_alpha ~ normal(gamma0 + X * gamma, sigma_cell);', 'else', '  z_or_log_alpha ~ std_normal();']
    """
    test = re.compile(rf"\b{re.escape(switch)}\s*==\s*1\b")
    out: dict[str, list[str]] = {}
    for name, text in stan_blocks(model_or_code).items():
        lines = text.splitlines()[1:-1]
        kept: list[str] = []
        k = 0
        while k < len(lines):
            line = lines[k]
            k += 1
            if not test.search(line.split("//")[0]):
                continue
            depth = len(line) - len(line.lstrip())
            kept.append(line[depth:])
            while k < len(lines):
                nxt = lines[k]
                nxt_depth = len(nxt) - len(nxt.lstrip())
                inside = nxt.strip() and (nxt_depth > depth or nxt.lstrip().startswith(("}", "else")) and nxt_depth == depth)
                if not inside:
                    break
                kept.append(nxt[depth:])
                k += 1
        if kept:
            out[name] = kept
    return out


#: ``belief_scale="auto"`` samples a cell's beliefs in units of 1 + alpha |c|
#: when it has at least this many choices per belief coordinate, (K - 1) D.
#: Measured (docs/decisions.md, benchmarks/results/belief_scale.json): the simulated cells of
#: the formulation and implementation chapters (15 and 50 choices per
#: coordinate) mix far better scaled; the pilot's cells (3 to 4.7) far worse.
SCALED_BELIEFS_MIN_CHOICES = 10.0


def choices_per_belief_coordinate(data: CellData | StackedData) -> np.ndarray:
    """Each cell's choices divided by its (K - 1) D belief coordinates that the likelihood sees.

    >>> from seu_sensitivity import simulate_cell
    >>> cell, _ = simulate_cell(M=100, R=8, D=1, K=3, seed=1)
    >>> choices_per_belief_coordinate(cell).tolist()   # 100 / (2 * 1)
    [50.0]
    """
    if isinstance(data, StackedData):
        n_choices = np.bincount(np.asarray(data.cell_of) - 1, minlength=data.J)
        return n_choices / ((np.asarray(data.K) - 1) * data.D)
    return np.array([data.M / ((data.K - 1) * data.D)])


def belief_scaling(data: CellData | StackedData, belief_scale: Any = "auto") -> np.ndarray:
    """Which cells the Stan programs sample with beliefs scaled by 1 + alpha |c| (1) or as they are (0).

    Either choice gives the same model (same prior, same posterior); it only
    changes the geometry the sampler sees. Scaling straightens the curved
    ridge between alpha and the beliefs that appears when the choices pin
    alpha times the beliefs down; where most belief coordinates are set by
    the prior (few choices per coordinate, as with 32-dimensional
    embeddings) it turns them into a funnel instead. See the header of
    ``stan/functions/seu_choice.stanfunctions``.

    belief_scale : ``"auto"`` (scale a cell when it has at least
        :data:`SCALED_BELIEFS_MIN_CHOICES` :func:`choices_per_belief_coordinate`),
        ``True`` / ``False`` for every cell, or a mapping ``{cell id: bool}``
        naming every cell.

    Returns an int array with one entry per cell (one for a ``CellData``).

    >>> from seu_sensitivity import simulate_cell
    >>> cell, _ = simulate_cell(M=100, R=8, D=1, K=3, seed=1)
    >>> belief_scaling(cell).tolist(), belief_scaling(cell, False).tolist()   # 50 choices per coordinate
    ([1], [0])
    """
    cell_ids = list(data.cell_ids) if isinstance(data, StackedData) else ["cell"]
    if isinstance(belief_scale, str) and belief_scale == "auto":
        return (choices_per_belief_coordinate(data) >= SCALED_BELIEFS_MIN_CHOICES).astype(int)
    if isinstance(belief_scale, (bool, np.bool_)):
        return np.full(len(cell_ids), int(belief_scale))
    if not isinstance(belief_scale, Mapping):
        raise ValueError(f"belief_scale: expected 'auto', True, False or {{cell id: bool}}, got {belief_scale!r}")
    unknown = [c for c in belief_scale if c not in cell_ids]
    missing = [c for c in cell_ids if c not in belief_scale]
    if unknown or missing:
        raise ValueError(f"belief_scale: the mapping must name every cell once; unknown {unknown}, missing {missing}")
    wrong = [c for c in cell_ids if not isinstance(belief_scale[c], (bool, np.bool_))]
    if wrong:
        raise ValueError(f"belief_scale: cell {wrong[0]!r} has {belief_scale[wrong[0]]!r}; expected True or False")
    return np.array([int(belief_scale[c]) for c in cell_ids])


@dataclass(frozen=True)
class Layout:
    """Where each variable of a fit goes in the InferenceData, and its labels.

    posterior : Stan variable names kept in the posterior (after ``postprocess``)
    dims : variable -> dimension names (posterior, log-likelihood and
        predictive variables alike); coords : dimension -> labels
    log_likelihood : Stan variable -> name in the log_likelihood group
    posterior_predictive : Stan variable -> name in posterior_predictive
    observed_data, constant_data : name -> array
    """

    posterior: tuple[str, ...] | None
    dims: dict[str, list[str]]
    coords: dict[str, list[Any]]
    log_likelihood: dict[str, str]
    posterior_predictive: dict[str, str]
    observed_data: dict[str, np.ndarray]
    constant_data: dict[str, np.ndarray]


@dataclass(frozen=True)
class ProgramSpec:
    """One packaged model: its data type, priors class and the conversions around Stan.

    stan_data(data, priors, options) -> the Stan data dict
    layout(data, options) -> :class:`Layout`
    postprocess(draws, data) -> draws with the exposed variables (e.g. ragged
        flat vectors reshaped to NaN-padded arrays); draws are (chain, draw, ...)
    options : extra keyword arguments of fit() this model accepts
    program : the file it runs, a path under ``stan/`` without ``.stan``
        (default: ``name``); several entries may run one program with
        different data switches
    """

    name: str
    data_type: type
    priors_type: type
    stan_data: Callable[[Any, Any, Mapping[str, Any]], dict[str, Any]]
    layout: Callable[[Any, Mapping[str, Any]], Layout]
    postprocess: Callable[[dict[str, np.ndarray], Any], dict[str, np.ndarray]]
    options: tuple[str, ...] = ()
    program: str | None = None

    @property
    def file(self) -> str:
        """The program this entry runs (path under ``stan/`` without ``.stan``)."""
        return self.program or self.name


# -- m_01 ---------------------------------------------------------------------


def _m01_stan_data(data: CellData, priors: M01Priors, options: Mapping[str, Any]) -> dict[str, Any]:
    scaled = belief_scaling(data, options.get("belief_scale", "auto"))
    return {**data.to_stan(), **priors.to_stan(), "scale_beliefs": int(scaled[0])}


def _m01_layout(data: CellData, options: Mapping[str, Any]) -> Layout:
    return Layout(
        posterior=("alpha", "beta", "delta", "eta", "eta_logit"),
        dims={
            "beta": ["consequence", "feature"],
            "delta": ["increment"],
            "eta": ["alternative"],
            "eta_logit": ["alternative"],
            "y": ["obs"],
        },
        coords={
            "consequence": list(range(1, data.K + 1)),
            "feature": list(range(1, data.D + 1)),
            "increment": list(range(1, data.K)),
            "alternative": list(range(1, data.R + 1)),
            "obs": list(range(data.M)),
        },
        log_likelihood={"log_lik": "y"},
        posterior_predictive={"y_rep": "y"},
        observed_data={"y": np.asarray(data.y)},
        constant_data={
            "menu_size": np.asarray(data.menu_sizes),
            "scale_beliefs": np.asarray(belief_scaling(data, options.get("belief_scale", "auto"))[0]),
        },
    )


def _m01_postprocess(draws: dict[str, np.ndarray], data: CellData) -> dict[str, np.ndarray]:
    """eta_logit (R): the expected utilities on the choices' log-odds scale, what the choices identify."""
    return {**draws, "eta_logit": utility_logits(draws["alpha"], draws["eta"])}


# -- h_m01 --------------------------------------------------------------------


def x_new_frame(X_new: Any, predictors: Sequence[str]) -> pd.DataFrame:
    """Rows of predictor values for the population-predictive ``alpha_new``.

    ``X_new`` may be None (one row of zeros, labelled ``"reference"``: a new
    cell at the reference levels), a DataFrame with the design's predictor
    columns (its index labels the rows), a Series or mapping (one row), or an
    array of shape (N, P).

    >>> x_new_frame({"b": 1.0, "a": 0.0}, ["a", "b"]).to_numpy().tolist()
    [[0.0, 1.0]]
    """
    predictors = list(predictors)
    if X_new is None:
        return pd.DataFrame([[0.0] * len(predictors)], columns=predictors, index=["reference"], dtype=float)
    if isinstance(X_new, pd.Series):
        X_new = X_new.to_frame().T if X_new.name is not None else pd.DataFrame([X_new])
    elif isinstance(X_new, Mapping):
        X_new = pd.DataFrame([dict(X_new)], index=["new"])
    if isinstance(X_new, pd.DataFrame):
        unknown = [c for c in X_new.columns if c not in predictors]
        missing = [c for c in predictors if c not in X_new.columns]
        if unknown or missing:
            raise ValueError(
                f"X_new: columns must be the predictors {predictors}; unknown {unknown}, missing {missing}"
            )
        frame = X_new[predictors].astype(float)
        frame.index = [str(i) for i in frame.index]
    else:
        array = np.asarray(X_new, dtype=float)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != len(predictors):
            raise ValueError(f"X_new: expected shape (N, {len(predictors)}) for predictors {predictors}, got {array.shape}")
        frame = pd.DataFrame(array, columns=predictors, index=[f"new{i}" for i in range(array.shape[0])])
    if not np.all(np.isfinite(frame.to_numpy())):
        raise ValueError("X_new: predictor values must be finite")
    if frame.index.duplicated().any():
        raise ValueError(f"X_new: duplicate row labels {list(frame.index[frame.index.duplicated()])}")
    return frame


def _hm01_stan_data(data: StackedData, priors: HM01Priors, options: Mapping[str, Any]) -> dict[str, Any]:
    X_new = x_new_frame(options.get("X_new"), list(data.X.columns))
    fixed = options.get("fixed")
    out = {**data.to_stan(), **priors.to_stan()}
    out["N_new"] = X_new.shape[0]
    out["X_new"] = X_new.to_numpy(dtype=float).reshape(X_new.shape[0], data.P).tolist()
    fixed = dict(fixed or {})
    unknown = set(fixed) - {"gamma0", "sigma_cell"}
    if unknown:
        raise ValueError(f"fixed: only 'gamma0' and 'sigma_cell' can be fixed, got {sorted(unknown)}")
    if "sigma_cell" in fixed:
        sigma_cell = float(fixed["sigma_cell"])
        if not sigma_cell >= 0 or not np.isfinite(sigma_cell):
            raise ValueError(f"fixed: sigma_cell must be a finite number >= 0, got {fixed['sigma_cell']}")
    if "gamma0" in fixed and not np.isfinite(float(fixed["gamma0"])):
        raise ValueError(f"fixed: gamma0 must be finite, got {fixed['gamma0']}")
    out.update(
        fix_gamma0=int("gamma0" in fixed),
        gamma0_fixed=float(fixed.get("gamma0", 0.0)),
        fix_sigma_cell=int("sigma_cell" in fixed),
        sigma_cell_fixed=float(fixed.get("sigma_cell", 0.0)),
        scale_beliefs=belief_scaling(data, options.get("belief_scale", "auto")).tolist(),
        centred=0,
    )
    return out


def _hm01_centered_stan_data(data: StackedData, priors: HM01Priors, options: Mapping[str, Any]) -> dict[str, Any]:
    out = {**_hm01_stan_data(data, priors, options), "centred": 1}
    if out["fix_sigma_cell"] and out["sigma_cell_fixed"] == 0:
        raise ValueError("fixed: the centred h_m01 divides by sigma_cell; fix it at a positive value")
    return out


def _hm01_layout(data: StackedData, options: Mapping[str, Any]) -> Layout:
    X_new = x_new_frame(options.get("X_new"), list(data.X.columns))
    K_max = int(data.K.max())
    return Layout(
        posterior=("gamma0", "gamma", "sigma_cell", "z", "log_alpha", "alpha", "beta", "delta", "eta", "eta_logit",
                   "alpha_new"),
        dims={
            "gamma": ["predictor"],
            "z": ["cell"],
            "log_alpha": ["cell"],
            "alpha": ["cell"],
            "eta": ["cell", "alternative"],
            "eta_logit": ["cell", "alternative"],
            "beta": ["cell", "consequence", "feature"],
            "delta": ["group", "increment"],
            "alpha_new": ["new_cell"],
            "y": ["obs"],
            "cell_index": ["obs"],
            "X": ["cell", "predictor"],
            "scale_beliefs": ["cell"],
        },
        coords={
            "cell": list(data.cell_ids),
            "predictor": [str(c) for c in data.X.columns],
            "group": list(data.group_names),
            "consequence": list(range(1, K_max + 1)),
            "increment": list(range(1, K_max)),
            "feature": list(range(1, data.D + 1)),
            "alternative": list(range(1, data.R + 1)),
            "new_cell": list(X_new.index),
            "obs": list(range(data.M)),
        },
        log_likelihood={"log_lik": "y"},
        posterior_predictive={"y_rep": "y"},
        observed_data={"y": np.asarray(data.y)},
        constant_data={
            "cell_index": np.asarray(data.cell_of),
            "X": data.X.to_numpy(dtype=float),
            "scale_beliefs": belief_scaling(data, options.get("belief_scale", "auto")),
        },
    )


def _hm01_postprocess(draws: dict[str, np.ndarray], data: StackedData) -> dict[str, np.ndarray]:
    """beta_flat, delta_flat (ragged, flat) -> beta (J, K_max, D), delta (G, K_max - 1), NaN-padded;
    eta (J, R) computed from them, and eta_logit (J, R), alpha_j (eta_jr - mean_r eta_jr)."""
    out = dict(draws)
    beta_flat = out.pop("beta_flat")
    delta_flat = out.pop("delta_flat")
    lead = beta_flat.shape[:-1]
    K_max, D = int(data.K.max()), data.D
    beta = np.full(lead + (data.J, K_max, D), np.nan)
    start = 0
    for j, K_j in enumerate(data.K):
        block = beta_flat[..., start : start + K_j * D]
        beta[..., j, :K_j, :] = block.reshape(lead + (D, K_j)).swapaxes(-1, -2)  # Stan's to_matrix is column-major
        start += K_j * D
    delta = np.full(lead + (data.G, K_max - 1), np.nan)
    start = 0
    for g, K_g in enumerate(data.K_group):
        delta[..., g, : K_g - 1] = delta_flat[..., start : start + K_g - 1]
        start += K_g - 1
    out["beta"], out["delta"] = beta, delta
    out["eta"] = stacked_expected_utilities(data, beta, delta)
    # the choices see alpha_j times eta's differences, not eta's level: the book reports these
    out["eta_logit"] = utility_logits(out["alpha"], out["eta"])
    return out


#: model name -> its spec. Each runs the program ``spec.file`` (a path under stan/
#: without ".stan"); "h_m01_centered" is h_m01.stan with the data switch centred = 1.
REGISTRY: dict[str, ProgramSpec] = {
    "m_01": ProgramSpec("m_01", CellData, M01Priors, _m01_stan_data, _m01_layout, _m01_postprocess, ("belief_scale",)),
    "h_m01": ProgramSpec(
        "h_m01", StackedData, HM01Priors, _hm01_stan_data, _hm01_layout, _hm01_postprocess,
        ("X_new", "fixed", "belief_scale"),
    ),
    "h_m01_centered": ProgramSpec(
        "h_m01_centered", StackedData, HM01Priors, _hm01_centered_stan_data, _hm01_layout, _hm01_postprocess,
        ("X_new", "fixed", "belief_scale"), program="h_m01",
    ),
}


def model_spec(model: str) -> ProgramSpec | None:
    """The registry entry of ``model``, or None for a generic Stan program."""
    return REGISTRY.get(model)
