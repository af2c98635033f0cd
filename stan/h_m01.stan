// h_m01: hierarchical SEU sensitivity model over J cells.
//
//   log(alpha_j) = gamma0 + X_j gamma + sigma_cell * z_j,   z_j ~ Normal(0, 1)
//   beta_j  (K_j x D)   cell-specific feature -> subjective-probability map
//   delta_g (K_g - 1)   utility increments, shared by the cells of utility group g
//   psi_jr = softmax(beta_j w_{f(j),r}),  eta_jr = psi_jr . upsilon_g(j)
//   y_m ~ categorical_logit(alpha_cell[m] * eta over the menu of m)
//   (evaluated through sufficient statistics: choice counts and distinct menus)
//
// One program serves a single-task design (G = 1, F = 1: one K, features shared
// by all cells) and the pilot design (one feature matrix per cell, delta
// shared within a task, tasks with different K in one model). Because K
// differs between groups, beta and delta are ragged: they are stored flat
// (beta_flat: cell j's K_j x D block, column-major; delta_flat: group g's
// K_g - 1 increments) and the Python side reshapes them into NaN-padded
// arrays.
//
// Priors are data (defaults in seu_sensitivity.model.priors.HM01Priors):
//   gamma0 ~ Normal(gamma0_mu, gamma0_sd)      default (3.0, 1.0)
//   gamma_p ~ Normal(0, gamma_sd)              default 1.0
//   sigma_cell ~ HalfNormal(sigma_cell_sd)     default 0.5
//   beta_j[k, d] ~ Normal(0, beta_sd)          default 1.0
//   delta_g ~ Dirichlet(1)                     stick-breaking, as Stan's own simplex
//
// fix_gamma0 = 1 holds gamma0 = gamma0_fixed; fix_sigma_cell = 1 holds
// sigma_cell = sigma_cell_fixed (they are then not parameters). Both fixed
// with J = 1 and P = 0: m_01 with alpha ~ LogNormal(gamma0_fixed,
// sigma_cell_fixed) (the reduction check). sigma_cell fixed at 0: complete
// pooling, every alpha_j on the regression line; fixed at larger values: the
// path towards independent cells (the formulation chapter's sweep).
//
// centred = 0 (the default): the sampler moves z_j (non-centred). centred = 1
// (the centred parameterisation, which the book compares with it): it
// moves log(alpha_j) ~ Normal(gamma0 + X_j gamma, sigma_cell) and z_j is
// derived. Same model, other coordinates; the parameter z_or_log_alpha is
// whichever the switch says, and z and log_alpha are reported either way.
//
// Beliefs are sampled rotated and, per cell, scaled (scale_beliefs); the
// functions file explains both. beta itself (beta_flat) is computed in
// generated quantities.
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
  // The likelihood through sufficient statistics (same density, fewer terms):
  //   sum_m log p(y_m) = sum_i n_chosen[i] u_i - sum_s n_shown[s] log sum_{i in menu s} exp(u_i),
  // u = alpha_cell * eta. n_chosen counts how often each (cell, alternative) was
  // chosen; s runs over the DISTINCT (cell, menu) pairs, n_shown[s] how often each
  // was presented. Experiments repeat their menus (the pilot shows ~98 distinct
  // menus three times each), so this evaluates a third of the log-sum-exps.
  vector[J * R] n_chosen = rep_vector(0, J * R);
  for (m in 1:M)
    n_chosen[menu_idx[menu_start[m] + y[m] - 1]] += 1;
  array[M] int pair_of = distinct_menus(cell, I);
  int S = max(pair_of);
  array[S] int first_obs;                // first observation of each distinct pair
  array[S] int n_shown_int = rep_array(0, S);
  for (m in 1:M) {
    n_shown_int[pair_of[m]] += 1;
    if (n_shown_int[pair_of[m]] == 1)
      first_obs[pair_of[m]] = m;
  }
  vector[S] n_shown = to_vector(n_shown_int);
  array[S] int pair_cell;
  array[S] int pair_start;
  array[S] int pair_size;
  for (s in 1:S) {
    pair_cell[s] = cell[first_obs[s]];
    pair_start[s] = menu_start[first_obs[s]];
    pair_size[s] = menu_size[first_obs[s]];
  }
  // the distinct menus as a sparse S x (J*R) 0/1 matrix in CSR form (w, v, u),
  // so that the normalisers of all menus are one sparse product
  int N_pair_entries = sum(pair_size);
  vector[N_pair_entries] menu_w = rep_vector(1, N_pair_entries);
  array[N_pair_entries] int menu_v;
  array[S + 1] int menu_u;
  {
    int pos = 1;
    for (s in 1:S) {
      menu_u[s] = pos;
      for (i in 1:pair_size[s]) {
        menu_v[pos] = menu_idx[pair_start[s] + i - 1];
        pos += 1;
      }
    }
    menu_u[S + 1] = pos;
  }
  array[J * R] int slot_cell;            // cell of each (cell, alternative) slot
  for (i in 1:(J * R))
    slot_cell[i] = (i - 1) %/% R + 1;
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
  // delta_g ~ Dirichlet(1): flat on the simplex; the Jacobian is in stick_simplex_lp
  {
    array[G] matrix[max(K), max(K)] Q = group_rotations(K, delta_flat, delta_start, rotation_ref, rotation_basis);
    vector[J * R] eta = all_eta(w, feature_set, group, K, D, beta_rot, beta_start, delta_flat, delta_start, Q);
    // utilities measured from each cell's best alternative, alpha_j (eta - max
    // over the cell) <= 0: no overflow, and no cancellation of huge terms
    // (alpha_j eta itself reaches 1e16 far out along the ridge, where the two
    // dot products below would lose every digit and could sum to a large
    // positive log density). Exact: per cell, n_chosen and n_shown both sum
    // to the cell's observations, so the shifts cancel.
    vector[J * R] u = alpha[slot_cell] .* (eta - cell_max(eta, J));
    // the log-sum-exp of every distinct menu through one sparse product; exact
    // per menu only if a whole menu underflowed (alpha times a utility gap above ~745)
    vector[S] menu_sum = csr_matrix_times_vector(S, J * R, menu_w, menu_v, menu_u, exp(u));
    vector[S] log_norm;
    if (min(menu_sum) > 0) {
      log_norm = log(menu_sum);
    } else {
      for (s in 1:S)
        log_norm[s] = log_sum_exp(u[segment(menu_idx, pair_start[s], pair_size[s])]);
    }
    target += dot_product(n_chosen, u) - dot_product(n_shown, log_norm);
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
    vector[J * R] eta_best = cell_max(eta, J);
    for (m in 1:M) {
      vector[menu_size[m]] u = alpha[cell[m]] * (eta[segment(menu_idx, menu_start[m], menu_size[m])]
                                                 - eta_best[segment(menu_idx, menu_start[m], menu_size[m])]);  // as in the model block
      log_lik[m] = categorical_logit_lpmf(y[m] | u);
      y_rep[m] = categorical_logit_rng(u);
    }
  }
  for (n in 1:N_new)
    alpha_new[n] = exp(gamma0 + X_new[n] * gamma + sigma_cell * normal_rng(0, 1));
}
