"""Per-capita rates, written in one place: a commune without a usable population (missing,
zero or negative) gets NaN, never an infinite or negative rate."""

import numpy as np
import pandas as pd


def usable_population(pop):
    """Boolean Series: the population is a finite number above zero."""
    values = pd.to_numeric(pd.Series(pop), errors="coerce").astype("float64")
    return pd.Series(np.isfinite(values.to_numpy()) & (values.to_numpy() > 0), index=values.index)


def per_1000(amount, pop):
    """amount x 1000 / pop, NaN where pop is missing, zero or negative (never inf or < 0 from
    the population)."""
    amount = pd.Series(amount).astype("float64")
    pop = pd.to_numeric(pd.Series(pop), errors="coerce").astype("float64")
    good = usable_population(pop).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = amount.to_numpy() * 1000 / pop.to_numpy()
    return pd.Series(np.where(good, rate, np.nan), index=amount.index)


def log_values(values):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(pd.Series(values).astype("float64"))
