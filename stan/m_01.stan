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
// beta is sampled as in h_m01.stan (its header explains why), with the same
// functions: beta = Q(delta) beta_rot, Q orthogonal with its first column
// along upsilon - mean(upsilon) and its last constant (a rotation, Jacobian
// 1), and, when scale_beliefs = 1, beta_rot's first K - 1 rows sampled
// multiplied by 1 + alpha |c| (beta_free; beta_rot_lp adds the Jacobian),
// which removes the funnel between alpha and the spread of the expected
// utilities when the choices pin the beliefs down (the switch is chosen by
// seu_sensitivity.models.belief_scaling). Same prior, same posterior. beta is computed in generated quantities.
// psi and eta are computed once per alternative; the likelihood, one
// categorical_logit per observation, is evaluated through its sufficient
// statistics (choice counts and distinct menus), which gives the same density.
functions {
  // The orthogonal K x K matrix Q(delta) whose first column is c_hat, the unit
  // vector along c = upsilon - mean(upsilon), and whose last is 1/sqrt(K);
  // Q = H * basis, H the Householder reflection taking the fixed `ref` (first
  // column of `basis`) to c_hat. Identical to h_m01.stan's, so the two
  // programs share one parameterisation.
  matrix utility_rotation(vector upsilon, vector ref, matrix basis) {
    int K = rows(upsilon);
    vector[K] c = upsilon - mean(upsilon);
    vector[K] v = ref - c / norm2(c);
    return basis - (2 / dot_self(v)) * v * (v' * basis);
  }

  // beta_rot from beta_free: if scaled = 1, the first K - 1 rows divided by
  // 1 + alpha |c|, the last (constant logits) copied, and the log Jacobian
  // -(K - 1) D log(1 + alpha |c|) added; if scaled = 0, beta_free itself.
  // h_m01.stan's beta_rot_lp for one cell.
  matrix beta_rot_lp(matrix beta_free, real log_alpha, int scaled, vector upsilon) {
    matrix[rows(beta_free), cols(beta_free)] beta_rot = beta_free;
    if (scaled == 0) return beta_rot;
    real log_scale = log1p_exp(log_alpha + log(norm2(upsilon - mean(upsilon))));  // log(1 + alpha |c|)
    int K = rows(beta_free);
    beta_rot[1:(K - 1)] = beta_free[1:(K - 1)] * exp(-log_scale);
    target += -(K - 1) * cols(beta_free) * log_scale;
    return beta_rot;
  }
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
  int<lower=0, upper=1> scale_beliefs;   // 1: beliefs sampled in units of 1 + alpha |c| (h_m01.stan, step 2)
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
  array[M] int first_obs;            // first observation of each distinct menu
  array[M] int n_shown_int = rep_array(0, M);
  int S = 0;
  for (m in 1:M) {
    int match = 0;
    for (s in 1:S) {
      int o = first_obs[s];
      if (menu_size[o] == menu_size[m]) {
        int same = 1;
        for (r in 1:R) {
          if (I[o, r] != I[m, r]) {
            same = 0;
            break;
          }
        }
        if (same == 1) {
          match = s;
          break;
        }
      }
    }
    if (match == 0) {
      S += 1;
      first_obs[S] = m;
      match = S;
    }
    n_shown_int[match] += 1;
  }
  vector[S] n_shown = to_vector(n_shown_int[1:S]);
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
  // fixed parts of utility_rotation: ref (the decreasing ramp, away from every
  // increasing upsilon) and an orthonormal basis whose first column is ref
  vector[K] ramp = linspaced_vector(K, 0, 1);
  vector[K] rotation_ref = (mean(ramp) - ramp) / norm2(ramp - mean(ramp));
  matrix[K, K] rotation_basis;
  {
    matrix[K, K] A = K == 2 ? append_col(rep_vector(1, K), rotation_ref)
                            : append_col(append_col(rep_vector(1, K), rotation_ref), identity_matrix(K)[ : , 1:(K - 2)]);
    matrix[K, K] B0 = qr_thin_Q(A);
    rotation_basis = append_col(B0[ : , 2:K], B0[ : , 1]);
  }
  if (dot_product(rotation_basis[ : , 1], rotation_ref) < 0)
    rotation_basis[ : , 1] = -rotation_basis[ : , 1];
  if (sum(rotation_basis[ : , K]) < 0)
    rotation_basis[ : , K] = -rotation_basis[ : , K];
}
parameters {
  real<lower=0> alpha;
  matrix[K, D] beta_free;            // beta_rot, rows 1..K-1 times 1 + alpha |c| if scale_beliefs (beta_rot_lp)
  simplex[K - 1] delta;
}
transformed parameters {
  // beta = Q(delta) beta_rot
  matrix[K, D] beta_rot = beta_rot_lp(beta_free, log(alpha), scale_beliefs, append_row(0, cumulative_sum(delta)));
  vector[R] eta;                     // expected utility of each alternative
  {
    vector[K] upsilon = append_row(0, cumulative_sum(delta));
    matrix[K, K] Q = utility_rotation(upsilon, rotation_ref, rotation_basis);
    matrix[R, K] logits = (w * beta_rot') * Q';
    // every row's softmax at once, shifted by the largest logit (no overflow)
    matrix[R, K] e = exp(logits - max(logits));
    vector[R] total = e * rep_vector(1, K);
    if (min(total) > 0) {
      eta = (e * upsilon) ./ total;
    } else {  // a row more than ~745 below the largest logit underflowed: row by row
      for (r in 1:R)
        eta[r] = softmax(logits[r]') ' * upsilon;
    }
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
