// h_m01_per_obs: BENCHMARK ONLY. The model and data contract of h_m01
// (centred switch included), written in the
// per-observation formulation: psi = softmax(beta_j w_r) and eta_r are
// recomputed for every alternative of every observation, and each choice is
// scored on a menu-sized vector built per observation. Used by
// benchmarks/likelihood_formulation.py to measure what computing psi once per
// (cell, alternative) and scoring distinct menus buys, and by
// tests/test_stan_models.py as the reference density of h_m01's sufficient
// statistics. The functions are h_m01's (one include); only the model block
// and the transformed data it needs are this program's own.
functions {
#include functions/seu_choice.stanfunctions
}
data {
  int<lower=1> J;                        // cells
  int<lower=0> P;                        // predictors
  matrix[J, P] X;                        // design matrix, no intercept
  int<lower=1> G;                        // utility groups (cells sharing delta)
  array[G] int<lower=2> K;               // consequences of each group
  array[J] int<lower=1, upper=G> group;  // group of each cell
  int<lower=1> D;                        // feature dimensions
  int<lower=2> R;                        // alternatives
  int<lower=1> F;                        // distinct feature matrices
  array[F] matrix[R, D] w;
  array[J] int<lower=1, upper=F> feature_set;
  int<lower=1> M;                        // observations, all cells
  array[M] int<lower=1, upper=J> cell;
  array[M, R] int<lower=0, upper=1> I;   // menus
  array[M] int<lower=1> y;               // 1-based position among the menu's alternatives (increasing r)
  // priors
  real gamma0_mu;
  real<lower=0> gamma0_sd;
  real<lower=0> gamma_sd;
  real<lower=0> sigma_cell_sd;
  real<lower=0> beta_sd;
  // population predictive: alpha of a new cell at each row of X_new
  int<lower=0> N_new;
  matrix[N_new, P] X_new;
  // reduction check: hold gamma0 and sigma_cell fixed
  int<lower=0, upper=1> fix_gamma0;
  real gamma0_fixed;
  int<lower=0, upper=1> fix_sigma_cell;
  real<lower=0> sigma_cell_fixed;
  // 1: sample cell j's beliefs in units of 1 + alpha_j |c| (functions file, step 2)
  array[J] int<lower=0, upper=1> scale_beliefs;
  // 1: sample log(alpha_j) (centred) instead of z_j (non-centred)
  int<lower=0, upper=1> centred;
}
transformed data {
  array[J] int beta_start;
  array[G] int delta_start;              // start of group g in delta_flat
  array[G] int delta_free_start;         // start of group g in delta_free
  int N_beta = 0;
  int N_delta = 0;
  int N_delta_free = 0;
  for (g in 1:G) {
    if (K[g] < 2)
      reject("utility group ", g, ": K = ", K[g], "; a choice model needs at least 2 consequences");
    delta_start[g] = N_delta + 1;
    delta_free_start[g] = N_delta_free + 1;
    N_delta += K[g] - 1;
    N_delta_free += K[g] - 2;
  }
  for (j in 1:J) {
    beta_start[j] = N_beta + 1;
    N_beta += K[group[j]] * D;
  }
  // fixed parts of each group's utility_rotation: ref and an orthonormal basis (ref, ..., 1/sqrt(K))
  array[G] vector[max(K)] rotation_ref;
  array[G] matrix[max(K), max(K)] rotation_basis;
  for (g in 1:G) {
    int Kg = K[g];
    vector[Kg] ref = utility_rotation_ref(Kg);
    rotation_ref[g] = rep_vector(0, max(K));
    rotation_ref[g][1:Kg] = ref;
    rotation_basis[g] = rep_matrix(0, max(K), max(K));
    rotation_basis[g][1:Kg, 1:Kg] = utility_rotation_basis(ref);
  }
  array[M] int menu_size;
  array[M] int menu_start;
  int N_menu = 0;
  for (m in 1:M) {
    menu_size[m] = sum(I[m]);
    if (menu_size[m] < 2)
      reject("observation ", m, " (cell ", cell[m], "): the menu has ", menu_size[m],
             " alternative(s); a menu needs at least 2");
    if (y[m] > menu_size[m])
      reject("observation ", m, " (cell ", cell[m], "): y = ", y[m], " is outside 1..", menu_size[m],
             " (the menu size)");
    menu_start[m] = N_menu + 1;
    N_menu += menu_size[m];
  }
  // index into all_eta of each menu entry: (cell - 1) * R + r
  array[N_menu] int menu_idx;
  {
    int pos = 1;
    for (m in 1:M) {
      for (r in 1:R) {
        if (I[m, r] == 1) {
          menu_idx[pos] = (cell[m] - 1) * R + r;
          pos += 1;
        }
      }
    }
  }
}
parameters {
  array[1 - fix_gamma0] real gamma0_free;
  array[1 - fix_sigma_cell] real<lower=0> sigma_cell_free;
  vector[P] gamma;
  vector[J] z_or_log_alpha;              // z_j, or log(alpha_j) when centred = 1
  vector[N_beta] beta_free;              // beta_rot, rows 1..K_j-1 times 1 + alpha_j |c| in scaled cells (beta_rot_lp)
  vector[N_delta_free] delta_free;
}
transformed parameters {
  real gamma0 = fix_gamma0 == 1 ? gamma0_fixed : gamma0_free[1];
  real<lower=0> sigma_cell = fix_sigma_cell == 1 ? sigma_cell_fixed : sigma_cell_free[1];
  vector[J] z;
  vector[J] log_alpha;
  if (centred == 1) {
    log_alpha = z_or_log_alpha;
    z = (log_alpha - (gamma0 + X * gamma)) / sigma_cell;
  } else {
    z = z_or_log_alpha;
    log_alpha = gamma0 + X * gamma + sigma_cell * z;
  }
  vector[J] alpha = exp(log_alpha);
  vector[N_delta] delta_flat;
  for (g in 1:G) {
    if (K[g] == 2)
      delta_flat[delta_start[g]] = 1;  // the only point of a 1-simplex (segment() rejects an empty vector)
    else
      delta_flat[delta_start[g]:(delta_start[g] + K[g] - 2)]
        = stick_simplex_lp(segment(delta_free, delta_free_start[g], K[g] - 2));
  }
  // beta_j = Q(delta) beta_rot_j, cell by cell
  vector[N_beta] beta_rot = beta_rot_lp(beta_free, log_alpha, scale_beliefs, group, K, D, beta_start, delta_flat, delta_start);
}
model {
  gamma0_free ~ normal(gamma0_mu, gamma0_sd);
  sigma_cell_free ~ normal(0, sigma_cell_sd);
  gamma ~ normal(0, gamma_sd);
  if (centred == 1)
    z_or_log_alpha ~ normal(gamma0 + X * gamma, sigma_cell);
  else
    z_or_log_alpha ~ std_normal();
  beta_rot ~ normal(0, beta_sd);         // = beta_flat ~ normal(0, beta_sd): Q is orthogonal; the scale's Jacobian is in beta_rot_lp
  array[G] matrix[max(K), max(K)] Q = group_rotations(K, delta_flat, delta_start, rotation_ref, rotation_basis);
  for (m in 1:M) {
    int j = cell[m];
    int Kj = K[group[j]];
    matrix[Kj, D] beta = Q[group[j]][1:Kj, 1:Kj] * to_matrix(segment(beta_rot, beta_start[j], Kj * D), Kj, D);
    vector[Kj] upsilon = append_row(0, cumulative_sum(segment(delta_flat, delta_start[group[j]], Kj - 1)));
    vector[menu_size[m]] eta_m;
    for (s in 1:menu_size[m]) {
      int r = menu_idx[menu_start[m] + s - 1] - (j - 1) * R;
      vector[Kj] psi = softmax(beta * w[feature_set[j], r]');
      eta_m[s] = psi' * upsilon;
    }
    y[m] ~ categorical_logit(alpha[j] * eta_m);
  }
}
generated quantities {
  vector[N_beta] beta_flat;              // beta itself (cell j's K_j x D block, column-major)
  vector[M] log_lik;
  array[M] int y_rep;
  vector[N_new] alpha_new;
  {
    array[G] matrix[max(K), max(K)] Q = group_rotations(K, delta_flat, delta_start, rotation_ref, rotation_basis);
    for (j in 1:J) {
      int Kj = K[group[j]];
      beta_flat[beta_start[j]:(beta_start[j] + Kj * D - 1)]
        = to_vector(Q[group[j]][1:Kj, 1:Kj] * to_matrix(segment(beta_rot, beta_start[j], Kj * D), Kj, D));
    }
    vector[J * R] eta = all_eta(w, feature_set, group, K, D, beta_rot, beta_start, delta_flat, delta_start, Q);
    for (m in 1:M) {
      vector[menu_size[m]] u = alpha[cell[m]] * eta[segment(menu_idx, menu_start[m], menu_size[m])];
      log_lik[m] = categorical_logit_lpmf(y[m] | u);
      y_rep[m] = categorical_logit_rng(u);
    }
  }
  for (n in 1:N_new)
    alpha_new[n] = exp(gamma0 + X_new[n] * gamma + sigma_cell * normal_rng(0, 1));
}
