"""The BG/NBD and Gamma-Gamma models: the published CDNOW fits, figures worked by hand,
parameters recovered from data simulated with them, and a fit of 100,000 customers."""

from __future__ import annotations

import time

import numpy as np
import pytest

from server.analytics import clv
from tests import cdnow

# Fader, Hardie & Lee (2005a), Marketing Science 24(2), section 4: the BG/NBD on CDNOW.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
# Fader, Hardie & Lee (2005b), JMR 42(4), and Fader & Hardie (2013), "The Gamma-Gamma Model
# of Monetary Value": the spend model on the 946 CDNOW customers with repeat purchases.
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PAPER = clv.BGNBD(0.243, 4.414, 0.793, 2.426)


async def test_bgnbd_on_cdnow_gives_the_published_parameters() -> None:
    data = cdnow.customers()
    assert data.x.size == 2357

    model = clv.fit_bgnbd(data.x, data.t_x, data.age)

    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(model, name) == pytest.approx(published, rel=0.01), name
    assert model.log_likelihood == pytest.approx(PUBLISHED_LL, abs=0.05)
    assert model.customers == 2357


async def test_gamma_gamma_on_cdnow_gives_the_published_parameters() -> None:
    data = cdnow.customers()

    model = clv.fit_gamma_gamma(data.x, data.m_x)

    assert model.customers == 946  # those with at least one repeat purchase
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert getattr(model, name) == pytest.approx(published, rel=0.01), name


async def test_the_papers_example_customer() -> None:
    # Customer 1 of the sample: 2 repeat purchases, the last in week 30.43, observed for 38.86
    # weeks. The paper expects 1.226 purchases of them in the next 39 weeks.
    assert clv.expected_purchases(PAPER, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)
    # P(alive) by hand: 1 / (1 + 0.793/3.426 · (43.274/34.844)^2.243) = 1 / (1 + 0.37633)
    assert clv.probability_alive(PAPER, 2, 30.43, 38.86) == pytest.approx(0.72657, abs=1e-4)


async def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence() -> None:
    alive = clv.probability_alive(PAPER, [0, 0, 5, 5], [0, 0, 10, 10], [10, 70, 10, 70])

    assert alive[0] == alive[1] == 1
    assert alive[2] == pytest.approx(1 / (1 + 0.793 / 6.426))  # just bought: (α+T)/(α+t_x) = 1
    assert alive[3] < 0.01  # five purchases in ten weeks, then sixty weeks of silence


async def test_a_new_customer_starts_buying_at_the_mean_rate() -> None:
    # At t → 0 everyone is alive, so purchases come at the mean rate r/α = 0.243/4.414 a week.
    assert clv.expected_purchases(PAPER, 1e-4) / 1e-4 == pytest.approx(0.055052, rel=1e-4)
    # Without drop-out (a/(a + b) → 0) the NBD gives E[X(t)] = rt/α exactly: 2 × 10/10.
    assert clv.expected_purchases(clv.BGNBD(2, 10, 2, 1e6), 10) == pytest.approx(2, rel=1e-5)


async def test_expected_average_value_by_hand() -> None:
    spend = clv.GammaGamma(6.25, 3.74, 15.44)

    # (γ + m_x x) p / (p x + q − 1) = (15.44 + 44.70) × 6.25 / 15.24
    assert clv.expected_average_value(spend, 2, 22.35) == pytest.approx(24.6637, abs=1e-4)
    # No repeat purchase: the population mean pγ/(q − 1) = 96.5 / 2.74
    assert clv.expected_average_value(spend, 0, 0) == pytest.approx(35.2190, abs=1e-4)
    assert spend.population_mean == pytest.approx(35.2190, abs=1e-4)
    with pytest.raises(clv.ModelError):
        clv.expected_average_value(clv.GammaGamma(1, 0.9, 1), 1, 10)


async def test_clv_by_hand() -> None:
    assert clv.monthly_rate(0.10) == pytest.approx(0.0079741404, rel=1e-8)
    # A customer of a model without drop-out buys rw/α = 2 × 4.348214/10 = 0.869643 times a
    # month, each worth pγ/(q − 1) = 10, so 8.696429 a month; over 12 months discounted at
    # 10 % a year: 8.696429 × Σ 1.1^(−k/12) = 8.696429 × 11.400489 = 99.1435.
    steady = clv.BGNBD(2, 10, 2, 1e6)
    spend = clv.GammaGamma(2, 3, 10)
    value = clv.customer_lifetime_value(
        steady, spend, [0], [0], [0], [0], months=12, annual_discount=0.10
    )
    assert value[0] == pytest.approx(99.1435, rel=1e-4)
    # Without discounting, the monthly expectations add up to the expectation over the horizon.
    x, t_x, age, m_x = [2, 0, 7], [30.43, 0, 20], [38.86, 38.86, 38.86], [22.35, 0, 40]
    undiscounted = clv.customer_lifetime_value(
        PAPER, spend, x, t_x, age, m_x, months=36, annual_discount=0
    )
    horizon = 36 * clv.WEEKS_PER_MONTH
    expected = clv.expected_purchases(PAPER, horizon, x, t_x, age)
    assert undiscounted == pytest.approx(expected * clv.expected_average_value(spend, x, m_x))
    # Discounting takes something off every customer, more off the ones who buy for longer.
    discounted = clv.customer_lifetime_value(PAPER, spend, x, t_x, age, m_x, months=36)
    assert np.all(discounted < undiscounted)


async def test_fits_recover_the_parameters_of_simulated_customers() -> None:
    # 10,000 customers observed for 52–104 weeks, drawn with the CDNOW parameters. Each
    # tolerance is above the largest deviation found over 150 seeds: r 10 %, α 15 %, a 35 %
    # and b 40 % (the drop-out parameters are less well told apart), the mean purchase rate
    # r/α and the mean drop-out probability a/(a + b) 10 %; Gamma-Gamma q 10 %, p and γ 35 %
    # (they trade against each other), the mean value pγ/(q − 1) 5 %.
    rng = np.random.default_rng(16)
    truth = clv.BGNBD(0.243, 4.414, 0.793, 2.426)
    spend_truth = clv.GammaGamma(6.25, 3.74, 15.44)
    age = rng.uniform(52, 104, 10_000)
    x, t_x = clv.simulate_bgnbd(truth, age, rng)
    m_x = clv.simulate_gamma_gamma(spend_truth, x, rng)

    model = clv.fit_bgnbd(x, t_x, age)
    spend = clv.fit_gamma_gamma(x, m_x)

    assert model.r == pytest.approx(truth.r, rel=0.10)
    assert model.alpha == pytest.approx(truth.alpha, rel=0.15)
    assert model.a == pytest.approx(truth.a, rel=0.35)
    assert model.b == pytest.approx(truth.b, rel=0.40)
    assert model.r / model.alpha == pytest.approx(truth.r / truth.alpha, rel=0.10)
    assert model.a / (model.a + model.b) == pytest.approx(truth.a / (truth.a + truth.b), rel=0.10)
    assert spend.q == pytest.approx(spend_truth.q, rel=0.10)
    assert spend.p == pytest.approx(spend_truth.p, rel=0.35)
    assert spend.gamma == pytest.approx(spend_truth.gamma, rel=0.35)
    assert spend.population_mean == pytest.approx(spend_truth.population_mean, rel=0.05)
    # The fit is a maximum: no worse than the truth it was drawn from.
    at_truth = clv.bgnbd_log_likelihood(truth.r, truth.alpha, truth.a, truth.b, x, t_x, age)
    assert model.log_likelihood >= float(np.sum(at_truth))


async def test_simulated_histories_are_consistent() -> None:
    rng = np.random.default_rng(1)
    age = rng.uniform(10, 50, 5000)
    x, t_x = clv.simulate_bgnbd(PAPER, age, rng)
    m_x = clv.simulate_gamma_gamma(clv.GammaGamma(6.25, 3.74, 15.44), x, rng)

    assert np.all((t_x >= 0) & (t_x <= age))
    assert np.all((x == 0) == (t_x == 0))
    assert np.all((m_x > 0) == (x > 0))
    # The model's own expectation for customers of those ages, against what was drawn.
    assert x.mean() == pytest.approx(clv.expected_purchases(PAPER, age).mean(), rel=0.1)


async def test_a_fit_of_100000_customers_takes_seconds() -> None:
    rng = np.random.default_rng(100_000)
    age = rng.uniform(4, 156, 100_000)
    x, t_x = clv.simulate_bgnbd(PAPER, age, rng)

    started = time.perf_counter()
    model = clv.fit_bgnbd(x, t_x, age)
    took = time.perf_counter() - started

    assert took < 20, f"{took:.1f} s"
    assert model.r == pytest.approx(PAPER.r, rel=0.05)


async def test_impossible_histories_are_refused() -> None:
    with pytest.raises(clv.ModelError):
        clv.fit_bgnbd([1, 2, 0, 1], [5, 3, 0, 9], [4, 10, 10, 10])  # t_x > T
    with pytest.raises(clv.ModelError):
        clv.fit_bgnbd([1, 0], [1, 0], [2, 2])  # too few customers
    with pytest.raises(clv.ModelError):
        clv.fit_gamma_gamma([0, 0, 1], [0, 0, 5])  # too few repeat customers
