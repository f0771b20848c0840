"""Predictive customer lifetime value: the BG/NBD and Gamma-Gamma models, fitted by maximum
likelihood with numpy and scipy.

**BG/NBD** — Fader, Hardie & Lee (2005a), "'Counting Your Customers' the Easy Way: An
Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275–284. While active, a
customer buys at a Poisson rate λ, gamma(r, α) across customers; after each purchase they drop
out with probability p, beta(a, b) across customers. A customer is summarised by ``x`` (repeat
purchases: all purchases but the first), ``t_x`` (the time of the last purchase, counted from
the first) and T, here ``age`` (the time from the first purchase to the end of observation),
all times in one unit (weeks, in FieldCRM). The implementation follows the paper's equations:

- (6) the likelihood of (x, t_x, T), here on the log scale, its two terms added with
  log-sum-exp (`bgnbd_log_likelihood`);
- (10) the expected number of purchases in the next ``t`` periods of a customer with that
  history (`expected_purchases`), with the hypergeometric function through Euler's
  transformation as Fader & Hardie (2013), "Overcoming the BG/NBD Model's #NUM! Error
  Problem", recommend; with x = 0 and T = 0 it is (9), the expectation for a new customer;
- P(alive), from Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD Model",
  equation (1) (`probability_alive`).

**Gamma-Gamma** — Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves for
Customer Base Analysis", *Journal of Marketing Research* 42(4), 415–430, and Fader & Hardie
(2013), "The Gamma-Gamma Model of Monetary Value". The value of each of a customer's purchases
is gamma(p, ν); ν is gamma(q, γ) across customers; the model is fitted on the customers with at
least one repeat purchase and their average repeat value ``m_x``, assumed independent of the
purchase process:

- the likelihood of m_x given x (the note's equation (3)) (`gamma_gamma_log_likelihood`);
- E[M | p, q, γ, m_x, x] (the JMR paper's equation (5), the note's (5)), a weighted mean of the
  population mean pγ/(q − 1) and the customer's own m_x (`expected_average_value`).

**CLV** over a horizon of whole months: the purchases expected in month k are
E[Y(k·w)] − E[Y((k − 1)·w)] of (10), w the length of a month in the model's time unit; each is
worth the expected average value and is discounted to today at the monthly rate equivalent to
the annual rate, (1 + annual)^(1/12) − 1, as at the end of its month
(`customer_lifetime_value`).

Every function takes and returns numpy arrays (one element per customer) and runs vectorised;
fitting minimises the negative log-likelihood over the logarithms of the parameters with
L-BFGS-B (Nelder-Mead when that fails), so 100,000 customers fit in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
from scipy import optimize, special  # type: ignore[import-untyped]

Array = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

DAYS_PER_WEEK: Final = 7.0
WEEKS_PER_MONTH: Final = 365.25 / 12 / DAYS_PER_WEEK  # 4.348…: the model's time unit is weeks
_LOG_BOUND: Final = 12.0  # the parameters are searched within e^-12 … e^12
_A_NEAR_ONE: Final = 1e-8  # (10) divides by a − 1: a is moved this far away from 1


class ModelError(ValueError):
    """The data cannot give a model (too few customers, or a fit that found no optimum)."""


@dataclass(frozen=True, slots=True)
class BGNBD:
    """Fitted BG/NBD parameters: purchase rate λ ~ gamma(r, α), drop-out p ~ beta(a, b).

    ``log_likelihood`` is the maximised total of (6) over the ``customers`` of the fit.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float | None = None
    customers: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BGNBD:
        return cls(
            r=float(data["r"]),
            alpha=float(data["alpha"]),
            a=float(data["a"]),
            b=float(data["b"]),
            log_likelihood=_optional_float(data.get("log_likelihood")),
            customers=int(data.get("customers", 0)),
        )


@dataclass(frozen=True, slots=True)
class GammaGamma:
    """Fitted Gamma-Gamma parameters: a purchase's value ~ gamma(p, ν), ν ~ gamma(q, γ).

    ``log_likelihood`` is the maximised total over the ``customers`` (those with x ≥ 1).
    """

    p: float
    q: float
    gamma: float
    log_likelihood: float | None = None
    customers: int = 0

    @property
    def population_mean(self) -> float:
        """The mean value of a purchase across customers, pγ/(q − 1) (infinite when q ≤ 1)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GammaGamma:
        return cls(
            p=float(data["p"]),
            q=float(data["q"]),
            gamma=float(data["gamma"]),
            log_likelihood=_optional_float(data.get("log_likelihood")),
            customers=int(data.get("customers", 0)),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _arrays(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(*values))


# -- BG/NBD -----------------------------------------------------------------------------------


def bgnbd_log_likelihood(
    r: float, alpha: float, a: float, b: float, x: ArrayLike, t_x: ArrayLike, age: ArrayLike
) -> Array:
    """The log of (6) for each customer:

    L = B(a, b + x)/B(a, b) · Γ(r + x)α^r / (Γ(r)(α + T)^(r + x))
        + δ(x > 0) · B(a + 1, b + x − 1)/B(a, b) · Γ(r + x)α^r / (Γ(r)(α + t_x)^(r + x)).
    """
    x_, t_x_, age_ = _arrays(x, t_x, age)
    common = special.gammaln(r + x_) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    alive = special.betaln(a, b + x_) - beta_ab - (r + x_) * np.log(alpha + age_)
    repeat = x_ > 0
    x_safe = np.where(repeat, x_, 1.0)  # the second term exists only for x > 0
    dropped = special.betaln(a + 1, b + x_safe - 1) - beta_ab - (r + x_safe) * np.log(alpha + t_x_)
    both = np.logaddexp(alive, np.where(repeat, dropped, -np.inf))
    result: Array = common + both
    return result


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, age: ArrayLike, *, start: BGNBD | None = None) -> BGNBD:
    """The BG/NBD parameters that maximise the total of (6) over the customers.

    Minimises the negative log-likelihood (divided by the number of customers) over
    (log r, log α, log a, log b) with L-BFGS-B, from ``start`` or (1, mean age / 4, 1, 1).
    """
    x_, t_x_, age_ = _arrays(x, t_x, age)
    _check_history(x_, t_x_, age_)
    n = x_.size
    if n < 4:
        raise ModelError("the BG/NBD model needs at least four customers")

    def objective(theta: Array) -> float:
        r, alpha, a, b = np.exp(theta)
        total = float(np.sum(bgnbd_log_likelihood(r, alpha, a, b, x_, t_x_, age_)))
        return -total / n if np.isfinite(total) else np.inf

    first = start or BGNBD(1.0, max(float(np.mean(age_)) / 4, 1e-3), 1.0, 1.0)
    theta0 = np.log([first.r, first.alpha, first.a, first.b])
    theta, value = _minimise(objective, theta0)
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    return BGNBD(r, alpha, a, b, log_likelihood=-value * n, customers=n)


def expected_purchases(
    model: BGNBD, t: ArrayLike, x: ArrayLike = 0, t_x: ArrayLike = 0, age: ArrayLike = 0
) -> Array:
    """(10): the expected number of purchases in the ``t`` periods after T = ``age`` of a
    customer with ``x`` repeat purchases, the last at ``t_x``:

    E[Y(t) | x, t_x, T] = (a + b + x − 1)/(a − 1)
        · [1 − ((α + T)/(α + T + t))^(r + x) ₂F₁(r + x, b + x; a + b + x − 1; z)]
        / [1 + δ(x > 0) · a/(b + x − 1) · ((α + T)/(α + t_x))^(r + x)],   z = t/(α + T + t).

    By Euler's transformation (1 − z)^(r + x) ₂F₁(r + x, b + x; c; z)
    = (1 − z)^(a − 1) ₂F₁(a + b − 1 − r, a − 1; c; z), which stays finite for any x and t
    unless a and b are very large; there the direct series is used.
    With the defaults (x = 0, age = 0) this is (9), E[X(t)] for a customer just acquired.
    """
    t_, x_, t_x_, age_ = _arrays(t, x, t_x, age)
    r, alpha, b = model.r, model.alpha, model.b
    a = model.a if abs(model.a - 1) > _A_NEAR_ONE else 1 + _A_NEAR_ONE
    c = a + b + x_ - 1
    z = t_ / (alpha + age_ + t_)
    with np.errstate(all="ignore"):
        hyper = (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)
        # Large a and b (almost no drop-out) overflow the transformed series: the direct one
        # converges there.
        direct = (1 - z) ** (r + x_) * special.hyp2f1(r + x_, b + x_, c, z)
    hyper = np.where(np.isfinite(hyper), hyper, direct)
    numerator = c / (a - 1) * (1 - hyper)
    result: Array = numerator * probability_alive(model, x_, t_x_, age_)
    return result


def probability_alive(model: BGNBD, x: ArrayLike, t_x: ArrayLike, age: ArrayLike) -> Array:
    """P(alive | x, t_x, T) = 1 / [1 + δ(x > 0) · a/(b + x − 1) · ((α + T)/(α + t_x))^(r + x)]
    (Fader, Hardie & Lee 2008, (1)); 1 for a customer who has not bought again, since the
    model lets customers drop out only right after a purchase."""
    x_, t_x_, age_ = _arrays(x, t_x, age)
    repeat = x_ > 0
    x_safe = np.where(repeat, x_, 1.0)
    log_odds = (
        np.log(model.a)
        - np.log(model.b + x_safe - 1)
        + (model.r + x_safe) * (np.log(model.alpha + age_) - np.log(model.alpha + t_x_))
    )
    result: Array = np.where(repeat, special.expit(-log_odds), 1.0)
    return result


def simulate_bgnbd(model: BGNBD, age: ArrayLike, rng: np.random.Generator) -> tuple[Array, Array]:
    """Histories (x, t_x) drawn from the BG/NBD model for customers observed for ``age`` periods
    after their first purchase: the model's own story, one purchase at a time."""
    (age_,) = _arrays(age)
    n = age_.size
    rate = rng.gamma(model.r, 1 / model.alpha, n)
    drop = rng.beta(model.a, model.b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        index = np.flatnonzero(active)
        now[index] += rng.exponential(1 / rate[index])
        bought = now[index] <= age_[index]
        buyers = index[bought]
        x[buyers] += 1
        t_x[buyers] = now[buyers]
        gone = rng.random(buyers.size) < drop[buyers]
        active[index[~bought]] = False
        active[buyers[gone]] = False
    return x, t_x


# -- Gamma-Gamma ------------------------------------------------------------------------------


def gamma_gamma_log_likelihood(
    p: float, q: float, gamma: float, x: ArrayLike, m_x: ArrayLike
) -> Array:
    """The log of the density of the average value m_x of x purchases (x ≥ 1, m_x > 0):

    f(m_x | p, q, γ, x) = Γ(px + q)/(Γ(px)Γ(q)) · γ^q m_x^(px − 1) x^(px) / (γ + m_x x)^(px + q).
    """
    x_, m_ = _arrays(x, m_x)
    px = p * x_
    result: Array = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m_)
        + px * np.log(x_)
        - (px + q) * np.log(gamma + m_ * x_)
    )
    return result


def fit_gamma_gamma(x: ArrayLike, m_x: ArrayLike, *, start: GammaGamma | None = None) -> GammaGamma:
    """The Gamma-Gamma parameters that maximise the likelihood of the customers with at least
    one repeat purchase and a positive average value (the others are left out)."""
    x_, m_ = _arrays(x, m_x)
    keep = (x_ >= 1) & (m_ > 0)
    x_, m_ = x_[keep], m_[keep]
    n = x_.size
    if n < 3:
        raise ModelError("the Gamma-Gamma model needs at least three repeat customers")

    def objective(theta: Array) -> float:
        p, q, gamma = np.exp(theta)
        total = float(np.sum(gamma_gamma_log_likelihood(p, q, gamma, x_, m_)))
        return -total / n if np.isfinite(total) else np.inf

    first = start or GammaGamma(1.0, 1.0, 1.0)
    theta, value = _minimise(objective, np.log([first.p, first.q, first.gamma]))
    p, q, gamma = (float(v) for v in np.exp(theta))
    return GammaGamma(p, q, gamma, log_likelihood=-value * n, customers=n)


def expected_average_value(model: GammaGamma, x: ArrayLike, m_x: ArrayLike) -> Array:
    """E[M | p, q, γ, m_x, x] = (γ + m_x x)p / (px + q − 1)
    = (q − 1)/(px + q − 1) · pγ/(q − 1) + px/(px + q − 1) · m_x:
    the population mean for a customer without repeat purchases (x = 0), their own average
    more and more as x grows. Needs q > 1 (otherwise the mean is infinite)."""
    if model.q <= 1:
        raise ModelError("the Gamma-Gamma model has q ≤ 1: the mean value is infinite")
    x_, m_ = _arrays(x, m_x)
    m_ = np.where(x_ > 0, m_, 0.0)
    result: Array = (model.gamma + m_ * x_) * model.p / (model.p * x_ + model.q - 1)
    return result


def simulate_gamma_gamma(model: GammaGamma, x: ArrayLike, rng: np.random.Generator) -> Array:
    """Average values m_x of ``x`` purchases drawn from the Gamma-Gamma model (0 where x = 0):
    the mean of x draws of gamma(p, ν) is gamma(px, νx)."""
    (x_,) = _arrays(x)
    nu = rng.gamma(model.q, 1 / model.gamma, x_.size)
    shape = np.where(x_ > 0, model.p * x_, 1.0)
    draws = rng.gamma(shape, 1 / (nu * np.maximum(x_, 1.0)))
    result: Array = np.where(x_ > 0, draws, 0.0)
    return result


# -- CLV --------------------------------------------------------------------------------------


def monthly_rate(annual: float) -> float:
    """The monthly discount rate equivalent to an annual one: (1 + annual)^(1/12) − 1."""
    return float((1 + annual) ** (1 / 12) - 1)


def monthly_purchases(
    model: BGNBD,
    x: ArrayLike,
    t_x: ArrayLike,
    age: ArrayLike,
    *,
    months: int,
    weeks_per_month: float = WEEKS_PER_MONTH,
) -> Array:
    """The purchases expected in each of the next ``months`` months, one row per customer:
    E[Y(k·w)] − E[Y((k − 1)·w)] by (10), w = ``weeks_per_month`` in the model's time unit."""
    x_, t_x_, age_ = _arrays(x, t_x, age)
    ends = np.arange(months + 1, dtype=np.float64) * weeks_per_month
    cumulative = expected_purchases(model, ends[None, :], x_[:, None], t_x_[:, None], age_[:, None])
    result: Array = np.diff(cumulative, axis=1)
    return result


def customer_lifetime_value(
    bgnbd: BGNBD,
    gamma_gamma: GammaGamma,
    x: ArrayLike,
    t_x: ArrayLike,
    age: ArrayLike,
    m_x: ArrayLike,
    *,
    months: int = 36,
    annual_discount: float = 0.10,
    weeks_per_month: float = WEEKS_PER_MONTH,
) -> Array:
    """The discounted value of each customer's purchases over the next ``months`` months:

    CLV = Σ_{k=1..months} E[M] · (E[Y(k·w)] − E[Y((k − 1)·w)]) / (1 + d)^k,

    d = `monthly_rate` (``annual_discount``), E[M] = `expected_average_value`.
    """
    per_month = monthly_purchases(
        bgnbd, x, t_x, age, months=months, weeks_per_month=weeks_per_month
    )
    rate = monthly_rate(annual_discount)
    discount = (1 + rate) ** -np.arange(1, months + 1, dtype=np.float64)
    value = expected_average_value(gamma_gamma, x, m_x)
    result: Array = value * (per_month @ discount)
    return result


# -- plumbing ---------------------------------------------------------------------------------


def _check_history(x: Array, t_x: Array, age: Array) -> None:
    if x.ndim != 1:
        raise ModelError("give one value per customer")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(age))):
        raise ModelError("the histories hold a missing or infinite value")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age):
        raise ModelError("need x ≥ 0 and 0 ≤ t_x ≤ age for every customer")


def _minimise(objective: Any, theta0: Array) -> tuple[Array, float]:
    """The minimum of ``objective`` over log-parameters: L-BFGS-B, then Nelder-Mead from its
    answer when it stopped on an error rather than at an optimum."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(theta0)
    found = optimize.minimize(
        objective, theta0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000}
    )
    if not found.success or not np.isfinite(found.fun):
        found = optimize.minimize(
            objective,
            found.x if np.all(np.isfinite(found.x)) else theta0,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 8000, "xatol": 1e-8, "fatol": 1e-12},
        )
    if not np.isfinite(found.fun):
        raise ModelError("the fit found no finite likelihood")
    return cast(Array, np.asarray(found.x, dtype=np.float64)), float(found.fun)
