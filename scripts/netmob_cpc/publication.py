"""The crime file's publication rule, in one place.

The data.gouv.fr commune file publishes a commune's yearly count of an offence class
(`valeur.publiée` = diff, `est_diffuse` = diff) unless the count is small: a year is left
unpublished (ndiff) when that year and the years before it in a window all counted fewer
than a threshold. The rule's parameters are the configuration key `crime_publication`
(`min_count`, `window_years`); the synthetic generator, the crime stage's counts, the
size-only reference of the falsification tests and the simulation all call `published`.
"""

import numpy as np


def published(counts, min_count, window_years):
    """Which years are published, for yearly counts of consecutive years.

    `counts`: array (..., years), the last axis consecutive years in order. A year is
    published when at least one of it and the `window_years - 1` years before it counted
    `min_count` or more. Years before the first column are not known: for the first
    columns the window holds only the years present (pass earlier years as columns when
    they matter, then drop them). Returns a boolean array of the same shape.
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
    return result


def below_threshold(counts, min_count):
    """True where a count is below the publication threshold: what an unpublished year
    says about its own count (it counted fewer than `min_count`)."""
    return np.asarray(counts) < min_count
