// m_01: single-cell SEU sensitivity model.
//
// An agent chooses among the alternatives on menu m with probabilities
// softmax(alpha * eta) over the menu, where eta_r = psi_r . upsilon is the
// subjective expected utility of alternative r, psi_r = softmax(beta * w_r)
// its subjective probabilities over K consequences and upsilon the utilities
// (0 = upsilon_1 <= ... <= upsilon_K = 1, increments delta on the simplex).
//
// Priors are data (defaults in seu_sensitivity.models.M01Priors):
//   alpha ~ LogNormal(alpha_mu, alpha_sd)   default (3.0, 0.75); K = 4 task: (3.5, 0.75)
//   beta[k, d] ~ Normal(0, beta_sd)         default 1
//   delta ~ Dirichlet(1)
// psi and eta are computed once per alternative; the likelihood is one
// categorical_logit per menu.
data {
  int<lower=1> M;                    // observations (decision problems)
  int<lower=2> K;                    // consequences
  int<lower=1> D;                    // feature dimensions
  int<lower=2> R;                    // distinct alternatives
  matrix[R, D] w;                    // features of each alternative
  array[M, R] int<lower=0, upper=1> I;  // menus
  array[M] int<lower=1> y;           // choice: 1-based position among the menu's alternatives (increasing r)
  real alpha_mu;
  real<lower=0> alpha_sd;
  real<lower=0> beta_sd;
}
transformed data {
  array[M] int menu_size;
  array[M] int menu_start;           // start of menu m in menu_alt
  int N_menu = 0;
  for (m in 1:M) {
    menu_size[m] = sum(I[m]);
    if (menu_size[m] < 2)
      reject("observation ", m, ": the menu has ", menu_size[m], " alternative(s); a menu needs at least 2");
    if (y[m] > menu_size[m])
      reject("observation ", m, ": y = ", y[m], " is outside 1..", menu_size[m], " (the menu size)");
    menu_start[m] = N_menu + 1;
    N_menu += menu_size[m];
  }
  array[N_menu] int menu_alt;        // the menus' alternatives, flattened
  {
    int pos = 1;
    for (m in 1:M) {
      for (r in 1:R) {
        if (I[m, r] == 1) {
          menu_alt[pos] = r;
          pos += 1;
        }
      }
    }
  }
}
parameters {
  real<lower=0> alpha;
  matrix[K, D] beta;
  simplex[K - 1] delta;
}
transformed parameters {
  vector[R] eta;                     // expected utility of each alternative
  {
    vector[K] upsilon = append_row(0, cumulative_sum(delta));
    matrix[R, K] logits = w * beta';
    for (r in 1:R)
      eta[r] = softmax(logits[r]') ' * upsilon;
  }
}
model {
  alpha ~ lognormal(alpha_mu, alpha_sd);
  to_vector(beta) ~ normal(0, beta_sd);
  // delta ~ Dirichlet(1): constant density on the simplex
  for (m in 1:M)
    y[m] ~ categorical_logit(alpha * eta[segment(menu_alt, menu_start[m], menu_size[m])]);
}
generated quantities {
  vector[M] log_lik;
  array[M] int y_rep;
  for (m in 1:M) {
    vector[menu_size[m]] u = alpha * eta[segment(menu_alt, menu_start[m], menu_size[m])];
    log_lik[m] = categorical_logit_lpmf(y[m] | u);
    y_rep[m] = categorical_logit_rng(u);
  }
}
