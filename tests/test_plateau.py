"""Settling step of a learning curve (loi.metrics.plateau) against hand-computed curves."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loi.errors import LoiError
from loi.metrics.plateau import settling_step


def test_exponential_approach_settles_at_tau_ln10():
    # Flat at 0 until x0, then y = 1 - exp(-(x - x0) / tau): the range is 1, so the curve is
    # within 10 % of its range of the final level 1 once exp(-(x - x0)/tau) < 0.1.
    x = np.arange(1, 1001, dtype=float) * 1000.0
    x0, tau = 100_000.0, 60_000.0
    noise = np.random.default_rng(0).normal(0.0, 0.005, x.size)
    result = settling_step(x, np.where(x < x0, 0.0, 1.0 - np.exp(-(x - x0) / tau)) + noise)
    assert result.reached
    assert result.step == pytest.approx(x0 + tau * np.log(10.0), rel=0.05)
    assert result.final == pytest.approx(1.0, abs=0.01)


def test_rise_then_decline_settles_where_the_decline_ends():
    # Self-play in a social dilemma: the return rises, then falls to a lower plateau at step 600.
    x = np.arange(1000, dtype=float)
    y = np.concatenate([np.linspace(0, 1, 300), np.linspace(1, 0.5, 300), np.full(400, 0.5)])
    result = settling_step(x, y)
    assert result.reached
    # Band = 0.1 * range (1.0) around 0.5: the decline enters it at 0.6, i.e. step 540; smoothing widens by <= 25.
    assert 520 <= result.step <= 570


def test_a_ramp_has_no_plateau():
    x = np.arange(200, dtype=float)
    result = settling_step(x, x * 0.01)
    assert not result.reached


def test_a_flat_curve_settled_from_the_start():
    x = np.arange(100, dtype=float)
    result = settling_step(x, np.full(100, 3.0))
    assert result.reached and result.step == 0.0 and result.fraction == 0.0


@settings(max_examples=50, deadline=None)
@given(scale=st.floats(0.01, 100.0) | st.floats(-100.0, -0.01), shift=st.floats(-1e3, 1e3),
       seed=st.integers(0, 2**16))
def test_invariant_to_shift_and_scale(scale, shift, seed):
    x = np.arange(1, 301, dtype=float)
    y = 1 - np.exp(-x / 40) + np.random.default_rng(seed).normal(0, 0.02, x.size)
    base = settling_step(x, y)
    moved = settling_step(x, scale * y + shift)
    assert moved.step == base.step and moved.reached == base.reached


@pytest.mark.parametrize(
    "steps, values, message",
    [
        (np.arange(5), np.arange(5), "at least 10 points"),
        (np.arange(20), np.r_[np.arange(19.0), np.nan], "NaN"),
        (np.r_[np.arange(10), 5], np.arange(11.0), "strictly increasing"),
        (np.arange(20), np.arange(19.0), "differ in length"),
    ],
)
def test_bad_curves_are_named(steps, values, message):
    with pytest.raises(LoiError, match=message):
        settling_step(steps, values)


def test_late_change_measures_how_much_a_curve_still_moves_at_the_end():
    x = np.arange(100, dtype=float)
    # A ramp 0..99: the last fifth's mean (89.5) minus the previous fifth's (69.5) is 20; the smoothed
    # range is 97 (5-point moving average; the end points average over the 3 points that exist: 1 and 98).
    assert settling_step(x, x).late_change == pytest.approx(20 / 97)
    # Rise then fall by a lot, flat for the last 40 %: nothing moves at the end.
    assert settling_step(x, np.r_[np.linspace(0, 10, 30), np.linspace(10, 1, 30), np.ones(40)]).late_change == 0.0
    flat_end = np.minimum(x, 60.0)
    assert settling_step(x, flat_end).late_change == pytest.approx(0.0)
    assert np.isnan(settling_step(x, np.ones(100)).late_change)
