"""Ross (2014) k-nearest-neighbour mutual information between a discrete label and a 1-D value.

    I = psi(N) - <psi(N_x)> + psi(k) - <psi(m)>

(B. C. Ross, PLoS ONE 9:e87357): for each point, d is the distance to its k-th nearest
neighbour among points with the same label, N_x the size of its label class and m the number
of points of any label within distance d (the k-th neighbour included, the point excluded).

In one dimension the k nearest same-label neighbours of a point are among the k preceding and
k following same-label points in sorted order, so a whole batch of labellings (permutations)
or multiplicity vectors (bootstrap resamples) is handled with sorts, shifts and binary searches;
there is no loop over points, permutations or resamples.

Ties and duplicates. Every point carries an integer multiplicity ``w`` (1 for the data, 0/1 for
the half-samples the episode bootstrap of ``level_of_influence`` uses; larger counts are
supported, but a with-replacement resample clumps the sample and shifts the estimate by ~0.1
nats whatever n, which is why the bootstrap does not use them). A point's own copies are never
its neighbours, so duplicates cannot produce zero distances; other points count with their
multiplicity. Genuine ties in the data (distinct episodes with
equal returns) are handled as Gao et al. (NeurIPS 2017) do for discrete-continuous mixtures:
``psi(k)`` is replaced by ``psi(k~)`` with k~ the same-label weight within distance d (k~ = k
when there are no ties), consistently with m, which also counts everything within d. No jitter
is added, so the estimate is invariant to relabelling, row order and increasing affine maps.
A class of size <= k uses k = size - 1; a point whose class has no other weight (a class of one
episode, or a resample that kept one episode of its class) is left out, as scikit-learn does.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

# Distances within this relative slack of d count as "within d": recomputing y +- d in floating
# point must not drop the k-th neighbour itself.
_RELATIVE_SLACK = 1e-10


def digamma_table(n: int) -> np.ndarray:
    """psi(0..n) with psi(0) set to 0 (never used with weight > 0)."""
    table = digamma(np.arange(n + 1, dtype=np.float64))
    table[0] = 0.0
    return table


def _shift(array: np.ndarray, offset: int, fill) -> np.ndarray:
    """``out[:, i] = array[:, i + offset]``, ``fill`` where that is outside the row."""
    out = np.full_like(array, fill)
    if offset > 0:
        out[:, :-offset] = array[:, offset:]
    else:
        out[:, -offset:] = array[:, :offset]
    return out


def _kth_neighbour(left, right, left_cum, right_cum, k_eff, k):
    """Distance to the k_eff-th (weighted) nearest candidate, and its signed slot offset.

    ``left[s]``/``right[s]``: distance to the s-th nearest candidate on each side (``[0]`` = 0,
    inf where a side runs out); ``*_cum[s]``: their cumulative weight. The answer is the best
    split of the neighbours between the sides, min over a of max(left[a], right[b(a)]), b(a)
    the fewest right candidates completing the weight -- no sort. Gathers are chains of
    ``where`` (much faster than fancy indexing on these shapes).
    """
    shape = k_eff.shape
    radius = np.full(shape, np.inf)
    offset = np.zeros(shape, dtype=np.int64)
    for taken in range(k + 1):
        need = k_eff - left_cum[taken]
        fewest = np.zeros(shape, dtype=np.int64)
        for step in range(k + 1):
            fewest += right_cum[step] < need
        right_pick = np.full(shape, np.inf)
        for step in range(k, -1, -1):
            right_pick = np.where(fewest == step, right[step], right_pick)
        from_right = right_pick >= left[taken]
        candidate = np.where(from_right, right_pick, left[taken])
        better = candidate < radius
        radius = np.where(better, candidate, radius)
        offset = np.where(better, np.where(from_right, fewest, -taken), offset)
    return radius, offset


def _weight_within(side_dist, side_cum, reach, k):
    """Cumulative weight of the candidates of one side within ``reach`` (sides are sorted)."""
    total = np.zeros(reach.shape, dtype=np.int64)
    for step in range(1, k + 1):
        total = np.where(side_dist[step] <= reach, side_cum[step], total)
    return total


def knn_mutual_information(
    values: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None,
    n_classes: int,
    k: int,
    psi: np.ndarray,
    ties: bool = True,
) -> np.ndarray:
    """Ross MI for a batch of labellings/multiplicities of the same sorted values.

    values: ``(N,)`` ascending. labels: ``(B, N)`` class codes in ``0..n_classes-1``.
    weights: ``(B, N)`` non-negative multiplicities (``None``: all ones). psi: ``digamma_table(N)``
    or longer. ``ties=False`` promises no near-ties in ``values`` (``has_near_ties`` false) and
    takes a cheaper route to the same counts. Returns ``(B,)`` estimates in nats.
    """
    labels = np.asarray(labels, dtype=np.int64)
    batch, n = labels.shape
    weights = np.ones((batch, n), dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
    rows = np.arange(batch)[:, None]

    # Group by label, drawn points first, keeping value order inside a group: within-group
    # neighbours are then adjacent. Gathers use flat indices (much faster than 2-D fancy ones).
    drawn = weights > 0
    key = labels * (2 * n) + (~drawn) * n + np.arange(n)
    order = np.argsort(key, axis=1)
    flat_order = order + rows * n
    label_g = labels.ravel()[flat_order]
    weight_g = weights.ravel()[flat_order]
    value_g = values[order]
    drawn_g = weight_g > 0

    class_weight = np.bincount((rows * n_classes + labels).ravel(), weights.ravel(), minlength=batch * n_classes)
    own_class_weight = class_weight.astype(np.int64)[rows * n_classes + label_g]
    k_eff = np.minimum(k, own_class_weight - weight_g)
    valid = drawn_g & (k_eff >= 1)

    # Distances and cumulative weights of the 1..k nearest drawn same-label points on each side
    # (index 0: none taken, distance 0); inf where a side runs out.
    sides = []
    for sign in (-1, 1):
        dist = np.zeros((k + 1, batch, n))
        cum = np.zeros((k + 1, batch, n), dtype=np.int64)
        for step in range(1, k + 1):
            same = (_shift(label_g, sign * step, -1) == label_g) & _shift(drawn_g, sign * step, False)
            gap = np.abs(_shift(value_g, sign * step, np.inf) - value_g)
            dist[step] = np.where(same, gap, np.inf)
            cum[step] = cum[step - 1] + np.where(same, _shift(weight_g, sign * step, 0), 0)
        sides.append((dist, cum))
    (left, left_cum), (right, right_cum) = sides
    # The k-th (weighted) nearest distance: the best split of the k neighbours between the two
    # sorted sides, min over a of max(left[a], right[b(a)]), b(a) the fewest right points that
    # complete the weight. No sort needed. Also remember where that neighbour sits.
    radius, neighbour_offset = _kth_neighbour(left, right, left_cum, right_cum, k_eff, k)
    slots = np.arange(n)
    neighbour_slot = slots + neighbour_offset
    radius = np.where(valid, radius, 0.0)
    reach = radius + _RELATIVE_SLACK * (np.abs(value_g) + radius)

    cumulative = np.zeros((batch, n + 1), dtype=np.int64)
    np.cumsum(weights, axis=1, out=cumulative[:, 1:])
    cumulative = cumulative.ravel()
    row_start = rows * (n + 1)
    if ties:
        # Weight of all points with sorted position in [low, high): exact whatever the ties.
        low = np.searchsorted(values, (value_g - reach).ravel(), side="left").reshape(batch, n)
        high = np.searchsorted(values, (value_g + reach).ravel(), side="right").reshape(batch, n)
        # Same for the point's own label: in the grouped order the flattened keys are sorted,
        # so one binary search over the whole batch finds the label's points in [low, high).
        group_key = key.ravel()[flat_order] + rows * (n_classes * 2 * n)
        base = rows * (n_classes * 2 * n) + label_g * (2 * n)
        flat_key = group_key.ravel()
        first = np.searchsorted(flat_key, (base + low).ravel(), side="left")
        last = np.searchsorted(flat_key, (base + high).ravel(), side="left")
        cumulative_g = np.zeros(batch * n + 1, dtype=np.int64)
        np.cumsum(weight_g.ravel(), out=cumulative_g[1:])
        k_tilde = (cumulative_g[last] - cumulative_g[first]).reshape(batch, n) - weight_g
    else:
        # No ties: the same-label weight within the radius is that of the candidates within
        # it, and on the k-th neighbour's side everything up to it is within the radius, so
        # one binary search (the other side) gives m.
        k_tilde = _weight_within(left, left_cum, reach, k) + _weight_within(right, right_cum, reach, k)
        position = order
        neighbour = order.ravel()[np.clip(np.where(valid, neighbour_slot, slots), 0, n - 1) + rows * n]
        on_right = neighbour > position
        bound = np.searchsorted(values, np.where(on_right, value_g - reach, value_g + reach).ravel()).reshape(batch, n)
        low = np.where(on_right, bound, neighbour)
        high = np.where(on_right, neighbour + 1, bound)
    m = cumulative[row_start + high] - cumulative[row_start + low] - weight_g

    used_weight = np.where(valid, weight_g, 0)
    used = used_weight.sum(1)
    per_point = psi[own_class_weight] - psi[np.maximum(k_tilde, 1)] + psi[np.maximum(m, 1)]
    mean_term = (used_weight * per_point).sum(1) / np.maximum(used, 1)
    return np.where(used > 0, psi[used] - mean_term, np.nan)


def near_tie_after(values: np.ndarray) -> np.ndarray:
    """``(n - 1,)``: whether sorted values p and p + 1 are equal up to the slack used when
    counting within d."""
    scale = np.abs(values).max() + (values[-1] - values[0])
    return np.diff(values) <= 4 * _RELATIVE_SLACK * scale


def has_near_ties(values: np.ndarray) -> bool:
    """Whether two sorted values are equal up to the slack used when counting within d."""
    return bool(near_tie_after(values).any())


def knn_permutation_null(
    values: np.ndarray,
    class_sizes: np.ndarray,
    k: int,
    psi: np.ndarray,
    rng: np.random.Generator,
    size: int,
) -> np.ndarray:
    """Ross MI of ``size`` random relabellings (class sizes kept), for values without ties.

    Same estimate as ``knn_mutual_information`` with unit weights, specialised for the null: a
    relabelling gives class ``c`` a uniformly random subset of ``class_sizes[c]`` positions, so
    we draw the positions already grouped by class (a shuffle, then a sort within each class
    segment). Class segments then sit at fixed slots, which fixes every validity mask, and
    without ties k~ = k, so only psi(m) varies between relabellings. ``values`` must be sorted
    with no near-ties (``has_near_ties`` false).
    """
    n = len(values)
    slot_class = np.repeat(np.arange(len(class_sizes)), class_sizes)
    k_slot = np.minimum(k, class_sizes[slot_class] - 1)
    shuffled = rng.permuted(np.broadcast_to(np.arange(n), (size, n)), axis=1)
    if (class_sizes == class_sizes[0]).all():  # equal classes: sort short segments only
        order = np.sort(shuffled.reshape(size, len(class_sizes), -1), axis=-1).reshape(size, n)
    else:
        order = np.sort(shuffled + slot_class * n, axis=1) - slot_class * n
    grouped = values[order]

    left = [np.zeros((size, n))]
    right = [np.zeros((size, n))]
    for step in range(1, k + 1):
        gap = np.full((size, n + step), np.inf)
        gap[:, step:n] = grouped[:, step:] - grouped[:, :-step]
        same = np.zeros(n + step, dtype=bool)
        same[step:n] = slot_class[step:] == slot_class[:-step]
        gap[:, ~same] = np.inf
        left.append(gap[:, :n])  # gap to the point `step` slots before
        right.append(gap[:, step:])  # gap to the point `step` slots after
    # k-th neighbour distance = best split of the k neighbours between the two sides; remember
    # on which side (and how many slots away) the k-th neighbour is.
    radius = np.full((size, n), np.inf)
    neighbour_slot = np.zeros((size, n), dtype=np.int64)
    slots = np.arange(n)
    for k_value in np.unique(k_slot[k_slot >= 1]):
        mine = k_slot == k_value
        for taken in range(k_value + 1):
            from_right = right[k_value - taken] >= left[taken]
            candidate = np.where(from_right, right[k_value - taken], left[taken])
            better = (candidate < radius) & mine
            radius = np.where(better, candidate, radius)
            neighbour_slot = np.where(better, np.where(from_right, slots + k_value - taken, slots - taken), neighbour_slot)

    # m = points within the radius: on the neighbour's side, everything up to the neighbour (no
    # ties, so exactly); on the other side, one binary search.
    valid = k_slot >= 1
    position = order
    neighbour = np.take_along_axis(order, np.where(valid, neighbour_slot, slots), 1)
    on_right = neighbour > position
    reach = radius + _RELATIVE_SLACK * (np.abs(grouped) + radius)
    bound = np.searchsorted(values, np.where(on_right, grouped - reach, grouped + reach).ravel()).reshape(size, n)
    m = np.where(on_right, neighbour - bound, bound - neighbour - 1)
    m = np.where(valid, m, 1)
    used = int(class_sizes[class_sizes > 1].sum())
    constant = psi[used] - (psi[class_sizes[slot_class]] - psi[np.maximum(k_slot, 1)])[valid].sum() / used
    return constant - psi[m][:, valid].sum(1) / used


