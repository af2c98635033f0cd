"""The prior defaults each Stan program takes as data.

Priors are data, not constants in the Stan code, so a chapter can change them
(and the fit cache sees the change). The defaults are the ones the
implementation chapter justifies by prior predictive simulation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class M01Priors:
    """Priors of the single-cell model m_01.

    alpha ~ LogNormal(alpha_mu, alpha_sd); beta ~ Normal(0, beta_sd) elementwise;
    delta ~ Dirichlet(1). The pilot studies chose (3.0, 0.75) for the
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
