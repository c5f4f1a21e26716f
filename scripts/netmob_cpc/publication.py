"""The crime file's publication rule, in one place.

The data.gouv.fr commune file publishes a commune's yearly count of an offence class
(`valeur.publiée` = diff, `est_diffuse` = diff) unless the count is small: a year is left
unpublished (ndiff) when that year and the years before it in a window all counted fewer
than a threshold. With `zeros_published` a year that counted no offence is published too
(a zero is not a small count that could point at anyone): then only counts of 1 to
min_count - 1 are withheld. The rule's parameters are the configuration key
`crime_publication` (`min_count`, `window_years`, `zeros_published`); the synthetic
generator, the size-only reference of the falsification tests and the censored count model
use them; the last two through `nb2_log_unpublished`, an unpublished year's probability
under a negative binomial (NB2) count.
"""

import numpy as np


def published(counts, min_count, window_years, zeros_published=False):
    """Which years are published, for yearly counts of consecutive years.

    `counts`: array (..., years), the last axis consecutive years in order. A year is
    published when at least one of it and the `window_years - 1` years before it counted
    `min_count` or more, or (with `zeros_published`) when it counted 0. Years before the
    first column are not known: for the first columns the window holds only the years
    present (pass earlier years as columns when they matter, then drop them). Returns a
    boolean array of the same shape.
    """
    counts = np.asarray(counts)
    if min_count < 0 or window_years < 1:
        raise ValueError(
            f"publication rule: min_count {min_count} must be >= 0 and window_years "
            f"{window_years} >= 1"
        )
    reached = counts >= min_count
    result = np.zeros(counts.shape, dtype=bool)
    for lag in range(window_years):
        if lag == 0:
            result |= reached
        else:
            result[..., lag:] |= reached[..., :-lag]
    if zeros_published:
        result |= counts == 0
    return result


def below_threshold(counts, min_count, zeros_published=False):
    """True where a count could belong to an unpublished year: what an unpublished year
    says about its own count (fewer than `min_count`; with `zeros_published` also at
    least 1)."""
    counts = np.asarray(counts)
    below = counts < min_count
    return below & (counts >= 1) if zeros_published else below


def unpublished_range(min_count, zeros_published=False):
    """(lowest, highest) count an unpublished year can have: (0 or 1, min_count - 1);
    empty (lowest > highest) when the rule publishes every year."""
    return (1 if zeros_published else 0), int(min_count) - 1


def nb2_logpmf(count, size, mean):
    """log P(Y = count) for Y ~ NB2 with the given size (1 / alpha) and mean:
    Gamma(count + size) / (Gamma(size) count!) (size / (size + mean))^size
    (mean / (size + mean))^count."""
    from scipy.special import gammaln

    return (gammaln(count + size) - gammaln(size) - gammaln(count + 1) + size * np.log(size / (size + mean))
            + count * np.log(mean / (size + mean)))


def nb2_log_unpublished(min_count, size, mean, zeros_published=False):
    """log P(lowest <= Y <= highest) for Y ~ NB2(size, mean), (lowest, highest) the
    `unpublished_range`: the probability that a year's count is one the rule withholds,
    summed over those few counts (closed form, no incomplete beta function); -inf where
    the rule publishes every year (the range is empty)."""
    lowest, highest = unpublished_range(min_count, zeros_published)
    if highest < lowest:
        return np.full(np.shape(mean), -np.inf)
    terms = np.stack([nb2_logpmf(np.float64(count), size, mean) for count in range(lowest, highest + 1)])
    return np.logaddexp.reduce(terms, axis=0)
