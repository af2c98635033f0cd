// m_01: single-cell SEU sensitivity model.
//
// An agent chooses among the alternatives on menu m with probabilities
// softmax(alpha * eta) over the menu, where eta_r = psi_r . upsilon is the
// subjective expected utility of alternative r, psi_r = softmax(beta * w_r)
// its subjective probabilities over K consequences and upsilon the utilities
// (0 = upsilon_1 <= ... <= upsilon_K = 1, increments delta on the simplex).
//
// Priors are data (defaults in seu_sensitivity.model.priors.M01Priors):
//   alpha ~ LogNormal(alpha_mu, alpha_sd)   default (3.0, 0.75); K = 4 task: (3.5, 0.75)
//   beta[k, d] ~ Normal(0, beta_sd)         default 1
//   delta ~ Dirichlet(1)
// beta is sampled as in h_m01, with the same functions (one cell, J = G = 1):
// beta = Q(delta) beta_rot, Q orthogonal (utility_rotation), and, when
// scale_beliefs = 1, beta_rot's first K - 1 rows sampled multiplied by
// 1 + alpha |c| (beta_free; beta_rot_lp adds the Jacobian). The functions
// file explains why. Same prior, same posterior. beta is computed in
// generated quantities. psi and eta are computed once per alternative; the
// likelihood, one categorical_logit per observation, is evaluated through
// its sufficient statistics (choice counts and distinct menus), which gives
// the same density.
functions {
#include functions/seu_choice.stanfunctions
}
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
  int<lower=0, upper=1> scale_beliefs;   // 1: beliefs sampled in units of 1 + alpha |c| (functions file, step 2)
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
  // The likelihood through sufficient statistics (same density, fewer terms):
  //   sum_m log p(y_m) = sum_r n_chosen[r] u_r - sum_s n_shown[s] log sum_{r in menu s} exp(u_r),
  // u = alpha * eta; s runs over the DISTINCT menus, presented n_shown[s] times.
  // Experiments repeat their menus, so this saves most of the log-sum-exps.
  vector[R] n_chosen = rep_vector(0, R);
  for (m in 1:M)
    n_chosen[menu_alt[menu_start[m] + y[m] - 1]] += 1;
  array[M] int pair_of = distinct_menus(rep_array(1, M), I);
  int S = max(pair_of);
  array[S] int first_obs;            // first observation of each distinct menu
  array[S] int n_shown_int = rep_array(0, S);
  for (m in 1:M) {
    n_shown_int[pair_of[m]] += 1;
    if (n_shown_int[pair_of[m]] == 1)
      first_obs[pair_of[m]] = m;
  }
  vector[S] n_shown = to_vector(n_shown_int);
  // the distinct menus as a sparse S x R 0/1 matrix in CSR form (w, v, u),
  // so that the normalisers of all menus are one sparse product
  int N_distinct_entries = 0;
  for (s in 1:S)
    N_distinct_entries += menu_size[first_obs[s]];
  vector[N_distinct_entries] menu_w = rep_vector(1, N_distinct_entries);
  array[N_distinct_entries] int menu_v;
  array[S + 1] int menu_u;
  {
    int pos = 1;
    for (s in 1:S) {
      menu_u[s] = pos;
      for (i in 1:menu_size[first_obs[s]]) {
        menu_v[pos] = menu_alt[menu_start[first_obs[s]] + i - 1];
        pos += 1;
      }
    }
    menu_u[S + 1] = pos;
  }
  // fixed parts of utility_rotation: ref and an orthonormal basis whose first column is ref
  vector[K] rotation_ref = utility_rotation_ref(K);
  matrix[K, K] rotation_basis = utility_rotation_basis(rotation_ref);
}
parameters {
  real<lower=0> alpha;
  matrix[K, D] beta_free;            // beta_rot, rows 1..K-1 times 1 + alpha |c| if scale_beliefs (beta_rot_lp)
  simplex[K - 1] delta;
}
transformed parameters {
  // beta = Q(delta) beta_rot; beta_rot_lp and expected_utilities as for one cell of h_m01
  matrix[K, D] beta_rot = to_matrix(beta_rot_lp(to_vector(beta_free), rep_vector(log(alpha), 1), {scale_beliefs},
                                                {1}, {K}, D, {1}, delta, {1}), K, D);
  vector[R] eta;                     // expected utility of each alternative
  {
    vector[K] upsilon = append_row(0, cumulative_sum(delta));
    matrix[K, K] Q = utility_rotation(upsilon, rotation_ref, rotation_basis);
    eta = expected_utilities((w * beta_rot') * Q', upsilon);
  }
}
model {
  alpha ~ lognormal(alpha_mu, alpha_sd);
  to_vector(beta_rot) ~ normal(0, beta_sd);   // = beta ~ normal(0, beta_sd): Q is orthogonal
  // delta ~ Dirichlet(1): constant density on the simplex
  {
    // the log-sum-exp of every distinct menu through one sparse product. The
    // utilities are measured from the best alternative's, alpha (eta - max(eta))
    // <= 0: no overflow, and no cancellation of huge terms (alpha eta itself
    // reaches 1e16 far out along the ridge, where the two dot products below
    // would lose every digit and could sum to a large positive log density).
    // Exact because sum(n_chosen) = sum(n_shown) = M. Per menu only if a whole
    // menu underflowed (alpha times a utility gap above ~745).
    vector[R] u = alpha * (eta - max(eta));
    vector[S] menu_sum = csr_matrix_times_vector(S, R, menu_w, menu_v, menu_u, exp(u));
    vector[S] log_norm;
    if (min(menu_sum) > 0) {
      log_norm = log(menu_sum);
    } else {
      for (s in 1:S)
        log_norm[s] = log_sum_exp(u[segment(menu_alt, menu_start[first_obs[s]], menu_size[first_obs[s]])]);
    }
    target += dot_product(n_chosen, u) - dot_product(n_shown, log_norm);
  }
}
generated quantities {
  matrix[K, D] beta = utility_rotation(append_row(0, cumulative_sum(delta)), rotation_ref, rotation_basis) * beta_rot;
  vector[M] log_lik;
  array[M] int y_rep;
  for (m in 1:M) {
    vector[menu_size[m]] u = alpha * (eta[segment(menu_alt, menu_start[m], menu_size[m])] - max(eta));  // as in the model block
    log_lik[m] = categorical_logit_lpmf(y[m] | u);
    y_rep[m] = categorical_logit_rng(u);
  }
}
