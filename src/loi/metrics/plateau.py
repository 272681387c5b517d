"""When has a learning curve reached its plateau? (the settling step)

A control engineer's settling time, applied to a noisy training curve: smooth
the curve with a centred moving average, take its final level (the mean of the
last ``tail`` fraction of the raw points) and its range (max - min of the
smoothed curve); the curve has *settled* at the first step after which the
smoothed curve never again leaves the band ``final +- tolerance * range``.
A curve whose settling step falls in its last ``tail`` fraction has not been
seen flat for long enough to call it a plateau (``reached`` is False), and
neither has one whose level still moves by more than ``tolerance`` of its
range over the last ``tail`` fraction (``late_change`` below): a curve still
climbing can sit inside the band and yet not be flat.

The band is a lenient test for a curve that creeps up slowly; ``late_change``
is the strict companion: the change of the mean level from the second-to-last
to the last ``tail`` fraction of the curve, as a fraction of the smoothed
curve's range (a rise-then-fall curve has a small net change, so the range is
the better-conditioned scale). A curve still rising by 10 % of its range per
fifth of training has settled by the band rule but is not flat.

The rule does not need the curve to be monotone (self-play in a social dilemma
typically rises, then drifts down as defection takes over) and is invariant to
shifting and scaling the values (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loi.errors import LoiError


@dataclass(frozen=True)
class PlateauResult:
    """``step``: the settling step (``None`` when the curve never settles, i.e.
    only at its very last point); ``reached``: settled before the final
    ``tail`` fraction of the curve and no longer moving (``|late_change|`` at
    most ``tolerance``); ``final``: the plateau level; ``band``: its
    half-width; ``fraction``: ``step`` as a fraction of the last step;
    ``late_change``: see the module docstring (NaN for a constant curve)."""

    step: float | None
    reached: bool
    final: float
    band: float
    fraction: float | None
    late_change: float


def settling_step(steps, values, *, tolerance: float = 0.1, tail: float = 0.2,
                  window: float = 0.05) -> PlateauResult:
    """The settling step of the curve ``values`` sampled at increasing ``steps``.

    ``window`` is the moving-average width as a fraction of the points (at
    least 3 points, odd); ``tolerance`` the band's half-width as a fraction of
    the smoothed curve's range.
    """
    x = np.asarray(steps, dtype=np.float64).ravel()
    y = np.asarray(values, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise LoiError(f"steps and values differ in length ({x.size} vs {y.size})")
    if x.size < 10:
        raise LoiError(f"a learning curve needs at least 10 points to judge a plateau, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise LoiError("the learning curve contains NaN or infinite values")
    if np.any(np.diff(x) <= 0):
        raise LoiError("steps must be strictly increasing")
    for name, value in (("tolerance", tolerance), ("tail", tail), ("window", window)):
        if not 0.0 < value < 1.0:
            raise LoiError(f"{name} must lie in (0, 1), got {value!r}")
    width = max(3, int(round(window * x.size)) | 1)
    # Centred moving average; the edges average over the points that exist.
    kernel = np.ones(width)
    counts = np.convolve(np.ones_like(y), kernel, mode="same")
    smooth = np.convolve(y, kernel, mode="same") / counts
    tail_start = int(np.floor((1.0 - tail) * x.size))
    final = float(y[tail_start:].mean())
    tail_points = x.size - tail_start
    previous = float(y[max(0, tail_start - tail_points):tail_start].mean())
    spread = float(smooth.max() - smooth.min())
    late_change = (final - previous) / spread if spread > 0 else float("nan")
    band = tolerance * spread
    outside = np.flatnonzero(np.abs(smooth - final) > band)
    first_inside = 0 if outside.size == 0 else int(outside[-1]) + 1
    if first_inside >= x.size:
        return PlateauResult(step=None, reached=False, final=final, band=band, fraction=None,
                             late_change=late_change)
    step = float(x[first_inside])
    still_moving = bool(np.isfinite(late_change) and abs(late_change) > tolerance)
    return PlateauResult(step=step, reached=first_inside < tail_start and not still_moving, final=final, band=band,
                         fraction=step / float(x[-1]), late_change=late_change)
