"""The Stan programs against their mathematics: reduction, NumPy twin, recovery.

Compiles m_01 and h_m01 (httpstan caches the builds across runs). Data are
small simulations with known truth; fits are short (2 chains) and uncached.
"""

from __future__ import annotations

import numpy as np
import pytest

from seu_sensitivity import factorial_design, simulate_cell, simulate_hierarchical, stack_cells
from seu_sensitivity.inference.backends import BackendUnavailable, get_backend
from seu_sensitivity.inference.backends.base import StanDataError
from seu_sensitivity.inference.backends.pystan import PyStanBackend, build_model
from seu_sensitivity.model.choice import cell_log_likelihood, stacked_log_likelihood
from seu_sensitivity.inference.fitting import fit, prepare
from seu_sensitivity.model.priors import HM01Priors, M01Priors

pytestmark = pytest.mark.slow


def _no_backend() -> str | None:
    try:
        get_backend()
    except BackendUnavailable as error:
        return str(error)
    return None


#: tests that evaluate log densities and gradients through PyStan's model object (CmdStan has no such call)
needs_pystan = pytest.mark.skipif(not PyStanBackend.available(), reason="PyStan is not importable (pip install pystan): "
                                  "this test evaluates log densities through stan.build's model object")
#: tests that sample through fit(), with the backend it picks by default
needs_a_backend = pytest.mark.skipif(_no_backend() is not None, reason=f"fit() has no Stan backend: {_no_backend()}")

G0, S0 = 2.5, 0.6  # the fixed gamma0 and sigma_cell of the reduction
FAST = dict(chains=2, warmup=400, draws=600, cache=False)


@pytest.fixture(scope="module")
def cell():
    data, _ = simulate_cell(M=60, R=8, D=2, K=3, alpha=12.0, seed=11, cell_id="only")
    return data


@pytest.fixture(scope="module")
def m01_fit(cell):
    # a longer warm-up than FAST: after 400 iterations one chain of this weakly informed
    # 60-choice cell was still stuck away from the other (R-hat 1.6); after 1000 they agree
    return fit("m_01", cell, priors=M01Priors(alpha_mu=G0, alpha_sd=S0), seed=5, **dict(FAST, warmup=1000))


@pytest.fixture(scope="module")
def hm01_reduced_fit(cell):
    return fit("h_m01", stack_cells([cell]), fixed={"gamma0": G0, "sigma_cell": S0}, seed=6, **FAST)


@needs_pystan
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "unscaled"])
def test_reduction_log_density_equals_m01_up_to_a_constant(cell, scaled):
    """J = 1, P = 0, gamma0 and sigma_cell fixed: h_m01's log density is m_01's up to a constant.

    Unconstrained coordinates: m_01 has (log alpha, beta_free column-major, delta
    stick-breaking); h_m01 with fix_hyper = 1 has (z, beta_free, delta_free)
    with the same order (beta_free -> beta_rot -> beta the same map in both) and the same stick-breaking transform, and
    z = (log alpha - gamma0) / sigma_cell, a linear map with constant
    Jacobian. So the difference of the two log densities must not depend on
    the point. A wrong beta layout, simplex transform or prior would make it vary,
    with the beliefs scaled or not.
    """
    _, m_data, _, _ = prepare("m_01", cell, priors=M01Priors(alpha_mu=G0, alpha_sd=S0), belief_scale=scaled)
    _, h_data, _, _ = prepare("h_m01", stack_cells([cell]), fixed={"gamma0": G0, "sigma_cell": S0},
                              belief_scale=scaled)
    m_program, _, _, _ = prepare("m_01", cell)
    h_program, _, _, _ = prepare("h_m01", stack_cells([cell]))
    m_model = build_model(m_program.source, m_data)
    h_model = build_model(h_program.source, h_data)
    rng = np.random.default_rng(3)
    n_beta, n_delta = cell.K * cell.D, cell.K - 2
    differences, scale = [], 1.0
    points = [(rng.normal(G0, 1.0), rng.normal(0.0, 1.5, size=n_beta + n_delta)) for _ in range(6)]
    # far out, where both programs leave their shifted exponentials for the exact
    # sums: a huge alpha (whole menus underflow) and huge beliefs (softmax rows underflow)
    points.append((12.0, rng.normal(0.0, 1.5, size=n_beta + n_delta)))
    # (beta_free's first K - 1 rows are beta_rot times 1 + alpha |c|, hence the larger factor)
    points.append((G0, np.concatenate([3e5 * rng.normal(size=n_beta), rng.normal(size=n_delta)])))
    for log_alpha, rest in points:
        m_point = [log_alpha, *rest]
        h_point = [(log_alpha - G0) / S0, *rest]
        m_value = m_model.log_prob(m_point)
        differences.append(h_model.log_prob(h_point) - m_value)
        scale = max(scale, abs(m_value))
        # same gradient, up to the chain rule of z = (log alpha - gamma0) / sigma_cell
        m_grad, h_grad = np.array(m_model.grad_log_prob(m_point)), np.array(h_model.grad_log_prob(h_point))
        np.testing.assert_allclose([h_grad[0], *h_grad[1:]], [m_grad[0] * S0, *m_grad[1:]], rtol=1e-7, atol=1e-8)
    differences = np.array(differences)
    assert np.all(np.isfinite(differences))
    assert np.ptp(differences) < 1e-8 + 1e-13 * scale, differences  # rounding grows with the log density


@needs_pystan
def test_sufficient_statistics_equal_one_categorical_per_observation(ragged):
    """h_m01's model block (choice counts + one log-sum-exp per distinct menu) has
    exactly the log density of one categorical_logit per observation
    (stan/bench/h_m01_per_obs.stan), on data whose cells repeat their menus and
    differ in K. A miscounted choice or menu would change the density."""
    from seu_sensitivity import CellData
    from seu_sensitivity.inference.programs import expand_includes
    from seu_sensitivity.settings import stan_dir

    data, _ = ragged
    doubled = []  # every cell sees each of its menus at least twice, answered differently
    for j in range(data.J):
        c = data.cell(j)
        y_again = np.where(c.y > 1, c.y - 1, c.menu_sizes)
        doubled.append(CellData(w=c.w, I=np.vstack([c.I, c.I]), y=np.concatenate([c.y, y_again]),
                                K=c.K, cell_id=c.cell_id))
    stacked = stack_cells(doubled, design=data.X, utility_group=dict(zip(data.cell_ids, data.group)))
    h_program, h_data, _, _ = prepare("h_m01", stacked)
    per_obs = build_model(expand_includes(stan_dir() / "bench" / "h_m01_per_obs.stan"), h_data)
    h_model = build_model(h_program.source, h_data)
    n_par = len(h_model.unconstrain_pars(
        {"gamma0_free": [3.0], "sigma_cell_free": [0.5], "gamma": [0.0] * data.P, "z_or_log_alpha": [0.0] * data.J,
         "beta_free": [0.0] * int(sum(data.K) * data.D),
         "delta_free": [0.0] * int(sum(k - 2 for k in data.K_group))}))
    rng = np.random.default_rng(8)
    n_beta = int(sum(data.K) * data.D)
    beta_at = slice(2 + data.P + data.J, 2 + data.P + data.J + n_beta)
    points = [rng.normal(0.0, 1.0, size=n_par) for _ in range(5)]
    # far out, where h_m01's shifted exponentials underflow and it falls back to
    # the exact row-by-row and menu-by-menu sums: log alpha near 12 with beliefs
    # as spread as usual (beta_free holds beta_rot times 1 + alpha |c|, hence its
    # factor; a whole menu far below its cell's best alternative) and beliefs
    # scaled by 3000 (softmax rows far below the cell's largest logit)
    huge_alpha = rng.normal(0.0, 1.0, size=n_par)
    huge_alpha[0] = 12.0
    huge_alpha[beta_at] *= np.exp(12.0)
    huge_beta = rng.normal(0.0, 1.0, size=n_par)
    huge_beta[beta_at] *= 3000.0
    for point in [*points, huge_alpha, huge_beta]:
        point = list(point)
        expected = per_obs.log_prob(point)
        assert np.isfinite(expected)
        assert h_model.log_prob(point) == pytest.approx(expected, abs=1e-8, rel=1e-12)
        # the gradients too: nothing left over from an abandoned fast path may leak into them
        np.testing.assert_allclose(h_model.grad_log_prob(point), per_obs.grad_log_prob(point), rtol=1e-7, atol=1e-8)


def _quantile_mcse(samples: np.ndarray, prob: float) -> float:
    import arviz as az

    return float(az.mcse(samples, method="quantile", prob=prob))


@needs_a_backend
def test_reduction_posterior_quantiles_of_alpha_agree(m01_fit, hm01_reduced_fit):
    """Same data, same prior on alpha: the 10/50/90% posterior quantiles of alpha agree.

    Tolerance: 4 x the combined Monte Carlo standard error of the two quantile
    estimates (az.mcse, quantile method), so a correct pair fails with
    probability about 1e-4 per quantile; a model that differs (another prior,
    a bug in the likelihood) shifts the quantiles by far more for these data.
    """
    from seu_sensitivity.inference.diagnostics import diagnose

    for name, idata in (("m_01", m01_fit), ("h_m01 reduced", hm01_reduced_fit)):
        rhat = diagnose(idata).loc["max R-hat", "value"]
        assert rhat < 1.05, f"{name}: chains disagree (max R-hat {rhat:.3f}); quantiles of unconverged fits say nothing"
    a = m01_fit.posterior["alpha"].values
    b = hm01_reduced_fit.posterior["alpha"].sel(cell="only").values
    for prob in (0.1, 0.5, 0.9):
        qa, qb = np.quantile(a, prob), np.quantile(b, prob)
        tolerance = 4 * np.hypot(_quantile_mcse(a, prob), _quantile_mcse(b, prob))
        assert abs(qa - qb) < tolerance, (prob, qa, qb, tolerance)


def _draws(idata, name: str, n: int = 40) -> np.ndarray:
    values = idata.posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
    return values[:n]


@needs_a_backend
def test_m01_log_lik_equals_numpy_twin(cell, m01_fit):
    alpha, beta, delta = (_draws(m01_fit, name) for name in ("alpha", "beta", "delta"))
    expected = cell_log_likelihood(cell, alpha, beta, delta)
    stan_ll = m01_fit.log_likelihood["y"].stack(sample=("chain", "draw")).transpose("sample", ...).values[:40]
    np.testing.assert_allclose(stan_ll, expected, rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module")
def ragged():
    """Pilot-like design: features per cell, delta shared within a task, K = 3 and K = 4 in one model."""
    design = factorial_design({"llm": ["a", "b"], "task": ["ins", "ells"]})
    return simulate_hierarchical(
        design, n_obs=30, R=6, D=2, K={"ins": 3, "ells": 4}, utility_group="task", shared_features=False, seed=4
    )


@pytest.fixture(scope="module")
def ragged_fit(ragged):
    data, _ = ragged
    X_new = data.X.iloc[[0, 3]]
    return fit("h_m01", data, X_new=X_new, chains=2, warmup=150, draws=100, seed=2, cache=False)


@needs_a_backend
def test_h_m01_log_lik_equals_numpy_twin_with_ragged_K(ragged, ragged_fit):
    """Stan's log_lik = choice.stacked_log_likelihood on the same draws (also checks the
    reshaping of the ragged beta_flat / delta_flat into padded arrays)."""
    data, _ = ragged
    alpha = _draws(ragged_fit, "alpha")
    beta = _draws(ragged_fit, "beta")  # (n, J, K_max, D), NaN-padded
    delta = _draws(ragged_fit, "delta")  # (n, G, K_max - 1)
    betas = [beta[:, j, : data.K[j], :] for j in range(data.J)]
    deltas = [delta[:, g, : data.K_group[g] - 1] for g in range(data.G)]
    expected = stacked_log_likelihood(data, alpha, betas, deltas)
    stan_ll = ragged_fit.log_likelihood["y"].stack(sample=("chain", "draw")).transpose("sample", ...).values[:40]
    np.testing.assert_allclose(stan_ll, expected, rtol=1e-6, atol=1e-8)
    # padding sits exactly where K is smaller
    assert np.isnan(beta[:, data.K == 3, 3, :]).all() and not np.isnan(beta[:, data.K == 4]).any()


@needs_a_backend
def test_h_m01_fits_a_group_with_two_consequences():
    """K = 2 leaves delta no free coordinate (its simplex is the point 1): a group with K = 2
    beside one with K = 3 samples, and its log_lik still equals the NumPy twin."""
    design = factorial_design({"llm": ["a", "b"], "task": ["binary", "three"]})
    data, _ = simulate_hierarchical(design, n_obs=30, R=6, D=2, K={"binary": 2, "three": 3},
                                    utility_group="task", shared_features=False, seed=7)
    fitted = fit("h_m01", data, chains=2, warmup=150, draws=100, seed=3, cache=False)
    delta = _draws(fitted, "delta")  # (n, G, K_max - 1), NaN-padded
    binary = int(np.flatnonzero(np.asarray(data.K_group) == 2)[0])
    np.testing.assert_array_equal(delta[:, binary, 0], 1.0)
    assert np.isnan(delta[:, binary, 1]).all()
    alpha, beta = _draws(fitted, "alpha"), _draws(fitted, "beta")
    expected = stacked_log_likelihood(data, alpha, [beta[:, j, : data.K[j], :] for j in range(data.J)],
                                      [delta[:, g, : data.K_group[g] - 1] for g in range(data.G)])
    stan_ll = fitted.log_likelihood["y"].stack(sample=("chain", "draw")).transpose("sample", ...).values[:40]
    np.testing.assert_allclose(stan_ll, expected, rtol=1e-6, atol=1e-8)


@needs_a_backend
def test_h_m01_generated_quantities(ragged, ragged_fit):
    data, _ = ragged
    y_rep = ragged_fit.posterior_predictive["y"].values
    sizes = data.I.sum(axis=1)
    assert y_rep.min() >= 1 and (y_rep <= sizes).all()
    assert list(ragged_fit.posterior["alpha_new"].coords["new_cell"].values) == [data.cell_ids[0], data.cell_ids[3]]
    assert (ragged_fit.posterior["alpha_new"].values > 0).all()
    # log_alpha = gamma0 + X gamma + sigma_cell z, draw by draw
    post = ragged_fit.posterior
    X = data.X.to_numpy()
    lin = post["gamma0"].values[..., None] + np.einsum("cdp,jp->cdj", post["gamma"].values, X) \
        + post["sigma_cell"].values[..., None] * post["z"].values
    np.testing.assert_allclose(post["log_alpha"].values, lin, rtol=1e-8, atol=1e-10)


@needs_pystan
def test_stan_rejects_bad_y_naming_the_observation(cell):
    program, stan_data, _, _ = prepare("m_01", cell)
    stan_data["y"] = list(stan_data["y"])
    stan_data["y"][4] = 9  # menus have at most 4 alternatives
    with pytest.raises(StanDataError, match="observation 5"):
        build_model(program.source, stan_data)


@needs_a_backend
def test_recovery_of_gamma_on_a_2x2_design():
    """True gamma inside the 90% posterior intervals (2 x 2 design, 120 choices per cell).

    Statistical reasoning: for a calibrated posterior each 90% interval covers
    the truth with probability 0.9, so a correct model fails this test for
    about 1 - 0.9^2 = 19% of seeds; the seed is fixed (and was not tuned) so the
    test is deterministic. To be able to fail for a broken model it also
    requires the data to be informative: the posterior sd of each gamma must be
    below 0.75 x the prior sd (1.0); a model that ignored the choices would
    leave it at the prior sd. The attainable precision is modest: with J = 4
    cells and 3 regression coefficients one degree of freedom is left for
    sigma_cell (hence the tighter HalfNormal(0.25) prior, consistent with the
    true 0.1), and each cell's log alpha is itself uncertain (about +-0.3 from
    120 choices, partly traded against the scale of beta), so posterior sds
    near 0.5 are expected here.
    """
    design = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q"]})
    gamma = {"llm[T.b]": 0.6, "prompt[T.q]": -0.5}
    data, truth = simulate_hierarchical(
        design, n_obs=120, R=10, D=2, K=3, gamma0=2.0, gamma=gamma, sigma_cell=0.1, seed=2024
    )
    priors = HM01Priors(sigma_cell_sd=0.25)
    idata = fit("h_m01", data, priors=priors, chains=2, warmup=400, draws=400, seed=7, cache=False, adapt_delta=0.9)
    post = idata.posterior["gamma"]
    lower = post.quantile(0.05, dim=("chain", "draw"))
    upper = post.quantile(0.95, dim=("chain", "draw"))
    for name, value in gamma.items():
        assert float(lower.sel(predictor=name)) < value < float(upper.sel(predictor=name)), (
            name, value, float(lower.sel(predictor=name)), float(upper.sel(predictor=name)))
    for name in gamma:
        assert float(post.sel(predictor=name).std()) < 0.75 * priors.gamma_sd


@needs_a_backend
def test_fixing_sigma_cell_alone_pins_cells_to_the_regression_line():
    """sigma_cell = 0: complete pooling, log alpha_j = gamma0 + X_j gamma in every draw, gamma0 still free;
    a positive fixed sigma_cell is constant across draws while gamma0 moves."""
    design = factorial_design({"llm": ["a", "b"]})
    data, _ = simulate_hierarchical(design, n_obs=30, R=6, D=2, K=3, gamma0=2.5, gamma=[0.5], sigma_cell=0.3,
                                    seed=21)
    pooled = fit("h_m01", data, fixed={"sigma_cell": 0.0}, seed=3, chains=2, warmup=200, draws=200, cache=False)
    post = pooled.posterior
    line = post["gamma0"] + (post["gamma"] * pooled.constant_data["X"]).sum("predictor")
    np.testing.assert_allclose(post["log_alpha"].values, line.transpose(*post["log_alpha"].dims).values, atol=1e-8)
    assert float(post["gamma0"].std()) > 0.01 and np.all(post["sigma_cell"].values == 0.0)
    wide = fit("h_m01", data, fixed={"sigma_cell": 2.0}, seed=3, chains=2, warmup=200, draws=200, cache=False)
    assert np.all(wide.posterior["sigma_cell"].values == 2.0) and float(wide.posterior["gamma0"].std()) > 0.01


def _block(source: str, name: str) -> str:
    start = source.index(name + " {")
    depth, i = 0, source.index("{", start)
    for i in range(i, len(source)):
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        if depth == 0:
            return source[start : i + 1]
    raise ValueError(f"unclosed block {name}")


@pytest.mark.parametrize("other", ["h_m01_centered", "bench/h_m01_per_obs"])
def test_variants_keep_h_m01_data_contract(other):
    """The centred and per-observation variants read exactly h_m01's data (same fit() data dict).

    The centred variant shares h_m01's transformed data too (it is h_m01 with
    centred = 1); the per-observation benchmark variant has no sufficient
    statistics, so only its input checks (the reject statements) must be h_m01's.
    """
    from seu_sensitivity.inference.programs import stan_code

    reference = stan_code("h_m01")
    variant = stan_code(other)
    assert _block(variant, "data") == _block(reference, "data"), f"{other}: data block differs from h_m01.stan"
    if other == "h_m01_centered":
        assert _block(variant, "transformed data") == _block(reference, "transformed data")
    else:
        rejects = [line.strip() for line in _block(variant, "transformed data").splitlines() if "reject(" in line]
        assert len(rejects) == 3
        assert all(line in _block(reference, "transformed data") for line in rejects)


def _constrained(model, point) -> dict[str, np.ndarray]:
    """Stan's constrained values (parameters, transformed parameters, generated quantities) by variable."""
    values = np.asarray(model.constrain_pars(point, include_tparams=True, include_gqs=True))
    out: dict[str, list[float]] = {}
    for name, value in zip(model.constrained_param_names, values):
        out.setdefault(name.split(".")[0], []).append(value)
    return {k: np.asarray(v) for k, v in out.items()}


@needs_pystan
def test_beta_is_the_delta_aligned_rotation_of_scaled_beta_free(cell, ragged):
    """Both programs sample beta_free and report beta = Q(delta) beta_rot (column-major
    blocks), beta_rot being beta_free with its first K - 1 rows divided by 1 + alpha |c|
    in the cells whose beliefs are scaled, and beta_free itself in the others. At
    random points, with K = 3 and K = 4 side by side and scaled and unscaled cells
    alternating, Stan's beta_rot equals NumPy's choice.beta_rot_from_free and
    Stan's beta equals choice.utility_rotation(delta) @ beta_rot, and every feature
    column keeps its length, so Q is a rotation (Jacobian 1). A Q that is not
    orthogonal, a scale that uses the wrong cell's alpha or switch, or the wrong
    group's delta, fails here."""
    from seu_sensitivity.model.choice import beta_rot_from_free, utility_rotation

    rng = np.random.default_rng(12)
    data, _ = ragged
    scaled = {cell_id: j % 2 == 0 for j, cell_id in enumerate(data.cell_ids)}
    program, stan_data, _, _ = prepare("h_m01", data, belief_scale=scaled)
    model = build_model(program.source, stan_data)
    n_par = len(model.unconstrain_pars(
        {"gamma0_free": [3.0], "sigma_cell_free": [0.5], "gamma": [0.0] * data.P, "z_or_log_alpha": [0.0] * data.J,
         "beta_free": [0.0] * int(sum(data.K) * data.D), "delta_free": [0.0] * int(sum(k - 2 for k in data.K_group))}))
    for _ in range(3):
        values = _constrained(model, list(rng.normal(0.0, 1.5, size=n_par)))
        d_start = np.concatenate([[0], np.cumsum(data.K_group - 1)])  # each group's increments in delta_flat
        start = 0
        for j, K_j in enumerate(data.K):
            g = int(data.group[j]) - 1
            delta = values["delta_flat"][d_start[g] : d_start[g] + K_j - 1]
            block = slice(start, start + K_j * data.D)
            free = values["beta_free"][block].reshape(data.D, K_j).T
            rot = values["beta_rot"][block].reshape(data.D, K_j).T
            beta = values["beta_flat"][block].reshape(data.D, K_j).T
            expected = beta_rot_from_free(free, values["alpha"][j], delta, scaled=scaled[data.cell_ids[j]])
            np.testing.assert_allclose(rot, expected, rtol=1e-10)
            np.testing.assert_allclose(beta, utility_rotation(delta) @ rot, atol=1e-10)
            np.testing.assert_allclose(np.linalg.norm(beta, axis=0), np.linalg.norm(rot, axis=0), rtol=1e-10)
            start += K_j * data.D

    for m_scaled in (True, False):
        m_program, m_data, _, _ = prepare("m_01", cell, belief_scale=m_scaled)
        m_model = build_model(m_program.source, m_data)
        n_m = len(m_model.unconstrain_pars({"alpha": 10.0, "beta_free": np.zeros((cell.K, cell.D)).tolist(),
                                            "delta": [1.0 / (cell.K - 1)] * (cell.K - 1)}))
        for _ in range(3):
            values = _constrained(m_model, list(rng.normal(0.0, 1.5, size=n_m)))
            rot = values["beta_rot"].reshape(cell.D, cell.K).T
            free = values["beta_free"].reshape(cell.D, cell.K).T
            beta = values["beta"].reshape(cell.D, cell.K).T
            expected = beta_rot_from_free(free, values["alpha"][0], values["delta"], scaled=m_scaled)
            np.testing.assert_allclose(rot, expected, rtol=1e-10)
            np.testing.assert_allclose(beta, utility_rotation(values["delta"]) @ rot, atol=1e-10)


@needs_pystan
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "unscaled"])
def test_scaled_beliefs_carry_their_jacobian(cell, scaled):
    """m_01 samples beta_free (beta_rot's first K - 1 rows times 1 + alpha |c| when the
    beliefs are scaled) and must add the log Jacobian -(K - 1) D log(1 + alpha |c|),
    so that the model is unchanged; unscaled, beta_free is beta_rot and no term is
    added. The reference is the same program sampling beta_rot directly (its
    `parameters` line swapped, beta_rot_lp's call removed): at random points the
    two log densities, the new one at beta_free and the reference at
    beta_rot_from_free(beta_free), must differ by exactly that Jacobian (0
    unscaled). A wrong sign or power, or a Jacobian added to unscaled beliefs,
    fails here; the reduction test carries the check over to h_m01, whose map is
    the same."""
    from seu_sensitivity.model.choice import beta_rot_from_free, utilities

    program, m_data, _, _ = prepare("m_01", cell, belief_scale=scaled)
    source = program.source
    free_line = "  matrix[K, D] beta_free;"
    call = ("  matrix[K, D] beta_rot = to_matrix(beta_rot_lp(to_vector(beta_free), rep_vector(log(alpha), 1), {scale_beliefs},\n"
            "                                                {1}, {K}, D, {1}, delta, {1}), K, D);")
    assert source.count(free_line) == 1 and source.count(call) == 1, "m_01.stan changed: update the reference"
    reference_source = source.replace(free_line, "  matrix[K, D] beta_rot;").replace(call, "")
    model = build_model(source, m_data)
    reference = build_model(reference_source, m_data)
    rng = np.random.default_rng(21)
    K, D = cell.K, cell.D
    gaps = []
    for _ in range(6):
        point = rng.normal(0.0, 1.5, size=1 + K * D + K - 2)
        point[0] += 3.0  # log alpha
        values = _constrained(model, list(point))
        alpha, delta = values["alpha"][0], values["delta"]
        free = values["beta_free"].reshape(D, K).T
        rot = beta_rot_from_free(free, alpha, delta, scaled=scaled)
        reference_point = [point[0], *rot.T.ravel(), *point[1 + K * D :]]
        upsilon = utilities(delta)
        log_jacobian = -(K - 1) * D * np.log1p(alpha * np.linalg.norm(upsilon - upsilon.mean())) if scaled else 0.0
        gaps.append(model.log_prob(list(point)) - reference.log_prob(reference_point) - log_jacobian)
    assert np.ptp(gaps) < 1e-8, gaps


def test_m01_and_h_m01_share_one_utility_rotation():
    """m_01 and h_m01 run one utility_rotation: the one of stan/functions/seu_choice.stanfunctions,
    which both include (tests/test_stan_includes.py checks no program defines it again)."""
    import re

    from seu_sensitivity.inference.programs import stan_code

    def function(model: str) -> str:
        source = stan_code(model)
        found = re.search(r"^  matrix utility_rotation\(.*?^  \}$", source, flags=re.S | re.M)
        assert found, f"{model}.stan has no utility_rotation"
        return found.group(0)

    assert function("m_01") == function("h_m01") == function("h_m01_centered")
