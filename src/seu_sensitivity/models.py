"""Where the Stan programs live, and the prior defaults each one takes as data.

Priors are data, not constants in the Stan code, so a chapter can change them
(and the fit cache sees the change). The defaults here are the ones the
implementation chapter justifies by prior predictive simulation.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from seu_sensitivity.paths import project_root

#: environment variable that points at a folder of Stan programs
STAN_DIR_ENV = "SEU_STAN_DIR"


def stan_dir() -> Path:
    """The folder of Stan programs: ``$SEU_STAN_DIR`` or ``stan/`` of the project."""
    override = os.environ.get(STAN_DIR_ENV)
    return Path(override) if override else project_root() / "stan"


def stan_file(model: str) -> Path:
    """Path of the Stan program ``model`` (``"m_01"``, ``"h_m01"``, ...).

    Raises FileNotFoundError listing the programs that do exist.
    """
    path = stan_dir() / f"{model}.stan"
    if not path.is_file():
        known = sorted(p.stem for p in stan_dir().glob("*.stan"))
        raise FileNotFoundError(f"no Stan program {model!r} in {stan_dir()}; known: {', '.join(known) or 'none'}")
    return path


@dataclass(frozen=True)
class M01Priors:
    """Priors of the single-cell model m_01.

    alpha ~ LogNormal(alpha_mu, alpha_sd); beta ~ Normal(0, beta_sd) elementwise;
    delta ~ Dirichlet(1). The pilot studies calibrated (3.0, 0.75) for the
    K = 3 insurance task and (3.5, 0.75) for the K = 4 Ellsberg task.
    """

    alpha_mu: float = 3.0
    alpha_sd: float = 0.75
    beta_sd: float = 1.0

    def to_stan(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class HM01Priors:
    """Priors of the hierarchical model h_m01.

    log(alpha_j) = gamma0 + X_j gamma + sigma_cell z_j with
    gamma0 ~ Normal(gamma0_mu, gamma0_sd), gamma_p ~ Normal(0, gamma_sd),
    sigma_cell ~ HalfNormal(sigma_cell_sd), z_j ~ Normal(0, 1),
    beta_j ~ Normal(0, beta_sd) elementwise, delta_g ~ Dirichlet(1).
    """

    gamma0_mu: float = 3.0
    gamma0_sd: float = 1.0
    gamma_sd: float = 1.0
    sigma_cell_sd: float = 0.5
    beta_sd: float = 1.0

    def to_stan(self) -> dict[str, float]:
        return asdict(self)


#: the calibrated m_01 prior per pilot task
TASK_PRIORS: dict[str, M01Priors] = {
    "insurance": M01Priors(alpha_mu=3.0, alpha_sd=0.75),
    "ellsberg": M01Priors(alpha_mu=3.5, alpha_sd=0.75),
}
