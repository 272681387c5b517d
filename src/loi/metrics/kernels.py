"""Compiled (numba) kernels for the resampling loops of the kNN and the histogram estimators.

A resample (a relabelling for the permutation null; a half-sample, or for the histograms a
resample with replacement, for the bootstrap) is drawn and evaluated inside one compiled loop, so
no ``(resamples, n)`` array is ever built:

* draws: each resample has its own splitmix64 stream, started from ``(seed, resample index)``,
  so a result depends only on the seed, never on how resamples are split over calls or threads.
  A relabelling is a Fisher-Yates shuffle of the class labels over the sorted positions; a
  half-sample keeps ``max(size // 2, min(size, 2))`` of each class's episodes, chosen by
  selection sampling (Knuth's algorithm S), which yields them already in value order;
* kNN evaluation: the kept members of each class, listed in value order, give each point's k-th
  same-class neighbour by a merge of the k preceding and k following members; ``m`` and ``k~``
  (all kept points / kept same-class points within the radius, as ``knn_mutual_information``
  counts them) come from a bucket index over the sorted values -- an O(1) search on spread-out
  values (one read of an entry, a position with a coarse key of its value, settles most), a
  binary search inside a bucket where values crowd or tie;
* histogram tables (``TableResampler``, from a block's co-player x bin count table): a null
  table deals the co-player labels to the rows, listed by bin, by the same Fisher-Yates shuffle,
  and counts them per bin -- a uniformly random table with both margins of the observed one; a
  bootstrap table redraws each co-player's episodes with replacement (its row ``t`` takes member
  ``_below(n_c)``), i.e. its row as Multinomial(n_c, its own histogram). Its statistic is
  ``histogram.paper_statistic`` or ``miller_madow_statistic``, up to summation order.

``null_labels``, ``half_sample_labels`` and ``TableResampler.null_table`` / ``bootstrap_table``
expose the draws (``tests/test_metrics_kernels.py`` and ``tests/test_metrics_histogram_kernels.py``
check that the statistics are those of the numpy estimators on exactly these draws, that the draws
are the ones specified here, and their distributions).

Counting rule, as in ``knn_mutual_information``: a point is "within d" of ``y`` when its value
lies in ``[y - reach, y + reach]``, ``reach = d + slack (|y| + d)``.

All compiled code is in this one file: numba's cache (``cache=True``) is invalidated when a
function's own source file changes, not when a compiled function it calls from another file
does -- a split would let a stale cache keep old draws.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic
from scipy.special import xlogy

from loi.metrics.knn import _RELATIVE_SLACK, near_tie_after

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1 << 32)
_LOW63 = np.int64((1 << 63) - 1)
# Search index entries (bucket_index): a position in the bits under _CROWDED (blocks of < 2**31
# episodes), the _CROWDED bit, a value_key above.
_POSITION = np.int64((1 << 31) - 1)
_CROWDED = 31
# Indices computed in the hot loops are cast to np.uint64: numba wraps a negative signed index
# around (a test and an add at every access), an unsigned one it uses as it is. Dropping those
# tests made the kernels 1.2x as fast on an AMD Zen 4 (benchmarks/knn_kernels.py --against).

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
def _scaled(word, bound):
    """Lemire's multiply-shift: the top 32 bits of ``word`` times ``bound``; its high half is
    the integer in ``[0, bound)``, its low half decides whether the word is rejected."""
    return (word >> np.uint64(32)) * np.uint64(bound)


@njit(cache=True, nogil=True, inline="always")
def _below(state, bound):
    """Uniform integer in ``[0, bound)``, ``1 <= bound < 2**32``, exactly (Lemire 2019)."""
    bound = np.uint64(bound)
    state, x = _next(state)
    product = _scaled(x, bound)
    if (product & _LOW32) < bound:
        threshold = (_TWO32 - bound) % bound
        while (product & _LOW32) < threshold:
            state, x = _next(state)
            product = _scaled(x, bound)
    return state, np.int64(product >> np.uint64(32))


@njit(cache=True, nogil=True, inline="always")
def _unit(word):
    """Uniform double in ``[0, 1)`` from the top 53 bits of a stream word."""
    return np.float64(word >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, inline="always")
def _word(state, k):
    """Word k of the splitmix64 stream from ``state``: what the (k + 1)-th ``_next`` returns,
    computed from ``state`` alone, so that loops over k vectorize (a stream advanced word by word
    would not)."""
    return _mix(state + np.uint64(k + 1) * _GOLDEN)


@njit(cache=True, nogil=True)
def _words(state, words):
    """``words[k]``: ``_word(state, k)``."""
    for k in range(len(words)):
        words[k] = _word(state, k)


@njit(cache=True, nogil=True, inline="always")
def _partner(word, bound):
    """``_below``'s integer from ``word`` when it takes no other (Lemire's multiply-shift), and
    whether ``word`` is near a rejection (``_below`` then checks whether it takes another)."""
    product = _scaled(word, bound)
    return product >> np.uint64(32), (product & _LOW32) < np.uint64(bound)


@njit(cache=True, nogil=True, inline="always")
def _swap(labels, i, j):
    held = labels[i]
    labels[i] = labels[j]
    labels[j] = held


# Inlined: the callers' constant step folds into the vectorized loop (as a call, the relabellings
# measured 0.96x as fast; benchmarks/knn_kernels.py --against).
@njit(cache=True, nogil=True, inline="always")
def _fill_below(state, top, step, out):
    """``out[t]``: the ``t``-th of ``len(out)`` successive ``_below`` draws from ``state``, draw ``t``
    below ``top - step * t``; returns the state after them. Draw ``t`` takes word ``t``, and another
    only where ``_below`` would reject one: up to the first draw near a rejection, the draws are
    computed together, in a loop that vectorizes; from there on, one by one."""
    near_rejection = False  # an OR, not the first such draw: a running minimum does not vectorize
    for t in range(len(out)):
        out[t], near = _partner(_word(state, t), top - step * t)
        near_rejection |= near
    if not near_rejection:  # near one in ~1% of the shuffles of 10^4 labels
        return state + np.uint64(len(out)) * _GOLDEN
    steps = 0
    while not _partner(_word(state, steps), top - step * steps)[1]:
        steps += 1
    state += np.uint64(steps) * _GOLDEN
    for t in range(steps, len(out)):
        state, out[t] = _below(state, top - step * t)
    return state


@njit(cache=True, nogil=True)
def _shuffle_labels(slot_class, seed, resample, labels, words):
    """``labels``: ``slot_class`` in uniformly random order (Fisher-Yates: step ``t`` swaps position
    ``n - 1 - t`` with a uniform one below ``n - t``). ``words``: scratch, ``len(labels)`` long."""
    labels[:] = slot_class
    n = len(labels)
    partners = words[:max(n - 1, 0)]
    _fill_below(_stream(seed, resample), n, 1, partners)
    for t in range(len(partners)):
        _swap(labels, np.uint64(n - 1 - t), partners[t])


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
            member = members[np.uint64(first + i)]  # read once: `kept` could alias `members`
            kept[np.uint64(slot)] = member
            kept_values[np.uint64(slot)] = padded[np.uint64(member + 1)]
            cumulative[np.uint64(member + 1)] = take
            slot += take
            needed -= take
        slot += 2 * _PAD
    kept_start[len(class_start) - 1] = slot
    _sentinels(kept_values, slot)
    cumulative[0] = 0
    for p in range(len(members)):
        cumulative[p + 1] += cumulative[p]


# ----------------------------------------------------------------------------- evaluation


@intrinsic
def _bits(typing_context, value):
    """The bits of a float64, as an int64 (no conversion: a bit cast)."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@njit(cache=True, nogil=True, inline="always")
def value_key(value):
    """A 32-bit key of a float64 (no NaN) that orders as the values do, coarsely:
    ``value_key(a) < value_key(b)`` implies ``a < b``, and ``a < b`` implies
    ``value_key(a) <= value_key(b)``; equal keys decide nothing (values within ~1e-6 relative of
    each other). The top half of the value's bits, the sign folded in."""
    bits = _bits(value + 0.0)  # + 0.0: -0.0 becomes 0.0, whose bits differ
    return (bits ^ ((bits >> 63) & _LOW63)) >> 32


@njit(cache=True, nogil=True)
def bucket_index(values, buckets):
    """A search index over the sorted ``values``: ``padded``, the values between -inf and +inf
    (``padded[p + 1]`` is position ``p``); per bucket ``b`` (of equal width from ``origin``,
    ``scale`` buckets per unit), ``entries[b]``: in bits 0-30 the first position in bucket ``b``
    or later (``entries[buckets]``: n; ``_position``), bit ``_CROWDED`` set where the bucket holds
    two positions or more, above them the ``value_key`` of the value at that position -- so that
    one read of an entry settles most searches (``_bucket_steps``)."""
    n = len(values)
    padded = np.empty(n + 2)
    padded[0], padded[n + 1] = -np.inf, np.inf
    padded[1:n + 1] = values
    span = values[-1] - values[0] if n else 0.0
    scale = buckets / span if span > 0 else 0.0
    origin = values[0] if n else 0.0
    entries = np.empty(buckets + 1, dtype=np.int64)
    position = 0
    for b in range(buckets + 1):
        while position < n and _bucket(entries, origin, scale, padded[position + 1]) < b:
            position += 1
        entries[b] = position
    for b in range(buckets + 1):
        position = entries[b]
        crowded = b < buckets and entries[b + 1] - position >= 2
        entries[b] = (value_key(padded[position + 1]) << 32) | (np.int64(crowded) << _CROWDED) | position
    return padded, entries, origin, scale


@njit(cache=True, nogil=True, inline="always")
def _bucket(entries, origin, scale, x):
    """The bucket of ``x`` (``bucket_index``), non-decreasing in ``x``: a position before
    bucket ``b``'s first holds a value below ``x``, one from bucket ``b + 1``'s on a value above it."""
    buckets = len(entries) - 1
    t = (x - origin) * scale
    # Not `min(int(t), len(entries) - 2)`: with numba 0.68 that form made bisecting searches 4x slower.
    return 0 if t <= 0.0 else min(int(t), buckets - 1)


@njit(cache=True, nogil=True, inline="always")
def _position(entry):
    """The position held by an entry of ``bucket_index``."""
    return entry & _POSITION


@njit(cache=True, nogil=True, inline="always")
def _short_of(value, x, above):
    """Whether a position holding ``value`` comes before the one sought: the first position
    ``>= x`` (``above`` 0) or ``> x`` (``above`` 1)."""
    return np.int64(value < x) | (above & np.int64(value == x))


@njit(cache=True, nogil=True, inline="always")
def _first_beyond(padded, entries, origin, scale, x, above):
    """The first position whose value is ``>= x`` (``above`` 0) or ``> x`` (``above`` 1)."""
    b = _bucket(entries, origin, scale, x)
    low, high = _position(entries[np.uint64(b)]), _position(entries[np.uint64(b + 1)])
    # The bucket's ends first: a crowded bucket often holds one run of tied values.
    if _short_of(padded[np.uint64(high)], x, above):
        return high
    if not _short_of(padded[np.uint64(low + 1)], x, above):
        return low
    low += 1  # the answer is in low .. high - 1
    if high - low <= _LINEAR_SCAN:
        # No `low < high` test: position high - 1 is not short of x (checked above).
        while _short_of(padded[np.uint64(low + 1)], x, above):
            low += 1
        return low
    while low < high:  # values crowd or tie here
        middle = (low + high) // 2
        if _short_of(padded[np.uint64(middle + 1)], x, above):
            low = middle + 1
        else:
            high = middle
    return low


@njit(cache=True, nogil=True, inline="always")
def _first_beyond_from(padded, entries, origin, scale, x, above, low):
    """``_first_beyond``, knowing that no position before ``low`` is the answer: a short scan
    from ``low`` (most crowded buckets hold a few positions), else the search from the bucket."""
    scan_end = low + _LINEAR_SCAN
    while low < scan_end and _short_of(padded[np.uint64(low + 1)], x, above):
        low += 1
    return low if low < scan_end else _first_beyond(padded, entries, origin, scale, x, above)


@njit(cache=True, nogil=True, inline="always")
def _first_slot_at_least(kept, low, high, position, downward):
    """The first slot of ``kept[low:high]`` (ascending) holding ``>= position``: a short scan
    from the end where the answer is expected (``downward``: from ``high``), then bisection
    (a class with many tied values)."""
    if downward:
        scan_end = max(low, high - _LINEAR_SCAN)
        while high > scan_end and kept[np.uint64(high - 1)] >= position:
            high -= 1
        if high > scan_end or high == low:
            return high
    else:
        scan_end = min(high, low + _LINEAR_SCAN)
        while low < scan_end and kept[np.uint64(low)] < position:
            low += 1
        if low < scan_end or low == high:
            return low
    while low < high:
        middle = (low + high) // 2
        if kept[np.uint64(middle)] < position:
            low = middle + 1
        else:
            high = middle
    return low


@njit(cache=True, nogil=True)
def _exact_point(padded, entries, origin, scale, kept, kept_values, start, end, member, k_eff):
    """(low, high, k~) of one point, whatever the ties: ``values[low:high]`` are within reach."""
    value = kept_values[np.uint64(member)]
    # The k_eff-th smallest distance to the class members on either side (a merge).
    left, right = member - 1, member + 1
    radius = 0.0
    for _ in range(k_eff):
        d_left = value - kept_values[np.uint64(left)] if left >= start else np.inf
        d_right = kept_values[np.uint64(right)] - value if right < end else np.inf
        if d_left <= d_right:
            radius = d_left
            left -= 1
        else:
            radius = d_right
            right += 1
    reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
    low = _first_beyond(padded, entries, origin, scale, value - reach, 0)
    high = _first_beyond(padded, entries, origin, scale, value + reach, 1)
    # Same-class points within reach: the k_eff taken, and any beyond them that tie.
    k_tilde = k_eff + (left + 1 - _first_slot_at_least(kept, start, left + 1, low, True))
    k_tilde += _first_slot_at_least(kept, right, end, high, False) - right
    return low, high, k_tilde


@njit(cache=True, nogil=True, inline="always")
def _third(window, i):
    """Point i of a class ``window`` (``_third_neighbours``): its value, the distances to the
    three class members on each side (ascending), the reach of the 3rd nearest neighbour, and
    ``row``: 1 if that neighbour is on the left (the far candidate too; the search goes right)."""
    value = window[i + _PAD]
    # The 3rd smallest of two ascending lists, the sentinels standing in for missing ones.
    l1, l2, l3 = value - window[i + 3], value - window[i + 2], value - window[i + 1]
    r1, r2, r3 = window[i + 5] - value, window[i + 6] - value, window[i + 7] - value
    radius = min(min(l3, r3), min(max(l1, r2), max(l2, r1)))
    reach = radius + _RELATIVE_SLACK * (abs(value) + radius)
    row = np.int64((radius == l1) | (radius == l2) | (radius == l3))
    return value, (l1, l2, l3), (r1, r2, r3), reach, row


@njit(cache=True, nogil=True, inline="always")
def _target(value, reach, row):
    """The value whose first position beyond (``_first_beyond``, ``above`` = row) ends the search."""
    return value + (2 * row - 1) * reach


@njit(cache=True, nogil=True)
def _third_neighbours(window, entries, origin, scale, buckets, keys, rows, offsets, k_tildes, flags):
    """First pass of ``ross_classes`` for k_eff = 3 over one class, ``window``: its values with
    the _PAD sentinels on each side. Per point i: ``k_tildes[i]``, the class members within reach
    of the 3rd nearest neighbour; ``offsets[i]``, where the farthest of them on the 3rd
    neighbour's side sits, relative to i; ``flags[i]``, 1 if a 4th candidate is within reach.
    Every point from i to that far candidate is within reach, and nothing beyond it unless it
    has a near-tie there; so only the other side's boundary is searched: ``_first_beyond`` of
    ``_target``, ``above`` = ``rows[i]`` (1: rightwards), whose bucket and key go to
    ``buckets[i]`` and ``keys[i]`` (``_bucket_steps``). No data-dependent branch and
    contiguous reads: the loop vectorizes (a function of its own, so that nothing else keeps it
    from doing so)."""
    for i in range(len(window) - 2 * _PAD):
        value, (l1, l2, l3), (r1, r2, r3), reach, row = _third(window, i)
        on_left = np.int64(l1 <= reach) + np.int64(l2 <= reach) + np.int64(l3 <= reach)
        on_right = np.int64(r1 <= reach) + np.int64(r2 <= reach) + np.int64(r3 <= reach)
        rows[i], offsets[i], k_tildes[i] = row, on_right - row * (on_left + on_right), on_left + on_right
        target = _target(value, reach, row)
        buckets[i] = _bucket(entries, origin, scale, target)
        keys[i] = value_key(target)
        flags[i] = np.int64((value - window[i] <= reach) | (window[i + 8] - value <= reach))


@njit(cache=True, nogil=True)
def _bucket_steps(entries, buckets, keys, found, flags):
    """The first step of each point's search (``_first_beyond`` of its ``_target``), without a
    branch: one read of the index entry of the target's bucket (``buckets[i]``). ``found[i]`` is
    the answer unless the bucket holds two positions or more, or the keys (``keys[i]``: the
    target's) cannot tell the target from the value it is compared with; either sets bit 2 of
    ``flags[i]``, and ``found[i]`` is then where the search goes on (``_first_beyond_from``)."""
    for i in range(len(buckets)):
        entry = entries[np.uint64(buckets[i])]
        key, target_key = entry >> 32, keys[i]
        found[i] = _position(entry) + np.int64(key < target_key)
        flags[i] |= 2 * (((entry >> _CROWDED) & 1) | np.int64(key == target_key))


@njit(cache=True, nogil=True, inline="always")
def _bounds(q, row, far):
    """``(low, high)``, the positions within reach of a point being ``low .. high - 1``, from its
    far candidate and the other side's search result ``q`` (``_third_neighbours``)."""
    return q + row * (far - q), far + 1 + row * (q - far - 1)


@njit(cache=True, nogil=True, inline="always")
def _term(low, high, k_tilde, cumulative, psi):
    """A point's ``psi(m) - psi(k~)``, m the other kept points at positions ``low .. high - 1``
    (``cumulative``: as in ``ross_classes``)."""
    m = high - low - 1 if len(cumulative) == 0 else cumulative[np.uint64(high)] - cumulative[np.uint64(low)] - 1
    return psi[np.uint64(max(m, 1))] - psi[np.uint64(k_tilde)]


@njit(cache=True, nogil=True)
def _far_candidates(kept, tie_after, rows, fars, flags):
    """``fars[i]``: the position of point i's far candidate, from its offset (``_third_neighbours``;
    ``i + fars[i]`` stays within the class: offsets count its members); bit 1 of ``flags[i]`` set
    where a near-tie follows it (then so may points beyond)."""
    for i in range(len(kept)):
        far = kept[np.uint64(i + fars[i])]
        fars[i] = far
        flags[i] |= tie_after[np.uint64(far + 1 - rows[i])]


@njit(cache=True, nogil=True)
def _terms(found, rows, fars, k_tildes, cumulative, psi, terms):
    """``terms[i]``: ``_term`` of every point as if its flags were clear (no branch), from its
    search result ``found[i]``."""
    for i in range(len(found)):
        low, high = _bounds(found[i], rows[i], fars[i])
        terms[i] = _term(low, high, k_tildes[i], cumulative, psi)


@njit(cache=True, nogil=True)
def ross_classes(index, kept, kept_values, kept_start, cumulative, k, psi, work):
    """Ross MI of the kept points (``index``: ``SortedValues.index``):
    ``kept[kept_start[c]:kept_start[c + 1] - 2 _PAD]`` are the sorted positions of class ``c``'s
    points, ascending, ``kept_values`` their values, between sentinels (``_group_positions``).
    ``cumulative[p]``: kept points before position ``p`` (length 0: every point is kept).
    ``work``: scratch (``_work``).

    A class with k_eff = 3 (the default k) goes in passes with no data-dependent branch, all but
    the last (the compiler vectorizes the first; the others too where gathers are cheap): the 3rd
    nearest neighbour and everything but one boundary (``_third_neighbours``); the far
    candidates; the first step of the search for that boundary (``_bucket_steps``); m; then the
    points the first passes cannot settle (ties, crowded buckets), counted exactly, and the sum."""
    padded, entries, origin, scale, tie_after = index
    rows, fars, k_tildes, flags, found, terms, keys = work
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
                low, high, k_tilde = _exact_point(padded, entries, origin, scale, kept, kept_values, start, end,
                                                  member, k_eff)
                total += _term(low, high, k_tilde, cumulative, psi)
            continue
        window = kept_values[start - _PAD:end + _PAD]
        _third_neighbours(window, entries, origin, scale, found, keys, rows, fars, k_tildes, flags)
        _far_candidates(kept[start:end], tie_after, rows, fars, flags)
        _bucket_steps(entries, found[:size], keys, found, flags)
        _terms(found[:size], rows, fars, k_tildes, cumulative, psi, terms)
        for i in range(size):  # few, unless returns tie
            if flags[i]:
                if flags[i] & 1:
                    low, high, k_tilde = _exact_point(padded, entries, origin, scale, kept, kept_values, start, end,
                                                      start + i, 3)
                else:  # the search, from where its first step stopped
                    value, _, _, reach, row = _third(window, i)
                    q = _first_beyond_from(padded, entries, origin, scale, _target(value, reach, row), row, found[i])
                    (low, high), k_tilde = _bounds(q, row, fars[i]), k_tildes[i]
                terms[i] = _term(low, high, k_tilde, cumulative, psi)
        total += _sum(terms[:size])
    if used == 0:
        return np.nan
    return psi[used] - total / used


@njit(cache=True, nogil=True, inline="always")
def _work(n):
    """Scratch of ``ross_classes``, per point of a class: rows, far candidates (offsets, then
    positions), k~, flags (1: count exactly, 2: search again), search buckets then results, terms
    of the sum, search keys."""
    return (np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64),
            np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.int64))


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
            slot = fill[np.uint64(label)]
            kept[np.uint64(slot)] = p
            kept_values[np.uint64(slot)] = padded[np.uint64(p + 1)]
            fill[np.uint64(label)] = slot + 1
            count += 1
    if not every_point:
        cumulative[len(labels)] = count


# ----------------------------------------------------------------------------- histogram tables


@njit(cache=True, nogil=True)
def _table_statistic(counts, n_bins, row_sums, log_share, x_log_x, log_count, miller_madow, pooled):
    """The statistic of the flat table ``counts`` (``n_classes * n_bins``, row-major), whose row
    sums are ``row_sums`` (``log_share[c]``: log(N / n_c)). ``pooled``: scratch, ``n_bins`` long."""
    n_classes = len(row_sums)
    pooled[:] = 0
    for c in range(n_classes):
        for b in range(n_bins):
            pooled[b] += counts[np.uint64(c * n_bins + b)]
    mean = plugin = 0.0
    occupied_cells = 0
    for c in range(n_classes):
        # n_c KL(p(R|c) || p(R)) - n_c log(N / n_c) = sum_b x log x - x log m_b (histogram._kl_terms)
        inner = 0.0
        for b in range(n_bins):
            x = counts[np.uint64(c * n_bins + b)]
            inner += x_log_x[np.uint64(x)] - x * log_count[np.uint64(pooled[b])]
            occupied_cells += x > 0
        kl = inner / row_sums[c] + log_share[c]
        mean += kl
        plugin += row_sums[c] * kl
    total = row_sums.sum()
    if not miller_madow:
        return mean / n_classes
    occupied_bins = 0
    for b in range(n_bins):
        occupied_bins += pooled[b] > 0
    return plugin / total - ((occupied_cells - n_classes) - (occupied_bins - 1)) / (2.0 * total)


@njit(cache=True, nogil=True)
def _null_table(slot_class, bin_start, seed, resample, labels, words, counts):
    """Null table ``resample`` of ``seed`` into ``counts`` (flat, row-major)."""
    _shuffle_labels(slot_class, seed, resample, labels, words)
    n_bins = len(bin_start) - 1
    counts[:] = 0
    for b in range(n_bins):
        for i in range(bin_start[b], bin_start[b + 1]):
            counts[np.uint64(labels[np.uint64(i)] * n_bins + b)] += 1


@njit(cache=True, nogil=True)
def _bootstrap_table(class_bins, class_start, n_bins, seed, resample, picks, counts):
    """Bootstrap table ``resample`` of ``seed`` into ``counts``; ``class_bins[class_start[c]:
    class_start[c + 1]]``: the bins of co-player ``c``'s episodes. ``picks``: scratch, one per row."""
    state = _stream(seed, resample)
    counts[:] = 0
    for c in range(len(class_start) - 1):
        first, end = class_start[c], class_start[c + 1]
        state = _fill_below(state, end - first, 0, picks[first:end])
        for t in range(first, end):
            counts[np.uint64(c * n_bins + class_bins[np.uint64(first + picks[t])])] += 1


@njit(cache=True, nogil=True)
def _null_table_rows(slot_class, bin_start, row_sums, log_share, x_log_x, log_count, miller_madow, seed, offset, out):
    n, n_bins = len(slot_class), len(bin_start) - 1
    labels, words = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.uint64)
    counts, pooled = np.empty(len(row_sums) * n_bins, dtype=np.int64), np.empty(n_bins, dtype=np.int64)
    for s in range(len(out)):
        _null_table(slot_class, bin_start, seed, offset + s, labels, words, counts)
        out[s] = _table_statistic(counts, n_bins, row_sums, log_share, x_log_x, log_count, miller_madow, pooled)


@njit(cache=True, nogil=True)
def _bootstrap_table_rows(class_bins, class_start, n_bins, row_sums, log_share, x_log_x, log_count, miller_madow,
                          seed, offset, out):
    picks = np.empty(len(class_bins), dtype=np.uint64)
    counts, pooled = np.empty(len(row_sums) * n_bins, dtype=np.int64), np.empty(n_bins, dtype=np.int64)
    for s in range(len(out)):
        _bootstrap_table(class_bins, class_start, n_bins, seed, offset + s, picks, counts)
        out[s] = _table_statistic(counts, n_bins, row_sums, log_share, x_log_x, log_count, miller_madow, pooled)


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
    labels, kept, kept_values, kept_start, _, words, work = scratch
    _shuffle_labels(slot_class, seed, resample, labels, words)
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

# Buckets of the search index per value: with several, a search mostly ends in the first step.
# On the issue table of benchmarks/measure.py, with 8-byte entries, 8 measured 1.04x as fast as 16
# and 1.08x as fast as 4 (AMD Zen 4; 8 per value is 640 KB for 10^4 values, which stays in a 1 MB
# L2 cache). At most MAX_BUCKETS (64 MB).
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
    _shuffle_labels(np.ascontiguousarray(slot_class, dtype=np.int32), np.uint64(seed), resample, labels,
                    np.empty(len(slot_class), dtype=np.uint64))
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


class TableResampler:
    """The compiled null and bootstrap of one co-player x bin count table (every co-player with
    at least one episode). ``miller_madow``: the statistic is ``miller_madow_statistic``, else
    ``paper_statistic``."""

    def __init__(self, table: np.ndarray, miller_madow: bool) -> None:
        table = np.asarray(table, dtype=np.int64)
        n_classes, self.n_bins = table.shape
        self.row_sums = table.sum(1)
        counts = np.arange(int(self.row_sums.sum()) + 1)
        self.statistic_tables = (self.row_sums, np.log(counts[-1] / self.row_sums), xlogy(counts, counts),
                                 np.log(np.maximum(counts, 1)), bool(miller_madow))
        # Null: the labels of the rows listed by bin. Bootstrap: the bins of each co-player's rows.
        self.slot_class = np.repeat(np.arange(n_classes, dtype=np.int32), self.row_sums)
        self.bin_start = np.concatenate([[0], np.cumsum(table.sum(0))])
        self.class_start = np.concatenate([[0], np.cumsum(self.row_sums)])
        self.class_bins = np.repeat(np.tile(np.arange(self.n_bins), n_classes), table.ravel())

    def null(self, seed: int, size: int, offset: int = 0) -> np.ndarray:
        """Statistics of null tables ``offset .. offset + size - 1`` of ``seed``."""
        out = np.empty(size)
        _null_table_rows(self.slot_class, self.bin_start, *self.statistic_tables, np.uint64(seed), offset, out)
        return out

    def bootstrap(self, seed: int, size: int, offset: int = 0) -> np.ndarray:
        """Statistics of bootstrap tables ``offset .. offset + size - 1`` of ``seed``."""
        out = np.empty(size)
        _bootstrap_table_rows(self.class_bins, self.class_start, self.n_bins, *self.statistic_tables,
                              np.uint64(seed), offset, out)
        return out

    def null_table(self, seed: int, resample: int) -> np.ndarray:
        """The table ``null`` evaluates as resample ``resample`` of ``seed``."""
        counts = np.empty(len(self.row_sums) * self.n_bins, dtype=np.int64)
        n = len(self.slot_class)
        _null_table(self.slot_class, self.bin_start, np.uint64(seed), resample, np.empty(n, dtype=np.int32),
                    np.empty(n, dtype=np.uint64), counts)
        return counts.reshape(len(self.row_sums), self.n_bins)

    def bootstrap_table(self, seed: int, resample: int) -> np.ndarray:
        """The table ``bootstrap`` evaluates as resample ``resample`` of ``seed``."""
        counts = np.empty(len(self.row_sums) * self.n_bins, dtype=np.int64)
        _bootstrap_table(self.class_bins, self.class_start, self.n_bins, np.uint64(seed), resample,
                         np.empty(len(self.class_bins), dtype=np.uint64), counts)
        return counts.reshape(len(self.row_sums), self.n_bins)
