// Normal means with known standard errors: the eight-schools family.
//
//   y_j ~ Normal(theta_j, sigma_j),   sigma_j known          (level 1)
//
// One program, switched by data, covers the whole pooling spectrum of the
// primer chapter (near-duplicate programs would each cost a compile):
//
//   pooling = 1  complete pooling   theta_j = mu for every j
//   pooling = 2  no pooling         theta_j ~ Normal(mu_loc, theta_scale), independently
//   pooling = 3  partial pooling    theta_j ~ Normal(mu, tau)                (level 2)
//
// For partial pooling:
//   centered = 1  sample theta directly (the funnel-prone form)
//   centered = 0  sample theta_tilde ~ Normal(0, 1), theta = mu + tau * theta_tilde
//   fix_population = 1  mu = mu_fixed, tau = tau_fixed are known constants,
//                       so the posterior of theta is the conditional p(theta | mu, tau, y)
//   tau_prior = 1  Uniform(0, tau_upper)
//   tau_prior = 2  HalfNormal(0, tau_scale)
//   tau_prior = 3  HalfCauchy(0, tau_scale)
// mu ~ Normal(mu_loc, mu_scale) whenever mu is a parameter.
//
// Generated quantities:
//   y_rep[j]     replicate of group j with its own theta_j (population as parameter)
//   theta_new    a new group's effect drawn from the population (population as missing data)
//   y_new        its measurement with standard error sigma_new
//   log_lik[j]   pointwise log-likelihood
data {
  int<lower=1> J;
  vector[J] y;
  vector<lower=0>[J] sigma;
  int<lower=1, upper=3> pooling;
  int<lower=0, upper=1> centered;
  int<lower=0, upper=1> fix_population;
  int<lower=1, upper=3> tau_prior;
  real mu_loc;
  real<lower=0> mu_scale;
  real<lower=0> tau_scale;
  real<lower=0> tau_upper;        // only used by tau_prior = 1
  real<lower=0> theta_scale;      // only used by pooling = 2
  real mu_fixed;                  // only used by fix_population = 1
  real<lower=0> tau_fixed;
  real<lower=0> sigma_new;
}
transformed data {
  int has_mu = (pooling != 2 && !(pooling == 3 && fix_population == 1));
  int has_tau = (pooling == 3 && fix_population == 0);
  int n_theta = pooling == 1 ? 0 : J;
  // the Uniform prior needs its upper bound in the constraint, or NUTS would
  // step outside the support; the others are unbounded above
  real tau_bound = tau_prior == 1 ? tau_upper : positive_infinity();
}
parameters {
  array[has_mu] real mu_free;
  array[has_tau] real<lower=0, upper=tau_bound> tau_free;
  vector[n_theta] theta_raw;      // theta (centred, no pooling) or theta_tilde (non-centred)
}
transformed parameters {
  real mu = has_mu ? mu_free[1] : (pooling == 3 ? mu_fixed : mu_loc);
  real tau = has_tau ? tau_free[1] : (pooling == 3 ? tau_fixed : 0);
  vector[J] theta;
  if (pooling == 1)
    theta = rep_vector(mu, J);
  else if (pooling == 2 || centered == 1)
    theta = theta_raw;
  else
    theta = mu + tau * theta_raw;
}
model {
  mu_free ~ normal(mu_loc, mu_scale);
  if (has_tau) {
    if (tau_prior == 1)
      tau_free ~ uniform(0, tau_upper);
    else if (tau_prior == 2)
      tau_free ~ normal(0, tau_scale);
    else
      tau_free ~ cauchy(0, tau_scale);
  }
  if (pooling == 2)
    theta_raw ~ normal(mu_loc, theta_scale);
  else if (pooling == 3) {
    if (centered == 1)
      theta_raw ~ normal(mu, tau);
    else
      theta_raw ~ std_normal();
  }
  y ~ normal(theta, sigma);
}
generated quantities {
  vector[J] log_lik;
  array[J] real y_rep = normal_rng(theta, sigma);
  real theta_new = pooling == 3 ? normal_rng(mu, tau) : (pooling == 1 ? mu : not_a_number());
  real y_new = is_nan(theta_new) ? not_a_number() : normal_rng(theta_new, sigma_new);
  for (j in 1:J)
    log_lik[j] = normal_lpdf(y[j] | theta[j], sigma[j]);
}
