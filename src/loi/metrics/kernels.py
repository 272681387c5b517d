"""Compiled (numba) kernels for the resampling loops of the kNN estimator.

The numpy code in ``knn.py`` evaluates a batch of labellings with sorts and shifts over
``(batch, n)`` arrays; here one labelling is one linear pass: the points of each class are
listed in value order by a counting pass, the k-th same-class neighbour is a merge of the k
preceding and k following class members, and m and k~ (all points / same-class points within
the radius) are counted by galloping searches from the point's own position. The random draws
stay in numpy (the caller passes them in), so results equal the numpy path for the same seed;
``tests/test_metrics_kernels.py`` checks them against it.

Counting rule, as in ``knn_mutual_information``: a point is "within d" of ``y`` when its value
lies in ``[y - reach, y + reach]``, ``reach = d + slack (|y| + d)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from loi.metrics.knn import _RELATIVE_SLACK


# Counts up to this are found by a linear scan (one mispredicted branch); beyond, by galloping
# (cost growing with the log of the count). Null draws put ~k x classes points within reach.
_LINEAR_SCAN = 32


@njit(cache=True, nogil=True, inline="always")
def _count_at_most(sorted_values, start, stop, high_value):
    """How many of ``sorted_values[start:stop]`` (ascending) are ``<= high_value``."""
    scan_end = min(stop, start + _LINEAR_SCAN)
    probe = start
    while probe < scan_end and sorted_values[probe] <= high_value:
        probe += 1
    if probe < scan_end or probe == stop:
        return probe - start
    step, below = 1, probe  # sorted_values[start:below] are known to be <= high_value
    while probe < stop and sorted_values[probe] <= high_value:
        below = probe + 1
        probe = below + step
        step *= 2
    low, high = below, min(probe, stop)  # the first value > high_value is in [low, high]
    while low < high:
        middle = (low + high) // 2
        if sorted_values[middle] <= high_value:
            low = middle + 1
        else:
            high = middle
    return low - start


@njit(cache=True, nogil=True, inline="always")
def _count_at_least(sorted_values, first, end, low_value):
    """How many of ``sorted_values[first:end + 1]`` (ascending) are ``>= low_value``."""
    scan_end = max(first, end - _LINEAR_SCAN + 1)
    probe = end
    while probe >= scan_end and sorted_values[probe] >= low_value:
        probe -= 1
    if probe >= scan_end or probe < first:
        return end - probe
    step, above = 1, probe  # sorted_values[above + 1:end + 1] are known to be >= low_value
    while probe >= first and sorted_values[probe] >= low_value:
        above = probe - 1
        probe = above - step
        step *= 2
    low, high = max(probe, first - 1), above  # the last value < low_value is in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if sorted_values[middle] >= low_value:
            high = middle - 1
        else:
            low = middle
    return end - high


@njit(cache=True, nogil=True)
def ross_labelled(values, labels, n_classes, k, psi, count_ties):
    """Ross MI of the points with ``labels >= 0`` (``values`` ascending; ``-1``: left out).

    ``count_ties=False`` takes k~ = k, as ``knn_permutation_null`` does for values without
    near-ties (it differs from counting only where two neighbours are exactly equidistant).
    """
    n = len(values)
    kept_values = np.empty(n)  # the kept points' values, ascending
    class_values = np.empty(n)  # the same values grouped by class, ascending inside a class
    class_slot = np.empty(n, dtype=np.int64)  # where each of them sits in kept_values
    class_start = np.zeros(n_classes + 1, dtype=np.int64)
    kept = 0
    for position in range(n):
        label = labels[position]
        if label >= 0:
            kept_values[kept] = values[position]
            kept += 1
            class_start[label + 1] += 1
    for c in range(n_classes):
        class_start[c + 1] += class_start[c]
    fill = class_start[:n_classes].copy()
    slot = 0
    for position in range(n):
        label = labels[position]
        if label >= 0:
            class_values[fill[label]] = values[position]
            class_slot[fill[label]] = slot
            fill[label] += 1
            slot += 1
    total, used = 0.0, 0
    for c in range(n_classes):
        first, end = class_start[c], class_start[c + 1]
        size = end - first
        k_eff = min(k, size - 1)
        if k_eff < 1:
            continue
        for member in range(first, end):
            value = class_values[member]
            # The k_eff-th smallest distance to the class members on either side (a merge);
            # ``neighbour`` is the member at that distance.
            left, right, neighbour = member - 1, member + 1, member
            radius = 0.0
            for _ in range(k_eff):
                d_left = value - class_values[left] if left >= first else np.inf
                d_right = class_values[right] - value if right < end else np.inf
                if d_left <= d_right:
                    radius, neighbour = d_left, left
                    left -= 1
                else:
                    radius, neighbour = d_right, right
                    right += 1
            reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
            low_value, high_value = value - reach, value + reach
            own, far = class_slot[member], class_slot[neighbour]
            # On the neighbour's side every point up to it is within reach (values are sorted),
            # so only points tied with it remain to be counted there.
            if far < own:
                m = (own - far) + _count_at_least(kept_values, 0, far - 1, low_value)
                m += _count_at_most(kept_values, own + 1, kept, high_value)
            else:
                m = (far - own) + _count_at_most(kept_values, far + 1, kept, high_value)
                m += _count_at_least(kept_values, 0, own - 1, low_value)
            k_tilde = k_eff
            if count_ties:
                k_tilde = (_count_at_most(class_values, member + 1, end, high_value)
                           + _count_at_least(class_values, first, member - 1, low_value))
            total += psi[size] - psi[max(k_tilde, 1)] + psi[max(m, 1)]
            used += 1
    if used == 0:
        return np.nan
    return psi[used] - total / used


@njit(cache=True, nogil=True)
def _null_rows(values, slot_class, shuffled, n_classes, k, psi, out):
    """Row s of ``shuffled`` (a permutation of the sorted positions) gives class
    ``slot_class[j]`` to position ``shuffled[s, j]``, as ``knn_permutation_null`` does."""
    labels = np.empty(len(values), dtype=np.int64)
    for s in range(shuffled.shape[0]):
        for j in range(len(values)):
            labels[shuffled[s, j]] = slot_class[j]
        out[s] = ross_labelled(values, labels, n_classes, k, psi, False)


@njit(cache=True, parallel=True)
def _null_rows_parallel(values, slot_class, shuffled, n_classes, k, psi, out):
    for s in prange(shuffled.shape[0]):
        labels = np.empty(len(values), dtype=np.int64)
        for j in range(len(values)):
            labels[shuffled[s, j]] = slot_class[j]
        out[s] = ross_labelled(values, labels, n_classes, k, psi, False)


@njit(cache=True, nogil=True)
def _labelled_rows(values, labels, n_classes, k, psi, out):
    for s in range(labels.shape[0]):
        out[s] = ross_labelled(values, labels[s], n_classes, k, psi, True)


@njit(cache=True, parallel=True)
def _labelled_rows_parallel(values, labels, n_classes, k, psi, out):
    for s in prange(labels.shape[0]):
        out[s] = ross_labelled(values, labels[s], n_classes, k, psi, True)


@njit(cache=True, nogil=True, inline="always")
def _order_statistic(group, base, rank, counts, bucket):
    """The ``rank``-th smallest (0-based) of ``group`` (keys ``base + [0, 1)``): a counting pass
    over ``len(counts)`` buckets, then a sort of the one bucket holding it (~16 keys) -- the
    same value ``np.partition(group, rank)[rank]`` gives, several times faster. The bucket of a
    key is a non-decreasing function of it, so bucket order never contradicts key order."""
    buckets = len(counts)
    counts[:] = 0
    for key in group:
        counts[min(int((key - base) * buckets), buckets - 1)] += 1
    below, chosen = 0, 0
    while below + counts[chosen] <= rank:
        below += counts[chosen]
        chosen += 1
    filled = 0
    for key in group:
        if min(int((key - base) * buckets), buckets - 1) == chosen:
            bucket[filled] = key
            filled += 1
    return np.sort(bucket[:filled])[rank - below]


@njit(cache=True, nogil=True)
def half_sample_labels(uniform, group_start, group_size, by_class, coplayer, out):
    """Labels of half-samples, ``-1`` for the points left out: exactly the rows
    ``resampling.half_sample_weights`` keeps (the ``max(size // 2, min(size, 2))`` smallest
    keys ``uniform + 2 group_start`` of each group) placed at ``by_class``."""
    n = uniform.shape[1]
    keys = np.empty(n)
    kept = np.empty(n, dtype=np.int64)  # label or -1, in class order; scattered once per row
    largest = group_size.max() if n else 0
    counts = np.empty(max(1, largest // 16), dtype=np.int64)
    bucket = np.empty(max(largest, 1))
    for s in range(uniform.shape[0]):
        for j in range(n):
            keys[j] = uniform[s, j] + 2.0 * group_start[j]
        j = 0
        while j < n:
            size = group_size[j]
            take = max(size // 2, min(size, 2))
            label = coplayer[by_class[j]]
            if take >= size:
                kept[j:j + size] = label
            else:
                group = keys[j:j + size]
                # The first key not taken; keys below it are kept (as np.partition's would be).
                threshold = _order_statistic(group, 2.0 * group_start[j], take,
                                             counts[:max(1, size // 16)], bucket)
                for i in range(size):
                    kept[j + i] = label if group[i] < threshold else -1
            j += size
        for j in range(n):
            out[s, by_class[j]] = kept[j]


# ----------------------------------------------------------------------------- windowed kernels
#
# Relabelling (null) or half-sampling (bootstrap) moves the labels, never the values, so the one
# thing the kNN estimator needs from the values -- how many points lie within the distance from
# point i to point j -- is a fixed function of (i, j). ``neighbour_counts`` tabulates it once per
# block for |i - j| <= window; a labelling then finds each point's k-th same-class neighbour by
# comparing table entries (the count is non-decreasing in the distance, so the k-th smallest
# count belongs to the k-th nearest neighbour) and reads m off the table, with no distance
# arithmetic and no search. Entries are capped at window + 1; a point whose answer is not
# below the cap, or whose neighbours tie, is counted exactly as ``ross_labelled`` does.


@njit(cache=True, nogil=True)
def neighbour_counts(values, window):
    """``table[i, window + 1 + o]``: points other than i within reach of ``values[i]`` when the
    radius is ``|values[i + o] - values[i]|`` (``values`` ascending), capped at ``window + 1``;
    the columns ``o = +-(window + 1)`` hold the cap, so a clamped offset reads it. The last
    column is 1 where ``values[i + 1]`` is a near-tie of ``values[i]`` (as ``knn.has_near_ties``
    judges): only then can reach extend past a neighbour."""
    n = len(values)
    cap = window + 1
    table = np.full((n, 2 * window + 4), cap, dtype=np.uint8)
    if n:
        scale = np.abs(values).max() + (values[-1] - values[0])
        for i in range(n):
            table[i, 2 * window + 3] = i + 1 < n and values[i + 1] - values[i] <= 4 * _RELATIVE_SLACK * scale
    for i in range(n):
        value = values[i]
        for sign in (1, -1):
            low, high = i, i + 1  # values[low:high] are within reach; both only grow
            for offset in range(1, window + 1):
                j = i + sign * offset
                if j < 0 or j >= n:
                    break
                radius = (values[j] - value) * sign
                reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
                while high < n and values[high] <= value + reach:
                    high += 1
                while low > 0 and values[low - 1] >= value - reach:
                    low -= 1
                if high - low - 1 > cap:
                    break
                table[i, cap + sign * offset] = high - low - 1
    return table


@njit(cache=True, nogil=True)
def _exact_point(values, class_values, class_slot, first, end, member, k_eff, count_ties, cumulative):
    """(m, k~) of one class member as ``ross_labelled`` counts them; ``cumulative[p]``: kept
    points before position p."""
    n = len(values)
    value = class_values[member]
    left, right = member - 1, member + 1
    radius = 0.0
    for _ in range(k_eff):
        d_left = value - class_values[left] if left >= first else np.inf
        d_right = class_values[right] - value if right < end else np.inf
        if d_left <= d_right:
            radius = d_left
            left -= 1
        else:
            radius = d_right
            right += 1
    reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
    low_value, high_value = value - reach, value + reach
    own = class_slot[member]
    low = own - _count_at_least(values, 0, own - 1, low_value)
    high = own + 1 + _count_at_most(values, own + 1, n, high_value)
    m = cumulative[high] - cumulative[low] - 1
    k_tilde = k_eff
    if count_ties:
        k_tilde = (_count_at_most(class_values, member + 1, end, high_value)
                   + _count_at_least(class_values, first, member - 1, low_value))
    return m, k_tilde


@njit(cache=True, nogil=True, inline="always")
def _kept_within(table, window, far, side, count, cumulative):
    """Kept points within reach, given the neighbour ``far`` on ``side`` (-1 left, 1 right) and
    the table ``count`` of all points within reach: when no near-tie follows the neighbour
    outward, those are the count + 1 points (the point itself included) from the neighbour
    inward to the mirror side. -1: a near-tie, count exactly."""
    ties = 2 * window + 3
    if side > 0:
        if table[far, ties]:
            return -1
        low = far - count
    else:
        if far > 0 and table[far - 1, ties]:
            return -1
        low = far
    return cumulative[low + count + 1] - cumulative[low] - 1


@njit(cache=True, nogil=True)
def ross_windowed(values, labels, n_classes, k, psi, count_ties, table, window, scratch_float, scratch_int):
    """``ross_labelled`` through a ``neighbour_counts`` table. With points left out (``-1``),
    m (kept points only) is read from the neighbour's position and the table count."""
    n = len(values)
    class_values = scratch_float
    class_slot, member_of = scratch_int[0], scratch_int[1]
    cumulative = scratch_int[2]  # n + 1 used
    class_start = np.zeros(n_classes + 1, dtype=np.int64)
    kept = 0
    for position in range(n):
        cumulative[position] = kept
        label = labels[position]
        if label >= 0:
            class_start[label + 1] += 1
            kept += 1
    cumulative[n] = kept
    all_kept = kept == n
    for c in range(n_classes):
        class_start[c + 1] += class_start[c]
    fill = class_start[:n_classes].copy()
    for position in range(n):
        label = labels[position]
        if label >= 0:
            index = fill[label]
            class_values[index] = values[position]
            class_slot[index] = position
            member_of[position] = index
            fill[label] = index + 1
    outside, missing = window + 1, window + 2
    flat = table.ravel()
    keys_left = np.zeros(k + 2, dtype=np.int64)
    keys_right = np.zeros(k + 2, dtype=np.int64)
    total, used = 0.0, 0
    for position in range(n):
        label = labels[position]
        if label < 0:
            continue
        first, end = class_start[label], class_start[label + 1]
        size = end - first
        k_eff = min(k, size - 1)
        if k_eff < 1:
            continue
        member = member_of[position]
        if k == 3 and size >= 5:
            # The default k unrolled (the general loops below cost ~1.6x more per point).
            row = position * (2 * window + 4) + outside
            l1 = flat[row - min(position - class_slot[member - 1], outside)] if member >= first + 1 else missing
            l2 = flat[row - min(position - class_slot[member - 2], outside)] if member >= first + 2 else missing
            l3 = flat[row - min(position - class_slot[member - 3], outside)] if member >= first + 3 else missing
            r1 = flat[row + min(class_slot[member + 1] - position, outside)] if member + 1 < end else missing
            r2 = flat[row + min(class_slot[member + 2] - position, outside)] if member + 2 < end else missing
            r3 = flat[row + min(class_slot[member + 3] - position, outside)] if member + 3 < end else missing
            m = min(min(r3, max(l1, r2)), min(max(l2, r1), l3))
            exact = m <= window
            if exact and count_ties:
                l4 = flat[row - min(position - class_slot[member - 4], outside)] if member >= first + 4 else missing
                r4 = flat[row + min(class_slot[member + 4] - position, outside)] if member + 4 < end else missing
                exact = min(min(min(r4, max(l1, r3)), max(l2, r2)), min(max(l3, r1), l4)) > m
            k_tilde = 3
            if exact and not all_kept:
                # Any candidate with the selected count has the same points within reach.
                if l1 == m or l2 == m or l3 == m:
                    far = class_slot[member - (1 if l1 == m else 2 if l2 == m else 3)]
                    m = _kept_within(table, window, far, -1, m, cumulative)
                else:
                    far = class_slot[member + (1 if r1 == m else 2 if r2 == m else 3)]
                    m = _kept_within(table, window, far, 1, m, cumulative)
                exact = m >= 0
            if not exact:
                m, k_tilde = _exact_point(values, class_values, class_slot, first, end, member, 3, count_ties,
                                          cumulative)
            total += psi[size] - psi[k_tilde] + psi[max(m, 1)]
            used += 1
            continue
        for t in range(1, k_eff + 2):
            if member - t >= first:
                keys_left[t] = table[position, outside - min(position - class_slot[member - t], outside)]
            else:
                keys_left[t] = missing
            if member + t < end:
                keys_right[t] = table[position, outside + min(class_slot[member + t] - position, outside)]
            else:
                keys_right[t] = missing
        # The k-th smallest of two ascending lists: the best split of the k between the sides.
        m, side, taken = missing, 0, 0
        for a in range(k_eff + 1):
            from_left = keys_left[a] >= keys_right[k_eff - a]
            candidate = keys_left[a] if from_left else keys_right[k_eff - a]
            if candidate < m:
                m, side, taken = candidate, -1 if from_left else 1, a if from_left else k_eff - a
        exact = m <= window
        if exact and count_ties:
            after = missing  # the (k+1)-th: the same count means a tie at the radius
            for a in range(k_eff + 2):
                after = min(after, max(keys_left[a], keys_right[k_eff + 1 - a]))
            exact = after > m
        k_tilde = k_eff
        if not exact:
            m, k_tilde = _exact_point(values, class_values, class_slot, first, end, member, k_eff,
                                      count_ties, cumulative)
        elif not all_kept:
            m = _kept_within(table, window, class_slot[member + side * taken], side, m, cumulative)
            if m < 0:
                m, k_tilde = _exact_point(values, class_values, class_slot, first, end, member, k_eff,
                                          count_ties, cumulative)
        total += psi[size] - psi[max(k_tilde, 1)] + psi[max(m, 1)]
        used += 1
    if used == 0:
        return np.nan
    return psi[used] - total / used


@njit(cache=True, nogil=True)
def _null_rows_windowed(values, slot_class, shuffled, n_classes, k, psi, table, window, out):
    n = len(values)
    labels = np.empty(n, dtype=np.int64)
    scratch_float, scratch_int = np.empty(n), np.empty((3, n + 1), dtype=np.int64)
    for s in range(shuffled.shape[0]):
        for j in range(n):
            labels[shuffled[s, j]] = slot_class[j]
        out[s] = ross_windowed(values, labels, n_classes, k, psi, False, table, window, scratch_float, scratch_int)


@njit(cache=True, nogil=True)
def _labelled_rows_windowed(values, labels, n_classes, k, psi, table, window, out):
    n = len(values)
    scratch_float, scratch_int = np.empty(n), np.empty((3, n + 1), dtype=np.int64)
    for s in range(labels.shape[0]):
        out[s] = ross_windowed(values, labels[s], n_classes, k, psi, True, table, window, scratch_float, scratch_int)


@njit(cache=True, parallel=True)
def _null_rows_windowed_parallel(values, slot_class, shuffled, n_classes, k, psi, table, window, out):
    n = len(values)
    for s in prange(shuffled.shape[0]):
        labels = np.empty(n, dtype=np.int64)
        for j in range(n):
            labels[shuffled[s, j]] = slot_class[j]
        out[s] = ross_windowed(values, labels, n_classes, k, psi, False, table, window, np.empty(n),
                               np.empty((3, n + 1), dtype=np.int64))


@njit(cache=True, parallel=True)
def _labelled_rows_windowed_parallel(values, labels, n_classes, k, psi, table, window, out):
    n = len(values)
    for s in prange(labels.shape[0]):
        out[s] = ross_windowed(values, labels[s], n_classes, k, psi, True, table, window, np.empty(n),
                               np.empty((3, n + 1), dtype=np.int64))


def null_statistics(values, slot_class, shuffled, n_classes, k, psi, parallel=False, table=None, window=0):
    """Ross MI of every relabelling in ``shuffled`` ``(size, n)``; see ``_null_rows``. With a
    ``neighbour_counts(values, window)`` table, the windowed kernel (same values)."""
    out = np.empty(shuffled.shape[0])
    if table is None:
        (_null_rows_parallel if parallel else _null_rows)(values, slot_class, shuffled, n_classes, k, psi, out)
    else:
        rows = _null_rows_windowed_parallel if parallel else _null_rows_windowed
        rows(values, slot_class, shuffled, n_classes, k, psi, table, window, out)
    return out


def labelled_statistics(values, labels, n_classes, k, psi, parallel=False, table=None, window=0):
    """Ross MI of every row of ``labels`` ``(size, n)`` (``-1``: point left out), k~ counted.
    A ``neighbour_counts`` table may be given when every point is kept or ``values`` has no
    near-ties."""
    out = np.empty(labels.shape[0])
    if table is None:
        (_labelled_rows_parallel if parallel else _labelled_rows)(values, labels, n_classes, k, psi, out)
    else:
        rows = _labelled_rows_windowed_parallel if parallel else _labelled_rows_windowed
        rows(values, labels, n_classes, k, psi, table, window, out)
    return out
