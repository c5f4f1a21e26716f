"""Day x hour heatmap tables (the seed's "Generating Heatmap data" cells).

The hourly series with 0 replaced by `zero_replacement` (the seed builds the heatmaps from
that same `df_hour`), Tor scaled by the commune's correction factor c, summed per
weekday and hour: for all communes, the top-N communes by cpc_per_1000, and the first,
second and third commune.

The sums are taken with NumPy over 7 x 24 bins (weekday index x hour), not with a pandas
group-by on weekday-name strings: at full scale the hourly series has tens of millions of
rows, and a column of Python strings per row would cost more memory than the series.
The tables come out as the seed's `groupby(['Day', 'Hour']).sum()` gives them: one row per
(weekday, hour) that occurs in the data, weekday names in alphabetical order, then hours;
a NaN (a commune without c) counts as 0 in a sum, as in pandas.
"""

import calendar
import datetime

import numpy as np
import pandas as pd

# English names whatever the machine's locale (the seed uses strftime('%A')).
WEEKDAYS = np.array(list(calendar.day_name), dtype=object)  # Monday .. Sunday
# The hourly series' columns the heatmaps use (reading only these keeps the job small).
HOURLY_COLUMNS = ["code_com", "date", "hour", "porn", "tor", "control"]
# The estimate table's columns they use.
ESTIMATE_COLUMNS = ["code_com", "c", "cpc_per_1000"]
ROLES = ("tor_scaled", "porn", "control")


def weekday_indexes(dates):
    """Weekday (0 = Monday .. 6 = Sunday) of each YYYYMMDD integer date, computed once per
    distinct date."""
    unique, inverse = np.unique(np.asarray(dates), return_inverse=True)
    days = [datetime.date(d // 10000, d // 100 % 100, d % 100).weekday() for d in unique.tolist()]
    return np.asarray(days, dtype=np.int8)[inverse.reshape(-1)]


def ranked_communes(estimates):
    """Communes by cpc_per_1000, highest first, NaN last, ties by code_com."""
    ordered = estimates.sort_values(
        ["cpc_per_1000", "code_com"], ascending=[False, True], na_position="last", kind="mergesort"
    )
    return ordered["code_com"].tolist()


class HourlyBins:
    """The hourly series reduced to what every heatmap needs: per row its (weekday, hour)
    bin and commune, and the three summed values (0 replaced, Tor x c)."""

    def __init__(self, hourly, factors, zero_replacement):
        hours = hourly["hour"].to_numpy()
        self.bins = weekday_indexes(hourly["date"].to_numpy()).astype(np.int16) * 24 + hours.astype(np.int16)
        self.commune_index, communes = pd.factorize(hourly["code_com"], sort=False)
        self.communes = np.asarray(communes, dtype=object).astype(str)
        c = pd.Series(factors, dtype="float64").reindex(self.communes).to_numpy()
        self.values = {}
        for role in ("porn", "tor", "control"):
            values = hourly[role].to_numpy(dtype="float64", na_value=np.nan)
            self.values[role] = np.where(values == 0, zero_replacement, values)
        self.values["tor_scaled"] = self.values.pop("tor") * c[self.commune_index]

    def table(self, apps, communes=None):
        """Sum per weekday and hour over `communes` (all when None)."""
        if communes is None:
            rows = slice(None)
        else:
            wanted = np.isin(self.communes, np.asarray(list(communes), dtype=str))
            rows = wanted[self.commune_index]
        bins = self.bins[rows]
        present = np.bincount(bins, minlength=168) > 0
        sums = {
            role: np.bincount(bins, weights=np.nan_to_num(self.values[role][rows], nan=0.0), minlength=168)
            for role in ROLES
        }
        keys = np.flatnonzero(present)
        days, hours = WEEKDAYS[keys // 24], keys % 24
        order = np.lexsort((hours, days.astype(str)))  # the seed's groupby order
        keys = keys[order]
        return pd.DataFrame(
            {
                "Day": WEEKDAYS[keys // 24].astype(str),
                "Hour": (keys % 24).astype(int),
                f"{apps['tor']}_scaled": sums["tor_scaled"][keys],
                apps["porn"]: sums["porn"][keys],
                apps["control"]: sums["control"][keys],
            }
        )


def heatmap(bins, apps, communes=None):
    """One heatmap table: sums per weekday and hour over `communes` (all when None)."""
    return bins.table(apps, communes)


def heatmaps(hourly, estimates, *, apps, zero_replacement, top_n):
    """The five heatmap tables (README: Outputs), keyed by output name: `heatmap` (all
    communes), `heatmap_10` (the top_n by cpc_per_1000) and `heatmap_rank1..3` (one
    commune each, its code in a first column `code_com`; header only when there are
    fewer communes than the rank)."""
    factors = estimates.drop_duplicates("code_com").set_index("code_com")["c"]
    bins = HourlyBins(hourly, factors, zero_replacement)
    ranking = ranked_communes(estimates)
    result = {"heatmap": heatmap(bins, apps), "heatmap_10": heatmap(bins, apps, ranking[:top_n])}
    for rank in (1, 2, 3):
        if rank <= len(ranking):
            code = ranking[rank - 1]
            heat = heatmap(bins, apps, [code])
        else:
            code, heat = None, heatmap(bins, apps, [])
        heat.insert(0, "code_com", code)
        result[f"heatmap_rank{rank}"] = heat
    return result
