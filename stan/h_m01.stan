// h_m01: hierarchical SEU sensitivity model over J cells (seed 000), non-centred.
//
//   log(alpha_j) = gamma0 + X_j gamma + sigma_cell * z_j,   z_j ~ Normal(0, 1)
//   beta_j  (K_j x D)   cell-specific feature -> subjective-probability map
//   delta_g (K_g - 1)   utility increments, shared by the cells of utility group g
//   psi_jr = softmax(beta_j w_{f(j),r}),  eta_jr = psi_jr . upsilon_g(j)
//   y_m ~ categorical_logit(alpha_cell[m] * eta over the menu of m)
//   (evaluated through sufficient statistics: choice counts and distinct menus)
//
// One program serves the seed's design (G = 1, F = 1: one K, features shared
// by all cells) and the pilot design (one feature matrix per cell, delta
// shared within a task, tasks with different K in one model). Because K
// differs between groups, beta and delta are ragged: they are stored flat
// (beta_flat: cell j's K_j x D block, column-major; delta_flat: group g's
// K_g - 1 increments) and the Python side reshapes them into NaN-padded
// arrays.
//
// Priors are data (defaults in seu_sensitivity.models.HM01Priors):
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
// Parameterisation of beta, in two steps; neither changes the model (same
// prior, same posterior), only the geometry the sampler sees.
// 1. Rotation: beta_j = Q(delta_g) beta_rot_j, where Q is orthogonal with its
//    first column along c = upsilon - mean(upsilon) and its last along the
//    constant vector (utility_rotation below). Jacobian 1. To first order eta
//    depends on beta only through c' beta, now the first row of beta_rot
//    whatever delta is; the last row (constant logits) does not move psi at
//    all and is known from the prior alone. On the pilot this halved the
//    leapfrog steps per draw.
// 2. Scale (cells with scale_beliefs[j] = 1): the sampler moves beta_free,
//    which is beta_rot with its first K_j - 1 rows multiplied by
//    s_j = 1 + alpha_j |c| (beta_rot_lp, with the log Jacobian
//    -(K_j - 1) D log s_j); in the other cells beta_free = beta_rot. The choice probabilities depend on
//    alpha_j times the spread of the expected utilities, so in beta_rot's
//    coordinates a cell whose choices are nearly deterministic gives a curved
//    ridge (large alpha, small beta) narrowing like a funnel; the sampler got
//    stuck there (one chain of four, R-hat 1.5, hundreds of divergences) on
//    the simulated studies of the formulation and implementation chapters.
//    alpha_j |c| is how far a unit of beta_rot moves a logit. Where it is
//    large the likelihood sets the scale of the beliefs, and s_j ~ alpha_j |c|
//    straightens the ridge; where it is below 1 (a nearly random cell) the
//    prior sets it, and s_j ~ 1 leaves beta_rot alone. Scaling by alpha_j |c|
//    alone moved the funnel to small alpha_j instead, where nearly random
//    cells then got stuck. The constant row is left unscaled: the likelihood
//    never sees it, and scaling it would turn its prior into a funnel.
//    The same holds for every direction the choices say little about: with
//    few choices per belief coordinate (the pilot: 300 choices, 64 or 96
//    coordinates per cell) most of beta_rot is set by the prior, and scaling
//    it makes a funnel of the whole block (bulk ESS of log alpha 822 -> 194
//    on the pilot). Hence the switch, chosen per cell by
//    seu_sensitivity.models.belief_scaling.
// beta itself (beta_flat) is computed in generated quantities.
functions {
  // The orthogonal K x K matrix Q(delta) whose first column is c_hat, the unit
  // vector along c = upsilon - mean(upsilon), and whose last is the constant
  // vector 1/sqrt(K). To first order in beta, eta_r moves only with
  // c' beta w_r, so the data inform mainly the first row of beta_rot = Q' beta,
  // and a diagonal metric can adapt to it whatever delta is. Q = H * basis:
  // `basis` is a fixed orthonormal basis whose first column is `ref` and whose
  // last is 1/sqrt(K), H the Householder reflection taking ref to c_hat; ref
  // and c_hat are both orthogonal to the constant vector, so H keeps it. ref
  // is the decreasing ramp, which points away from every increasing upsilon
  // (c_hat . ref < 0), so ref - c_hat never vanishes and Q is smooth in delta.
  matrix utility_rotation(vector upsilon, vector ref, matrix basis) {
    int K = rows(upsilon);
    vector[K] c = upsilon - mean(upsilon);
    vector[K] v = ref - c / norm2(c);
    return basis - (2 / dot_self(v)) * v * (v' * basis);
  }

  // Q of every utility group (zero-padded to K_max x K_max), from the flat delta
  array[] matrix group_rotations(array[] int K, vector delta_flat, array[] int delta_start,
                                 array[] vector ref, array[] matrix basis) {
    int G = size(K);
    int K_max = max(K);
    array[G] matrix[K_max, K_max] Q;
    for (g in 1:G) {
      int Kg = K[g];
      vector[Kg] upsilon = append_row(0, cumulative_sum(segment(delta_flat, delta_start[g], Kg - 1)));
      Q[g] = rep_matrix(0, K_max, K_max);
      Q[g][1:Kg, 1:Kg] = utility_rotation(upsilon, ref[g][1:Kg], basis[g][1:Kg, 1:Kg]);
    }
    return Q;
  }
  // Stick-breaking map R^N -> (N+1)-simplex, exactly the transform Stan 2.35
  // uses for `simplex` declarations; adds its log Jacobian to target, so a
  // flat density on the simplex (Dirichlet(1)) needs no further term.
  vector stick_simplex_lp(vector u) {
    int N = rows(u);
    vector[N + 1] x;
    real stick = 1;
    for (k in 1:N) {
      real a = u[k] - log(N + 1 - k);
      x[k] = stick * inv_logit(a);
      target += log(stick) + log_inv_logit(a) + log1m_inv_logit(a);
      stick -= x[k];
    }
    x[N + 1] = stick;
    return x;
  }

  // beta_rot of every cell from beta_free: in a cell with scaled[j] = 1 the
  // first K_j - 1 rows of its K_j x D block are divided by 1 + alpha_j |c_g|
  // (see the header, step 2) and the log Jacobian -(K_j - 1) D log(1 + alpha_j |c_g|)
  // is added; the last row (constant logits), and every row of an unscaled
  // cell, is copied.
  vector beta_rot_lp(vector beta_free, vector log_alpha, array[] int scaled, array[] int group, array[] int K, int D,
                     array[] int beta_start, vector delta_flat, array[] int delta_start) {
    vector[rows(beta_free)] beta_rot = beta_free;
    for (j in 1:size(group)) {
      if (scaled[j] == 0) continue;  // beta_rot_j = beta_free_j
      int Kj = K[group[j]];
      vector[Kj] upsilon = append_row(0, cumulative_sum(segment(delta_flat, delta_start[group[j]], Kj - 1)));
      real log_scale = log1p_exp(log_alpha[j] + log(norm2(upsilon - mean(upsilon))));  // log(1 + alpha_j |c|)
      for (d in 1:D) {
        int first = beta_start[j] + (d - 1) * Kj;
        beta_rot[first:(first + Kj - 2)] = beta_free[first:(first + Kj - 2)] * exp(-log_scale);
      }
      target += -(Kj - 1) * D * log_scale;
    }
    return beta_rot;
  }

  // eta of every (cell, alternative): J*R vector, cell j at (j-1)*R + 1 .. j*R.
  // psi and eta are computed once per (cell, alternative), never per observation.
  // beta_j = Q_g(j) * beta_rot_j, so the logits w beta_j' are (w beta_rot_j') Q'
  vector all_eta(array[] matrix w, array[] int feature_set, array[] int group,
                 array[] int K, int D, vector beta_rot, array[] int beta_start,
                 vector delta_flat, array[] int delta_start, array[] matrix Q) {
    int J = size(feature_set);
    int R = rows(w[1]);
    vector[J * R] eta;
    for (j in 1:J) {
      int Kj = K[group[j]];
      matrix[Kj, D] b = to_matrix(segment(beta_rot, beta_start[j], Kj * D), Kj, D);
      vector[Kj] upsilon = append_row(0, cumulative_sum(segment(delta_flat, delta_start[group[j]], Kj - 1)));
      matrix[R, Kj] logits = (w[feature_set[j]] * b') * Q[group[j]][1:Kj, 1:Kj]';
      // every row's softmax at once, shifted by the cell's largest logit (no overflow)
      matrix[R, Kj] e = exp(logits - max(logits));
      vector[R] total = e * rep_vector(1, Kj);
      if (min(total) > 0) {
        eta[((j - 1) * R + 1):(j * R)] = (e * upsilon) ./ total;
      } else {  // a row more than ~745 below the cell's largest logit underflowed: row by row
        for (r in 1:R)
          eta[(j - 1) * R + r] = softmax(logits[r]') ' * upsilon;
      }
    }
    return eta;
  }

  // each (cell, alternative) slot's cell maximum of x (J*R vector, cell j at (j-1)*R + 1 .. j*R)
  vector cell_max(vector x, int J) {
    int R = rows(x) %/% J;
    vector[rows(x)] out;
    for (j in 1:J)
      out[((j - 1) * R + 1):(j * R)] = rep_vector(max(x[((j - 1) * R + 1):(j * R)]), R);
    return out;
  }
}
data {
  int<lower=1> J;                        // cells
  int<lower=0> P;                        // predictors
  matrix[J, P] X;                        // design matrix, no intercept
  int<lower=1> G;                        // utility groups (cells sharing delta)
  array[G] int K;                        // consequences of each group
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
  // 1: sample cell j's beliefs in units of 1 + alpha_j |c| (header, step 2)
  array[J] int<lower=0, upper=1> scale_beliefs;
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
    vector[Kg] ramp = linspaced_vector(Kg, 0, 1);
    vector[Kg] ref = (mean(ramp) - ramp) / norm2(ramp - mean(ramp));
    // QR (Gram-Schmidt) of (1, ref, e_1, ..., e_{K-2}), then the constant column moved to the end
    matrix[Kg, Kg] A = Kg == 2 ? append_col(rep_vector(1, Kg), ref)
                               : append_col(append_col(rep_vector(1, Kg), ref), identity_matrix(Kg)[ : , 1:(Kg - 2)]);
    matrix[Kg, Kg] B0 = qr_thin_Q(A);
    matrix[Kg, Kg] B = append_col(B0[ : , 2:Kg], B0[ : , 1]);
    if (dot_product(B[ : , 1], ref) < 0)
      B[ : , 1] = -B[ : , 1];
    if (sum(B[ : , Kg]) < 0)
      B[ : , Kg] = -B[ : , Kg];
    rotation_ref[g] = rep_vector(0, max(K));
    rotation_ref[g][1:Kg] = ref;
    rotation_basis[g] = rep_matrix(0, max(K), max(K));
    rotation_basis[g][1:Kg, 1:Kg] = B;
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
  array[M] int first_obs;                // first observation of each distinct pair
  array[M] int n_shown_int = rep_array(0, M);
  int S = 0;
  for (m in 1:M) {
    int match = 0;
    for (s in 1:S) {
      int o = first_obs[s];
      if (cell[o] == cell[m] && menu_size[o] == menu_size[m]) {
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
  vector[J] z;
  vector[N_beta] beta_free;              // beta_rot, rows 1..K_j-1 times 1 + alpha_j |c| in scaled cells (beta_rot_lp)
  vector[N_delta_free] delta_free;
}
transformed parameters {
  real gamma0 = fix_gamma0 == 1 ? gamma0_fixed : gamma0_free[1];
  real<lower=0> sigma_cell = fix_sigma_cell == 1 ? sigma_cell_fixed : sigma_cell_free[1];
  vector[J] log_alpha = gamma0 + X * gamma + sigma_cell * z;
  vector[J] alpha = exp(log_alpha);
  vector[N_delta] delta_flat;
  for (g in 1:G)
    delta_flat[delta_start[g]:(delta_start[g] + K[g] - 2)]
      = stick_simplex_lp(segment(delta_free, delta_free_start[g], K[g] - 2));
  // beta_j = Q(delta) beta_rot_j, cell by cell
  vector[N_beta] beta_rot = beta_rot_lp(beta_free, log_alpha, scale_beliefs, group, K, D, beta_start, delta_flat, delta_start);
}
model {
  gamma0_free ~ normal(gamma0_mu, gamma0_sd);
  sigma_cell_free ~ normal(0, sigma_cell_sd);
  gamma ~ normal(0, gamma_sd);
  z ~ std_normal();
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
