"""Compiled (numba) kernels for the resampling loops of the kNN estimator.

A resample (a relabelling for the permutation null, a half-sample for the bootstrap) is drawn
and evaluated inside one compiled loop, so no ``(resamples, n)`` array is ever built:

* draws: each resample has its own splitmix64 stream, started from ``(seed, resample index)``,
  so a result depends only on the seed, never on how resamples are split over calls or threads.
  A relabelling is a Fisher-Yates shuffle of the class labels over the sorted positions; a
  half-sample keeps ``max(size // 2, min(size, 2))`` of each class's episodes, chosen by
  selection sampling (Knuth's algorithm S), which yields them already in value order;
* evaluation: the kept members of each class, listed in value order, give each point's k-th
  same-class neighbour by a merge of the k preceding and k following members; ``m`` and ``k~``
  (all kept points / kept same-class points within the radius, as ``knn_mutual_information``
  counts them) come from a bucket index over the sorted values -- an O(1) search on spread-out
  values, a binary search inside a bucket where values crowd or tie.

``null_labels`` and ``half_sample_labels`` expose the draws (``tests/test_metrics_kernels.py``
checks that the statistics are those of ``knn_mutual_information`` on exactly these labellings,
and that the labellings are uniform).

Counting rule, as in ``knn_mutual_information``: a point is "within d" of ``y`` when its value
lies in ``[y - reach, y + reach]``, ``reach = d + slack (|y| + d)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from loi.metrics.knn import _RELATIVE_SLACK, near_tie_after

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1 << 32)
# A bucket holding more sorted positions than this is searched by bisection, not by a scan.
_LINEAR_SCAN = 16


# ----------------------------------------------------------------------------- random draws


@njit(cache=True, nogil=True, inline="always")
def _mix(z):
    """splitmix64's output function (Steele, Lea & Flood 2014)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _stream(seed, resample):
    """Start state of one resample's stream: a hash of (seed, resample), not a neighbour of the
    other resamples' states."""
    return _mix(_mix(np.uint64(seed) + _GOLDEN) ^ (np.uint64(resample) * _GOLDEN))


@njit(cache=True, nogil=True, inline="always")
def _next(state):
    state = state + _GOLDEN
    return state, _mix(state)


@njit(cache=True, nogil=True, inline="always")
def _below(state, bound):
    """Uniform integer in ``[0, bound)``, ``1 <= bound < 2**32``, exactly (Lemire 2019)."""
    bound = np.uint64(bound)
    state, x = _next(state)
    product = (x >> np.uint64(32)) * bound
    if (product & _LOW32) < bound:
        threshold = (_TWO32 - bound) % bound
        while (product & _LOW32) < threshold:
            state, x = _next(state)
            product = (x >> np.uint64(32)) * bound
    return state, np.int64(product >> np.uint64(32))


@njit(cache=True, nogil=True, inline="always")
def _uniform(state):
    """Uniform double in ``[0, 1)`` (53 random bits)."""
    state, x = _next(state)
    return state, np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _shuffle_labels(slot_class, seed, resample, labels):
    """``labels``: ``slot_class`` in uniformly random order (Fisher-Yates)."""
    labels[:] = slot_class
    state = _stream(seed, resample)
    for i in range(len(labels) - 1, 0, -1):
        state, j = _below(state, i + 1)
        held = labels[i]
        labels[i] = labels[j]
        labels[j] = held


@njit(cache=True, nogil=True)
def _half_sample(padded, members, class_start, seed, resample, kept, kept_values, kept_start):
    """Of each class's ``members`` (sorted positions), keep ``max(size // 2, min(size, 2))``
    uniformly without replacement, in order, into ``kept`` / ``kept_values`` / ``kept_start``
    (the layout of ``_group_positions``)."""
    state = _stream(seed, resample)
    slot = _PAD
    for c in range(len(class_start) - 1):
        kept_start[c] = slot
        _sentinels(kept_values, slot)
        first, end = class_start[c], class_start[c + 1]
        size = end - first
        needed = max(size // 2, min(size, 2))
        for i in range(size):  # keep member i with probability needed / (members left)
            state, u = _uniform(state)
            # Written always, kept by advancing `slot`: a coin flip is no branch to predict.
            take = np.int64(u * (size - i) < needed)
            kept[slot] = members[first + i]
            kept_values[slot] = padded[0, members[first + i] + 1]
            slot += take
            needed -= take
        slot += 2 * _PAD
    kept_start[len(class_start) - 1] = slot
    _sentinels(kept_values, slot)


# ----------------------------------------------------------------------------- evaluation


@njit(cache=True, nogil=True)
def bucket_index(values, buckets):
    """A search index over the sorted ``values`` (row 0) and their mirror image ``-values[::-1]``
    (row 1, so that searches towards either side are the same search): ``padded[row]``: the
    row's values between -inf and +inf (``padded[row, p + 1]`` is position ``p``);
    ``first[row, b]``: the first position in bucket ``b`` or later (``first[row, buckets] = n``),
    buckets of equal width from ``origin[row]`` with ``scale`` buckets per unit."""
    n = len(values)
    padded = np.empty((2, n + 2))
    padded[:, 0], padded[:, n + 1] = -np.inf, np.inf
    padded[0, 1:n + 1] = values
    padded[1, 1:n + 1] = -values[::-1]
    span = values[-1] - values[0] if n else 0.0
    scale = buckets / span if span > 0 else 0.0
    origin = np.zeros(2)
    first = np.empty((2, buckets + 1), dtype=np.int32)  # positions: blocks of < 2**31 episodes
    for row in range(2):
        origin[row] = padded[row, 1] if n else 0.0
        position = 0
        for b in range(buckets + 1):
            while position < n and min(int((padded[row, position + 1] - origin[row]) * scale), buckets - 1) < b:
                position += 1
            first[row, b] = position
    return padded, first, origin, scale


@njit(cache=True, nogil=True, inline="always")
def _first_at_least(padded, first, origin, scale, row, x):
    """The first position of ``row`` (see ``bucket_index``) whose value is ``>= x``."""
    buckets = first.shape[1] - 1
    t = (x - origin[row]) * scale
    b = 0 if t <= 0.0 else min(int(t), buckets - 1)  # non-decreasing in x
    low, high = np.int64(first[row, b]), np.int64(first[row, b + 1])  # earlier positions are < x, later > x
    if high - low <= _LINEAR_SCAN:
        # Buckets are narrow (a few per value): mostly 0 or 1 step, the first one branch-free.
        # No `low < high` test: positions from `high` on are > x (or +inf past the end).
        low += padded[row, low + 1] < x
        while padded[row, low + 1] < x:
            low += 1
        return low
    while low < high:  # values crowd or tie here
        middle = (low + high) // 2
        if padded[row, middle + 1] < x:
            low = middle + 1
        else:
            high = middle
    return low


@njit(cache=True, nogil=True, inline="always")
def _first_slot_at_least(kept, low, high, position, downward):
    """The first slot of ``kept[low:high]`` (ascending) holding ``>= position``: a short scan
    from the end where the answer is expected (``downward``: from ``high``), then bisection
    (a class with many tied values)."""
    if downward:
        scan_end = max(low, high - _LINEAR_SCAN)
        while high > scan_end and kept[high - 1] >= position:
            high -= 1
        if high > scan_end or high == low:
            return high
    else:
        scan_end = min(high, low + _LINEAR_SCAN)
        while low < scan_end and kept[low] < position:
            low += 1
        if low < scan_end or low == high:
            return low
    while low < high:
        middle = (low + high) // 2
        if kept[middle] < position:
            low = middle + 1
        else:
            high = middle
    return low


@njit(cache=True, nogil=True)
def _exact_point(padded, first, origin, scale, kept, kept_values, start, end, member, k_eff):
    """(low, high, k~) of one point, whatever the ties: ``values[low:high]`` are within reach."""
    n = padded.shape[1] - 2
    value = kept_values[member]
    # The k_eff-th smallest distance to the class members on either side (a merge).
    left, right = member - 1, member + 1
    radius = 0.0
    for _ in range(k_eff):
        d_left = value - kept_values[left] if left >= start else np.inf
        d_right = kept_values[right] - value if right < end else np.inf
        if d_left <= d_right:
            radius = d_left
            left -= 1
        else:
            radius = d_right
            right += 1
    reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
    low = _first_at_least(padded, first, origin, scale, 0, value - reach)
    high = n - _first_at_least(padded, first, origin, scale, 1, -(value + reach))  # row 1: values > value + reach
    # Same-class points within reach: the k_eff taken, and any beyond them that tie.
    k_tilde = k_eff + (left + 1 - _first_slot_at_least(kept, start, left + 1, low, True))
    k_tilde += _first_slot_at_least(kept, right, end, high, False) - right
    return low, high, k_tilde


@njit(cache=True, nogil=True)
def ross_classes(index, kept, kept_values, kept_start, cumulative, k, psi, work):
    """Ross MI of the kept points (``index``: ``SortedValues.index``):
    ``kept[kept_start[c]:kept_start[c + 1] - 2 _PAD]`` are the sorted positions of class ``c``'s
    points, ascending, ``kept_values`` their values, between sentinels (``_group_positions``).
    ``cumulative[p]``: kept points before position ``p`` (length 0: every point is kept).
    ``work``: scratch (``_work``).

    A class with k_eff = 3 (the default k) goes in three short passes with few data-dependent
    branches: the 3rd nearest neighbour and everything but one boundary; the search for that
    boundary; m and the sum. Points the first pass cannot settle (ties) are counted exactly in
    the last."""
    padded, first, origin, scale, tie_after = index
    every_point = len(cumulative) == 0
    n = padded.shape[1] - 2
    targets, rows, fars, k_tildes, exact = work
    total, used = 0.0, 0
    for c in range(len(kept_start) - 1):
        start, end = kept_start[c], kept_start[c + 1] - 2 * _PAD
        size = end - start
        k_eff = min(k, size - 1)
        if k_eff < 1:
            continue
        used += size
        total += size * psi[size]
        if k_eff != 3:
            for member in range(start, end):
                low, high, k_tilde = _exact_point(padded, first, origin, scale, kept, kept_values, start, end,
                                                  member, k_eff)
                m = high - low - 1 if every_point else cumulative[high] - cumulative[low] - 1
                total += psi[max(m, 1)] - psi[k_tilde]
            continue
        for i in range(size):
            member = start + i
            value = kept_values[member]
            # The 3rd smallest of two ascending lists, the sentinels standing in for missing ones.
            l1, l2, l3 = (value - kept_values[member - 1], value - kept_values[member - 2],
                          value - kept_values[member - 3])
            r1, r2, r3 = (kept_values[member + 1] - value, kept_values[member + 2] - value,
                          kept_values[member + 3] - value)
            radius = min(min(l3, r3), min(max(l1, r2), max(l2, r1)))
            reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
            on_left = (l1 <= reach) + (l2 <= reach) + (l3 <= reach)
            on_right = (r1 <= reach) + (r2 <= reach) + (r3 <= reach)
            # Every point from here to the farthest candidate within reach on the 3rd
            # neighbour's side is within reach, and nothing beyond it unless it has a near-tie
            # there; so only the other side is searched (row 1 searches rightwards).
            row = np.int64((radius == l1) | (radius == l2) | (radius == l3))
            far = kept[member + on_right - row * (on_left + on_right)]
            rows[i], fars[i], k_tildes[i] = row, far, on_left + on_right
            targets[i] = (1 - 2 * row) * value - reach
            # A near-tie past the far candidate, or a 4th candidate within reach: count exactly.
            exact[i] = (tie_after[far + 1 - row] | (value - kept_values[member - 4] <= reach)
                        | (kept_values[member + 4] - value <= reach))
        for i in range(size):
            targets[i] = _first_at_least(padded, first, origin, scale, rows[i], targets[i])
        for i in range(size):
            q, row, far, k_tilde = np.int64(targets[i]), rows[i], fars[i], k_tildes[i]
            low = q + row * (far - q)
            high = far + 1 + row * (n - q - far - 1)
            if exact[i]:
                low, high, k_tilde = _exact_point(padded, first, origin, scale, kept, kept_values, start, end,
                                                  start + i, 3)
            m = high - low - 1 if every_point else cumulative[high] - cumulative[low] - 1
            total += psi[max(m, 1)] - psi[k_tilde]
    if used == 0:
        return np.nan
    return psi[used] - total / used


@njit(cache=True, nogil=True, inline="always")
def _work(n):
    """Scratch of ``ross_classes``: search targets (then results), rows, far positions, k~, exact."""
    return (np.empty(n), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64),
            np.empty(n, dtype=np.bool_))


# Class lists (``kept``, ``kept_values``) leave _PAD slots before and after each class, holding
# -inf before and +inf after its values: the default k's merge (and its look at a 4th candidate)
# needs no bounds checks.
_PAD = 4


@njit(cache=True, nogil=True, inline="always")
def _sentinels(kept_values, start):
    """The -inf / +inf slots around a class beginning at ``start`` (its +inf ones end the
    previous class)."""
    for j in range(1, _PAD + 1):
        kept_values[start - j] = -np.inf
        if start - _PAD - j >= 0:
            kept_values[start - _PAD - j] = np.inf


@njit(cache=True, nogil=True, inline="always")
def _group_positions(padded, labels, n_classes, kept, kept_values, kept_start, cumulative):
    """Sorted positions of each class's points (``labels[p] < 0``: left out) into ``kept``,
    their values into ``kept_values``: class ``c`` fills ``kept_start[c]`` up to
    ``kept_start[c + 1] - 2 _PAD``, between sentinels. ``cumulative`` (length n + 1, or 0 when
    every label is >= 0) counts the kept points before each position."""
    kept_start[:] = 0
    for p in range(len(labels)):
        if labels[p] >= 0:
            kept_start[labels[p] + 1] += 1
    kept_start[0] = _PAD
    for c in range(n_classes):
        kept_start[c + 1] += kept_start[c] + 2 * _PAD
    for c in range(n_classes + 1):
        _sentinels(kept_values, kept_start[c])
    fill = kept_start[:n_classes].copy()
    count = 0
    for p in range(len(labels)):
        if len(cumulative):
            cumulative[p] = count
        label = labels[p]
        if label >= 0:
            kept[fill[label]] = p
            kept_values[fill[label]] = padded[0, p + 1]
            fill[label] += 1
            count += 1
    if len(cumulative):
        cumulative[len(labels)] = count


# ----------------------------------------------------------------------------- batches
#
# One resample's scratch: labels, kept, kept_values, kept_start, cumulative, ross_classes' work.


@njit(cache=True, nogil=True, inline="always")
def _scratch(n, n_classes):
    slots = n + 2 * _PAD * (n_classes + 1)
    return (np.empty(n, dtype=np.int32), np.empty(slots, dtype=np.int64), np.empty(slots),
            np.empty(n_classes + 1, dtype=np.int64), np.empty(n + 1, dtype=np.int64), _work(n))


@njit(cache=True, nogil=True)
def _null_one(index, slot_class, n_classes, k, psi, seed, resample, scratch):
    labels, kept, kept_values, kept_start, _, work = scratch
    _shuffle_labels(slot_class, seed, resample, labels)
    every_point = kept[:0]
    _group_positions(index[0], labels, n_classes, kept, kept_values, kept_start, every_point)
    return ross_classes(index, kept, kept_values, kept_start, every_point, k, psi, work)


@njit(cache=True, nogil=True)
def _half_one(index, members, class_start, k, psi, seed, resample, scratch):
    _, kept, kept_values, kept_start, cumulative, work = scratch
    _half_sample(index[0], members, class_start, seed, resample, kept, kept_values, kept_start)
    cumulative[:] = 0
    for c in range(len(kept_start) - 1):
        for i in range(kept_start[c], kept_start[c + 1] - 2 * _PAD):
            cumulative[kept[i] + 1] = 1
    for p in range(len(cumulative) - 1):
        cumulative[p + 1] += cumulative[p]
    return ross_classes(index, kept, kept_values, kept_start, cumulative, k, psi, work)


@njit(cache=True, nogil=True)
def _null_rows(index, slot_class, n_classes, k, psi, seed, offset, out):
    scratch = _scratch(index[0].shape[1] - 2, n_classes)
    for s in range(len(out)):
        out[s] = _null_one(index, slot_class, n_classes, k, psi, seed, offset + s, scratch)


@njit(cache=True, parallel=True)
def _null_rows_parallel(index, slot_class, n_classes, k, psi, seed, offset, out):
    for s in prange(len(out)):
        out[s] = _null_one(index, slot_class, n_classes, k, psi, seed, offset + s,
                           _scratch(index[0].shape[1] - 2, n_classes))


@njit(cache=True, nogil=True)
def _half_rows(index, members, class_start, k, psi, seed, offset, out):
    scratch = _scratch(index[0].shape[1] - 2, len(class_start) - 1)
    for s in range(len(out)):
        out[s] = _half_one(index, members, class_start, k, psi, seed, offset + s, scratch)


@njit(cache=True, parallel=True)
def _half_rows_parallel(index, members, class_start, k, psi, seed, offset, out):
    for s in prange(len(out)):
        out[s] = _half_one(index, members, class_start, k, psi, seed, offset + s,
                           _scratch(index[0].shape[1] - 2, len(class_start) - 1))


@njit(cache=True, nogil=True)
def _labelled_rows(index, labels, n_classes, k, psi, out):
    _, kept, kept_values, kept_start, cumulative, work = _scratch(labels.shape[1], n_classes)
    for s in range(labels.shape[0]):
        _group_positions(index[0], labels[s], n_classes, kept, kept_values, kept_start, cumulative)
        out[s] = ross_classes(index, kept, kept_values, kept_start, cumulative, k, psi, work)


# ----------------------------------------------------------------------------- entry points

# Buckets of the search index per value: with a few, a search mostly ends in the first step
# (8 measured a little faster than 4, clearly faster than 1-2); at most MAX_BUCKETS (2 x 64 MB).
BUCKETS_PER_VALUE = 8
MAX_BUCKETS = 1 << 23


class SortedValues:
    """Sorted values with their search index (``bucket_index``) and ``tie_after[p + 1]``:
    positions p and p + 1 are near-ties (``knn.near_tie_after``); built once per block."""

    def __init__(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=np.float64)
        tie_after = np.zeros(len(values) + 1, dtype=np.bool_)
        tie_after[1:len(values)] = near_tie_after(values)
        self.index = (*bucket_index(values, int(np.clip(BUCKETS_PER_VALUE * len(values), 1, MAX_BUCKETS))),
                      tie_after)


def null_statistics(sorted_values: SortedValues, slot_class, n_classes, k, psi, seed, size, offset=0,
                    parallel=False):
    """Ross MI of relabellings ``offset .. offset + size - 1`` of ``seed`` (``null_labels``):
    ``slot_class`` (the class sizes, as a sorted label vector) dealt to random positions."""
    out = np.empty(size)
    rows = _null_rows_parallel if parallel else _null_rows
    rows(sorted_values.index, np.ascontiguousarray(slot_class, dtype=np.int32), n_classes, k, psi,
         np.uint64(seed), offset, out)
    return out


def half_sample_statistics(sorted_values: SortedValues, members, class_start, k, psi, seed, size, offset=0,
                           parallel=False):
    """Ross MI of half-samples ``offset .. offset + size - 1`` of ``seed`` (``half_sample_labels``);
    ``members[class_start[c]:class_start[c + 1]]``: the sorted positions of class ``c``."""
    out = np.empty(size)
    rows = _half_rows_parallel if parallel else _half_rows
    rows(sorted_values.index, members, class_start, k, psi, np.uint64(seed), offset, out)
    return out


def labelled_statistics(sorted_values: SortedValues, labels, n_classes, k, psi):
    """Ross MI of every row of ``labels`` ``(size, n)`` (``-1``: point left out)."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    out = np.empty(labels.shape[0])
    _labelled_rows(sorted_values.index, labels, n_classes, k, psi, out)
    return out


def null_labels(slot_class, seed, resample) -> np.ndarray:
    """The labelling ``null_statistics`` evaluates as resample ``resample`` of ``seed``."""
    labels = np.empty(len(slot_class), dtype=np.int32)
    _shuffle_labels(np.ascontiguousarray(slot_class, dtype=np.int32), np.uint64(seed), resample, labels)
    return labels


def half_sample_labels(members, class_start, seed, resample) -> np.ndarray:
    """The half-sample ``half_sample_statistics`` evaluates as resample ``resample`` of ``seed``:
    each position's class, ``-1`` where left out."""
    n = len(members)
    _, kept, kept_values, kept_start, _, _ = _scratch(n, len(class_start) - 1)
    padded = np.zeros((1, n + 2))
    _half_sample(padded, members, class_start, np.uint64(seed), resample, kept, kept_values, kept_start)
    labels = np.full(n, -1, dtype=np.int64)
    for c in range(len(class_start) - 1):
        labels[kept[kept_start[c]:kept_start[c + 1] - 2 * _PAD]] = c
    return labels
