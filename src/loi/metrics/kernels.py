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


@njit(cache=True, nogil=True)
def half_sample_labels(uniform, group_start, group_size, by_class, coplayer, out):
    """Labels of half-samples, ``-1`` for the points left out: exactly the rows
    ``resampling.half_sample_weights`` keeps (the ``max(size // 2, min(size, 2))`` smallest
    keys ``uniform + 2 group_start`` of each group) placed at ``by_class``."""
    n = uniform.shape[1]
    keys = np.empty(n)
    for s in range(uniform.shape[0]):
        for j in range(n):
            keys[j] = uniform[s, j] + 2.0 * group_start[j]
            out[s, by_class[j]] = -1
        j = 0
        while j < n:
            size = group_size[j]
            take = max(size // 2, min(size, 2))
            group = keys[j:j + size]
            if take >= size:
                for i in range(size):
                    out[s, by_class[j + i]] = coplayer[by_class[j + i]]
            else:
                threshold = np.partition(group, take)[take]  # the first key not taken
                for i in range(size):
                    if group[i] < threshold:
                        out[s, by_class[j + i]] = coplayer[by_class[j + i]]
            j += size


def null_statistics(values, slot_class, shuffled, n_classes, k, psi, parallel=False):
    """Ross MI of every relabelling in ``shuffled`` ``(size, n)``; see ``_null_rows``."""
    out = np.empty(shuffled.shape[0])
    (_null_rows_parallel if parallel else _null_rows)(values, slot_class, shuffled, n_classes, k, psi, out)
    return out


def labelled_statistics(values, labels, n_classes, k, psi, parallel=False):
    """Ross MI of every row of ``labels`` ``(size, n)`` (``-1``: point left out)."""
    out = np.empty(labels.shape[0])
    (_labelled_rows_parallel if parallel else _labelled_rows)(values, labels, n_classes, k, psi, out)
    return out
