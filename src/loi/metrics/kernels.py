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
# A search over more sorted positions than this (a crowded bucket, a class's run of tied values)
# bisects; over fewer, it scans. 32 measured 1.14x as fast as 16 on integer returns, the same
# without ties (benchmarks/knn_kernels.py --against, --round 1).
_LINEAR_SCAN = 32


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
def _unit(word):
    """Uniform double in ``[0, 1)`` from the top 53 bits of a stream word."""
    return np.float64(word >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _words(state, words):
    """``words[k]``: word k of the splitmix64 stream from ``state`` (what the (k + 1)-th
    ``_next`` returns). Each word is computed from ``state`` alone, so the loop vectorizes (a
    stream advanced word by word would not)."""
    for k in range(len(words)):
        words[k] = _mix(state + np.uint64(k + 1) * _GOLDEN)


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
def _half_sample(padded, members, class_start, seed, resample, kept, kept_values, kept_start, cumulative, words):
    """Of each class's ``members`` (sorted positions; all classes together hold every position), keep
    ``max(size // 2, min(size, 2))`` uniformly without replacement, in order, into ``kept`` /
    ``kept_values`` / ``kept_start`` (the layout of ``_group_positions``); ``cumulative[p]``: the
    kept points before position ``p``. ``words``: scratch, ``len(members)`` long."""
    _words(_stream(seed, resample), words)
    slot = _PAD
    for c in range(len(class_start) - 1):
        kept_start[c] = slot
        _sentinels(kept_values, slot)
        first, end = class_start[c], class_start[c + 1]
        size = end - first
        needed = max(size // 2, min(size, 2))
        # Keep member i with probability needed / (members left): when u (size - i) < needed, or
        # (needed being an integer) when its floor is; the floors are computed first, in a loop
        # that vectorizes, so that the loop below carries only an integer comparison from one
        # member to the next.
        draws = words[first:end]
        for i in range(size):
            draws[i] = np.uint64(_unit(draws[i]) * (size - i))
        for i in range(size):
            # Written always, kept by advancing `slot`: a coin flip is no branch to predict.
            take = np.int64(np.int64(draws[i]) < needed)
            member = members[first + i]  # read once: `kept` could alias `members`
            kept[slot] = member
            kept_values[slot] = padded[member + 1]
            cumulative[member + 1] = take
            slot += take
            needed -= take
        slot += 2 * _PAD
    kept_start[len(class_start) - 1] = slot
    _sentinels(kept_values, slot)
    cumulative[0] = 0
    for p in range(len(members)):
        cumulative[p + 1] += cumulative[p]


# ----------------------------------------------------------------------------- evaluation


@njit(cache=True, nogil=True)
def bucket_index(values, buckets):
    """A search index over the sorted ``values``: ``padded``, the values between -inf and +inf
    (``padded[p + 1]`` is position ``p``); ``first[b]``, the first position in bucket ``b`` or
    later (``first[buckets] = n``), buckets of equal width from ``origin`` with ``scale`` buckets
    per unit, stored as ``~first[b]`` (negative) where bucket ``b`` holds two positions or more."""
    n = len(values)
    padded = np.empty(n + 2)
    padded[0], padded[n + 1] = -np.inf, np.inf
    padded[1:n + 1] = values
    span = values[-1] - values[0] if n else 0.0
    scale = buckets / span if span > 0 else 0.0
    origin = values[0] if n else 0.0
    first = np.empty(buckets + 1, dtype=np.int32)  # positions: blocks of < 2**31 episodes
    position = 0
    for b in range(buckets + 1):
        while position < n and _bucket(first, origin, scale, padded[position + 1]) < b:
            position += 1
        first[b] = position
    for b in range(buckets):  # mark the crowded buckets (``_bucket_steps``)
        if first[b + 1] - first[b] >= 2:
            first[b] = ~first[b]
    return padded, first, origin, scale


@njit(cache=True, nogil=True, inline="always")
def _bucket(first, origin, scale, x):
    """The bucket of ``x`` (``bucket_index``), non-decreasing in ``x``: a position before
    ``first[b]`` holds a value below ``x``, one from ``first[b + 1]`` on a value above it."""
    buckets = len(first) - 1
    t = (x - origin) * scale
    # Not `min(int(t), len(first) - 2)`: with numba 0.68 that form made bisecting searches 4x slower.
    return 0 if t <= 0.0 else min(int(t), buckets - 1)


@njit(cache=True, nogil=True, inline="always")
def _unmarked(entry):
    """A ``first`` entry of ``bucket_index`` without its crowded-bucket mark (``~``)."""
    return max(entry, ~entry)


@njit(cache=True, nogil=True, inline="always")
def _short_of(value, x, above):
    """Whether a position holding ``value`` comes before the one sought: the first position
    ``>= x`` (``above`` 0) or ``> x`` (``above`` 1)."""
    return np.int64(value < x) | (above & np.int64(value == x))


@njit(cache=True, nogil=True, inline="always")
def _first_beyond(padded, first, origin, scale, x, above):
    """The first position whose value is ``>= x`` (``above`` 0) or ``> x`` (``above`` 1)."""
    b = _bucket(first, origin, scale, x)
    low, high = _unmarked(np.int64(first[b])), _unmarked(np.int64(first[b + 1]))
    # The bucket's ends first: a crowded bucket often holds one run of tied values.
    if _short_of(padded[high], x, above):
        return high
    if not _short_of(padded[low + 1], x, above):
        return low
    low += 1  # the answer is in low .. high - 1
    if high - low <= _LINEAR_SCAN:
        # No `low < high` test: position high - 1 is not short of x (checked above).
        while _short_of(padded[low + 1], x, above):
            low += 1
        return low
    while low < high:  # values crowd or tie here
        middle = (low + high) // 2
        if _short_of(padded[middle + 1], x, above):
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
    low = _first_beyond(padded, first, origin, scale, value - reach, 0)
    high = _first_beyond(padded, first, origin, scale, value + reach, 1)
    # Same-class points within reach: the k_eff taken, and any beyond them that tie.
    k_tilde = k_eff + (left + 1 - _first_slot_at_least(kept, start, left + 1, low, True))
    k_tilde += _first_slot_at_least(kept, right, end, high, False) - right
    return low, high, k_tilde


@njit(cache=True, nogil=True)
def _third_neighbours(window, targets, rows, offsets, k_tildes, flags):
    """First pass of ``ross_classes`` for k_eff = 3 over one class, ``window``: its values with
    the _PAD sentinels on each side. Per point i: ``k_tildes[i]``, the class members within reach
    of the 3rd nearest neighbour; ``offsets[i]``, where the farthest of them on the 3rd
    neighbour's side sits, relative to i; ``flags[i]``, 1 if a 4th candidate is within reach.
    Every point from i to that far candidate is within reach, and nothing beyond it unless it
    has a near-tie there; so only the other side's boundary is searched: ``_first_beyond`` of
    ``targets[i]``, ``above`` = ``rows[i]`` (1: rightwards). No data-dependent branch and
    contiguous reads: the loop vectorizes (a function of its own, so that nothing else keeps it
    from doing so)."""
    for i in range(len(window) - 2 * _PAD):
        value = window[i + _PAD]
        # The 3rd smallest of two ascending lists, the sentinels standing in for missing ones.
        l1, l2, l3 = value - window[i + 3], value - window[i + 2], value - window[i + 1]
        r1, r2, r3 = window[i + 5] - value, window[i + 6] - value, window[i + 7] - value
        radius = min(min(l3, r3), min(max(l1, r2), max(l2, r1)))
        reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
        on_left = np.int64(l1 <= reach) + np.int64(l2 <= reach) + np.int64(l3 <= reach)
        on_right = np.int64(r1 <= reach) + np.int64(r2 <= reach) + np.int64(r3 <= reach)
        row = np.int64((radius == l1) | (radius == l2) | (radius == l3))
        rows[i], offsets[i], k_tildes[i] = row, on_right - row * (on_left + on_right), on_left + on_right
        targets[i] = value + (2 * row - 1) * reach
        flags[i] = np.int64((value - window[i] <= reach) | (window[i + 8] - value <= reach))


@njit(cache=True, nogil=True)
def _bucket_steps(padded, first, origin, scale, rows, targets, found, flags):
    """The first step of ``_first_beyond(targets[i], rows[i])`` for each i, without a branch, so
    that the loop vectorizes (gathering from the index): ``found[i]`` is the answer unless the
    target's bucket holds two positions or more, which sets bit 2 of ``flags[i]``."""
    for i in range(len(rows)):
        x = targets[i]
        entry = np.int64(first[_bucket(first, origin, scale, x)])
        low = _unmarked(entry)
        found[i] = low + _short_of(padded[low + 1], x, rows[i])
        flags[i] |= 2 * np.int64(entry < 0)


@njit(cache=True, nogil=True, inline="always")
def _bounds(q, row, far):
    """``(low, high)``, the positions within reach of a point being ``low .. high - 1``, from its
    far candidate and the other side's search result ``q`` (``_third_neighbours``)."""
    return q + row * (far - q), far + 1 + row * (q - far - 1)


@njit(cache=True, nogil=True, inline="always")
def _term(low, high, k_tilde, cumulative, psi):
    """A point's ``psi(m) - psi(k~)``, m the other kept points at positions ``low .. high - 1``
    (``cumulative``: as in ``ross_classes``)."""
    m = high - low - 1 if len(cumulative) == 0 else cumulative[high] - cumulative[low] - 1
    return psi[max(m, 1)] - psi[k_tilde]


@njit(cache=True, nogil=True)
def ross_classes(index, kept, kept_values, kept_start, cumulative, k, psi, work):
    """Ross MI of the kept points (``index``: ``SortedValues.index``):
    ``kept[kept_start[c]:kept_start[c + 1] - 2 _PAD]`` are the sorted positions of class ``c``'s
    points, ascending, ``kept_values`` their values, between sentinels (``_group_positions``).
    ``cumulative[p]``: kept points before position ``p`` (length 0: every point is kept).
    ``work``: scratch (``_work``).

    A class with k_eff = 3 (the default k) goes in passes that vectorize, all but one: the 3rd
    nearest neighbour and everything but one boundary (``_third_neighbours``); the far
    candidates; the search for that boundary (``_bucket_steps``); m and the sum, where the points
    the first passes cannot settle (ties, crowded buckets) are counted exactly."""
    padded, first, origin, scale, tie_after = index
    targets, rows, fars, k_tildes, flags, found, terms = work
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
                total += _term(low, high, k_tilde, cumulative, psi)
            continue
        _third_neighbours(kept_values[start - _PAD:end + _PAD], targets, rows, fars, k_tildes, flags)
        for i in range(size):
            row = rows[i]
            far = kept[start + i + fars[i]]
            fars[i] = far
            # A near-tie past the far candidate (or a 4th candidate within reach): count exactly.
            flags[i] |= tie_after[far + 1 - row]
        _bucket_steps(padded, first, origin, scale, rows[:size], targets[:size], found, flags)
        for i in range(size):  # every point as if its flags were clear: no branch
            low, high = _bounds(found[i], rows[i], fars[i])
            terms[i] = _term(low, high, k_tildes[i], cumulative, psi)
        for i in range(size):  # few, unless returns tie
            if flags[i]:
                if flags[i] & 1:
                    low, high, k_tilde = _exact_point(padded, first, origin, scale, kept, kept_values, start, end,
                                                      start + i, 3)
                else:
                    q = _first_beyond(padded, first, origin, scale, targets[i], rows[i])
                    (low, high), k_tilde = _bounds(q, rows[i], fars[i]), k_tildes[i]
                terms[i] = _term(low, high, k_tilde, cumulative, psi)
        total += _sum(terms[:size])
    if used == 0:
        return np.nan
    return psi[used] - total / used


@njit(cache=True, nogil=True, inline="always")
def _work(n):
    """Scratch of ``ross_classes``, per point of a class: search targets, rows, far candidates
    (offsets, then positions), k~, flags (1: count exactly, 2: search again), search results,
    terms of the sum."""
    return (np.empty(n), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64),
            np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n))


@njit(cache=True, nogil=True, inline="always")
def _sum(terms):
    """Sum in four interleaved partial sums: the additions overlap (one running sum waits for
    each addition in turn); the rounding differs from a running sum by ~1e-16 relative."""
    a = b = c = d = 0.0
    quads = len(terms) // 4 * 4
    for i in range(0, quads, 4):
        a += terms[i]
        b += terms[i + 1]
        c += terms[i + 2]
        d += terms[i + 3]
    for i in range(quads, len(terms)):
        a += terms[i]
    return (a + b) + (c + d)


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
def _layout(sizes, kept_start, kept_values):
    """``kept_start`` for classes of ``sizes`` points, and the sentinels around them."""
    kept_start[0] = _PAD
    for c in range(len(sizes)):
        kept_start[c + 1] = kept_start[c] + sizes[c] + 2 * _PAD
    for c in range(len(sizes) + 1):
        _sentinels(kept_values, kept_start[c])


@njit(cache=True, nogil=True, inline="always")
def _class_sizes(labels, n_classes):
    """Points of each class in ``labels`` (``< 0``: left out)."""
    sizes = np.zeros(n_classes, dtype=np.int64)
    for label in labels:
        if label >= 0:
            sizes[label] += 1
    return sizes


@njit(cache=True, nogil=True, inline="always")
def _group_positions(padded, labels, kept, kept_values, kept_start, cumulative):
    """Sorted positions of each class's points (``labels[p] < 0``: left out) into ``kept``,
    their values into ``kept_values``: class ``c`` fills ``kept_start[c]`` up to
    ``kept_start[c + 1] - 2 _PAD``, laid out beforehand (``_layout`` of the label counts; a
    relabelling keeps them). ``cumulative`` (length n + 1, or 0 when every label is >= 0) counts
    the kept points before each position."""
    fill = kept_start[:-1].copy()
    every_point = len(cumulative) == 0
    count = 0
    for p in range(len(labels)):
        if not every_point:
            cumulative[p] = count
        label = labels[p]
        if label >= 0:
            # `slot` read once: `fill` could alias `kept` for all the compiler knows.
            slot = fill[label]
            kept[slot] = p
            kept_values[slot] = padded[p + 1]
            fill[label] = slot + 1
            count += 1
    if not every_point:
        cumulative[len(labels)] = count


# ----------------------------------------------------------------------------- batches
#
# One resample's scratch: labels, kept, kept_values, kept_start, cumulative, stream words,
# ross_classes' work.


@njit(cache=True, nogil=True, inline="always")
def _scratch(n, n_classes):
    slots = n + 2 * _PAD * (n_classes + 1)
    return (np.empty(n, dtype=np.int32), np.empty(slots, dtype=np.int64), np.empty(slots),
            np.empty(n_classes + 1, dtype=np.int64), np.empty(n + 1, dtype=np.int64), np.empty(n, dtype=np.uint64),
            _work(n))


@njit(cache=True, nogil=True, inline="always")
def _null_scratch(n, slot_class, n_classes):
    """``_scratch`` with the class layout of ``slot_class``, which every relabelling keeps."""
    scratch = _scratch(n, n_classes)
    # Indexed, not unpacked: an unpacking here, inlined in a prange loop, trips numba's parfor
    # array analysis.
    _layout(_class_sizes(slot_class, n_classes), scratch[3], scratch[2])  # kept_start, kept_values
    return scratch


@njit(cache=True, nogil=True)
def _null_one(index, slot_class, k, psi, seed, resample, scratch):
    labels, kept, kept_values, kept_start, _, _, work = scratch
    _shuffle_labels(slot_class, seed, resample, labels)
    every_point = kept[:0]
    _group_positions(index[0], labels, kept, kept_values, kept_start, every_point)
    return ross_classes(index, kept, kept_values, kept_start, every_point, k, psi, work)


@njit(cache=True, nogil=True)
def _half_one(index, members, class_start, k, psi, seed, resample, scratch):
    _, kept, kept_values, kept_start, cumulative, words, work = scratch
    _half_sample(index[0], members, class_start, seed, resample, kept, kept_values, kept_start, cumulative, words)
    return ross_classes(index, kept, kept_values, kept_start, cumulative, k, psi, work)


@njit(cache=True, nogil=True)
def _null_rows(index, slot_class, n_classes, k, psi, seed, offset, out):
    scratch = _null_scratch(len(index[0]) - 2, slot_class, n_classes)
    for s in range(len(out)):
        out[s] = _null_one(index, slot_class, k, psi, seed, offset + s, scratch)


@njit(cache=True, parallel=True)
def _null_rows_parallel(index, slot_class, n_classes, k, psi, seed, offset, out):
    for s in prange(len(out)):
        out[s] = _null_one(index, slot_class, k, psi, seed, offset + s,
                           _null_scratch(len(index[0]) - 2, slot_class, n_classes))


@njit(cache=True, nogil=True)
def _half_rows(index, members, class_start, k, psi, seed, offset, out):
    scratch = _scratch(len(index[0]) - 2, len(class_start) - 1)
    for s in range(len(out)):
        out[s] = _half_one(index, members, class_start, k, psi, seed, offset + s, scratch)


@njit(cache=True, parallel=True)
def _half_rows_parallel(index, members, class_start, k, psi, seed, offset, out):
    for s in prange(len(out)):
        out[s] = _half_one(index, members, class_start, k, psi, seed, offset + s,
                           _scratch(len(index[0]) - 2, len(class_start) - 1))


@njit(cache=True, nogil=True)
def _labelled_rows(index, labels, n_classes, k, psi, out):
    _, kept, kept_values, kept_start, cumulative, _, work = _scratch(labels.shape[1], n_classes)
    for s in range(labels.shape[0]):
        _layout(_class_sizes(labels[s], n_classes), kept_start, kept_values)
        _group_positions(index[0], labels[s], kept, kept_values, kept_start, cumulative)
        out[s] = ross_classes(index, kept, kept_values, kept_start, cumulative, k, psi, work)


# ----------------------------------------------------------------------------- entry points

# Buckets of the search index per value: with several, a search mostly ends in the first step
# (on the issue table of benchmarks/measure.py, 16 measured ~6% faster than 8 and as fast as 32;
# 4 and fewer clearly slower); at most MAX_BUCKETS (32 MB).
BUCKETS_PER_VALUE = 16
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
    _, kept, kept_values, kept_start, cumulative, words, _ = _scratch(n, len(class_start) - 1)
    padded = np.zeros(n + 2)
    _half_sample(padded, members, class_start, np.uint64(seed), resample, kept, kept_values, kept_start, cumulative,
                 words)
    labels = np.full(n, -1, dtype=np.int64)
    for c in range(len(class_start) - 1):
        labels[kept[kept_start[c]:kept_start[c + 1] - 2 * _PAD]] = c
    return labels
