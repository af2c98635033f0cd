// Crossed person and item effects (every person answers every item):
//
//   y_n ~ Normal(alpha[person_n] + gamma[item_n], sigma_y)
//   alpha_p ~ Normal(mu_alpha, sigma_alpha)      person side
//   gamma_i ~ Normal(mu_gamma, sigma_gamma)      item side
//
// Adding c to mu_alpha and every alpha_p and subtracting c from mu_gamma and
// every gamma_i leaves every prediction unchanged: with both means free only
// the sum mu_alpha + mu_gamma is identified by the data, and the difference
// is held in place by the priors alone.
//
//   fix_mu_alpha = 0  both means free (not identified by the data)
//   fix_mu_alpha = 1  mu_alpha = 0, a constant: the constraint that restores identification
data {
  int<lower=1> N;
  int<lower=1> P;                          // persons
  int<lower=1> I;                          // items
  array[N] int<lower=1, upper=P> person;
  array[N] int<lower=1, upper=I> item;
  vector[N] y;
  int<lower=0, upper=1> fix_mu_alpha;
  real<lower=0> mu_scale;                  // mu ~ Normal(0, mu_scale)
  real<lower=0> sd_scale;                  // each sd ~ HalfNormal(0, sd_scale)
}
parameters {
  array[1 - fix_mu_alpha] real mu_alpha_free;
  real mu_gamma;
  real<lower=0> sigma_alpha;
  real<lower=0> sigma_gamma;
  real<lower=0> sigma_y;
  vector[P] alpha;                         // centred: the data per effect are plentiful
  vector[I] gamma;
}
transformed parameters {
  real mu_alpha = fix_mu_alpha ? 0 : mu_alpha_free[1];
}
model {
  mu_alpha_free ~ normal(0, mu_scale);
  mu_gamma ~ normal(0, mu_scale);
  sigma_alpha ~ normal(0, sd_scale);
  sigma_gamma ~ normal(0, sd_scale);
  sigma_y ~ normal(0, sd_scale);
  alpha ~ normal(mu_alpha, sigma_alpha);
  gamma ~ normal(mu_gamma, sigma_gamma);
  y ~ normal(alpha[person] + gamma[item], sigma_y);
}
