"""The seed notebook, transcribed into plain pandas, as the reference for the workflow.

This module follows the cells of the authors' analysis notebook (Koebe et al. 2024,
*Unveiling local patterns of child pornography consumption in France using Tor*; the
notebooks are in the authors' public repository Societal-Computing/netmob_tor) one by one:
the same loop over cities / apps / days reading each traffic file with
`pd.read_csv(sep=" ", names=...)`, the same left merge with the city's tile map,
`groupby(["code_dep", "code_com"]).sum()`, concat, melt, merge across apps,
`drop_duplicates` across cities, outage filter, commune totals, hourly series,
zero replacement, logs, per-commune correlations, shares, population, crime rates,
Spearman tests, the dependent-correlation test and the heatmap tables.

It was written from the notebook, the formats of the README ("Inputs", "Outputs") and
the section "Definitions the notebook leaves open" of ARCHITECTURE.md only, without
looking at the workflow's scripts, so that comparing the two is a real check. Every
place where it departs from the notebook is marked `# DEPARTURE:` and says why.

It is deliberately slow and simple (the whole traffic of a run is held in memory
as one long DataFrame): use it on small inputs.
"""

import datetime
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr, t

METHODS = ("pearson_log", "pearson_log_squared", "pearson_log_centered", "spearman_log")

CPC_COM_COLUMNS = [
    "cities", "code_com", "code_dep", "traffic_dir",
    # + the three app columns (porn, tor, control names), inserted at run time
    "c", "pop", "Tor_to_darknet_share", "Pornography_in_darknet_URL_share",
    "Child_pornography_to_pornography_in_darknet_URL_share",
    "cpc", "cpc_per_1000", "log_cpc", "log_cpc_per_1000",
    "yt_per_1000", "wa_per_1000", "tor_per_1000",
    "log_yt_per_1000", "log_wa_per_1000", "log_tor_per_1000",
    "sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21",
    # DEPARTURE: the workflow's additions: share of the commune inside the tile grid
    # (empty for a given tile map), and whether c is the floor rather than an estimate.
    "coverage", "c_floored",
]

# DEPARTURE: English weekday names whatever the locale (strftime('%A') follows it).
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

PARIS = ZoneInfo("Europe/Paris")


# ---------------------------------------------------------------------------------
# Small helpers (arguments)
# ---------------------------------------------------------------------------------

def _as_date(value):
    """A date from a datetime.date, 'YYYY-MM-DD' or 'YYYYMMDD'."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    fmt = "%Y%m%d" if len(text) == 8 else "%Y-%m-%d"
    return datetime.datetime.strptime(text, fmt).date()


def _as_share(value):
    """A number, or a fraction written 'a/b' as in the config."""
    if isinstance(value, str) and "/" in value:
        numerator, denominator = value.split("/")
        return float(numerator) / float(denominator)
    return float(value)


def slot_names(day):
    """Wall-clock names 'HH:MM' of the 15-minute slots of a day in Europe/Paris.

    96 names on an ordinary day; 92 on the spring clock change (2019-03-31:
    00:00..01:45 then 03:00..23:45).
    """
    start = datetime.datetime(day.year, day.month, day.day, tzinfo=PARIS)
    next_day = day + datetime.timedelta(days=1)
    end = datetime.datetime(next_day.year, next_day.month, next_day.day, tzinfo=PARIS)
    # (aware datetimes of one zone subtract as wall-clock times: go through UTC)
    start_utc = start.astimezone(datetime.timezone.utc)
    end_utc = end.astimezone(datetime.timezone.utc)
    n_slots = int((end_utc - start_utc).total_seconds() // 900)
    names = [
        (start_utc + datetime.timedelta(minutes=15 * i)).astimezone(PARIS).strftime("%H:%M")
        for i in range(n_slots)
    ]
    if len(set(names)) != len(names):
        raise ValueError(f"{day}: autumn clock change (repeated hour) is not supported")
    return names


def _field_count(path):
    with open(path) as handle:
        for line in handle:
            if line.strip():
                return len(line.rstrip("\r\n").split(" "))
    return None


def _read_tile_map(tile_map):
    if isinstance(tile_map, pd.DataFrame):
        map_df = tile_map.copy()
    elif str(tile_map).endswith(".parquet"):
        map_df = pd.read_parquet(tile_map)
    else:
        map_df = pd.read_csv(tile_map, dtype={"code_com": str, "code_dep": str})
    map_df["code_com"] = map_df["code_com"].astype(str)
    map_df["code_dep"] = map_df["code_dep"].astype(str)
    if "coverage" not in map_df.columns:
        map_df["coverage"] = np.nan
    return map_df[["tile_id", "cities", "code_dep", "code_com", "pop", "coverage"]]


# ---------------------------------------------------------------------------------
# Cells of the notebook
# ---------------------------------------------------------------------------------

def commune_time_series(netmob_dir, map_df, cities, app_names, rate_str, days):
    """'Extract commune-level time series': one row per (city, commune, day, slot)."""
    df = pd.DataFrame()
    for city_str in cities:
        map_city = map_df[map_df.cities == city_str]
        df_0 = pd.DataFrame()
        for app_str in app_names:
            df_1 = pd.DataFrame()
            # DEPARTURE: the period comes from arguments (notebook: March 16 .. May 31).
            for day in days:
                day_str = day.strftime("%Y%m%d")
                path = Path(netmob_dir) / city_str / app_str / day_str / (
                    f"{city_str}_{app_str}_{day_str}_{rate_str}.txt")
                # DEPARTURE: the slots carry their real wall-clock times (92 on the
                # clock-change day), not 96 names counted from midnight.
                times_str = slot_names(day)
                found = _field_count(path)
                if found is not None and found != 1 + len(times_str):
                    raise ValueError(
                        f"{path}: line 1 has {found} fields, expected {1 + len(times_str)} "
                        f"(tile_id + {len(times_str)} slots of {day_str})")

                columns = ["tile_id"] + times_str
                df_2 = pd.read_csv(path, sep=" ", names=columns)

                df_2_list = list(df_2)
                df_2_list.remove("tile_id")

                df_2 = (df_2.merge(map_city, on="tile_id", how="left")
                        .groupby(["code_dep", "code_com"])[df_2_list]
                        .sum()
                        .reset_index()
                        .copy())
                df_2["date"] = day_str
                df_1 = pd.concat([df_1, df_2])

            df_1 = pd.melt(df_1, id_vars=["code_dep", "code_com", "date"],
                           var_name="time", value_name=app_str).copy()
            # DEPARTURE: the slots 02:00..02:45 of the clock-change day do not exist
            # and give no rows. After groupby().sum() no value is NaN, so a NaN here
            # is exactly a slot that is not a column of that day's file.
            df_1 = df_1.dropna(subset=[app_str])

            if df_0.empty:
                df_0 = df_1.copy()
            else:
                df_0 = df_0.merge(df_1, on=["code_dep", "code_com", "date", "time"],
                                  how="left").reset_index().copy()
            df_0["traffic_dir"] = rate_str
            df_0["cities"] = city_str
        df = pd.concat([df, df_0])

    df["hour"] = df["time"].str.split(":").str[0].astype(int)
    # A commune in several cities' maps: the first city in the given order wins.
    df = df.drop_duplicates(subset=["code_com", "date", "time"])
    return df


def drop_outages(df, porn, outage_dates):
    """'Filter out network downtimes': slots of the outage days with zero porn traffic."""
    # DEPARTURE: outage dates come from arguments (notebook: 20190512, 20190331).
    outage_str = [_as_date(d).strftime("%Y%m%d") for d in outage_dates]
    return df[~((df[porn] == 0) & (df["date"].isin(outage_str)))]


def hourly_series(df, app_names, zero_replacement):
    """df_hour: hourly sums per commune, zeros replaced, logs."""
    porn, tor, control = app_names
    # DEPARTURE: explicit app columns (pandas 3 would concatenate the code_dep strings).
    df_hour = (df
               .drop(columns=["time"])
               .groupby(["date", "hour", "code_com", "cities", "traffic_dir"])[list(app_names)]
               .sum()
               .reset_index()
               .copy())
    df_hour["date"] = pd.to_numeric(df_hour["date"])
    # DEPARTURE: pandas 3 refuses 0.001 in an integer column: cast to float first.
    df_hour[list(app_names)] = df_hour[list(app_names)].astype(float)
    df_hour.loc[df_hour[tor] == 0, tor] = zero_replacement
    df_hour.loc[df_hour[porn] == 0, porn] = zero_replacement
    df_hour.loc[df_hour[control] == 0, control] = zero_replacement

    df_hour["Web_Adult_log"] = np.log(df_hour[porn])
    df_hour["YouTube_log"] = np.log(df_hour[control])
    df_hour["Tor_log"] = np.log(df_hour[tor])
    return df_hour


def _undefined(x):
    # DEPARTURE (ARCHITECTURE.md, "Definitions the notebook leaves open"): a constant log
    # series has no correlation.
    return x["Web_Adult_log"].nunique() <= 1 or x["Tor_log"].nunique() <= 1


def correlation_coefficient_log_pear(x):
    if _undefined(x):
        return np.nan
    return x["Web_Adult_log"].corr(x["Tor_log"], method="pearson")


def correlation_coefficient_log_spear(x):
    if _undefined(x):
        return np.nan
    return x["Web_Adult_log"].corr(x["Tor_log"], method="spearman")


def correction_factors(df_hour, method, tor_share, porn_share, csam_share, floor):
    """'Calculate correction factor by correlation time series by commune'."""
    function = (correlation_coefficient_log_spear if method == "spearman_log"
                else correlation_coefficient_log_pear)
    correction_factor = (pd.DataFrame(df_hour
                                      .groupby("code_com")
                                      .apply(function), columns=["c"])
                         .reset_index())
    # DEPARTURE: the four methods of ARCHITECTURE.md (the notebook runs c1 only:
    # c * (105/253) * 0.011).
    r = correction_factor["c"]
    scale = csam_share * tor_share
    if method == "pearson_log":
        correction_factor["c"] = r * scale
    elif method == "pearson_log_squared":
        # DEPARTURE: the notebook only names c2 = rho**2 in its text; a negative rho is
        # floored as in c1 (squaring would make opposite movements a positive factor).
        correction_factor["c"] = np.where(r < 0, -1.0, r ** 2 * scale)
    elif method == "spearman_log":
        correction_factor["c"] = r * scale
    elif method == "pearson_log_centered":
        c_global = tor_share * porn_share * csam_share
        correction_factor["c"] = (r - r.mean() + 1) * c_global
    else:
        raise ValueError(f"correction_method {method!r}: expected one of {', '.join(METHODS)}")
    # DEPARTURE: c_floored records which factors the floor replaced.
    correction_factor["c_floored"] = correction_factor["c"] < 0
    correction_factor.loc[correction_factor.c < 0, "c"] = floor
    return correction_factor


def crime_rates(crime_csv, crime_class, crime_years, crime_year):
    """'Testing for correlations with commune-level sexual violence rates'."""
    crime = pd.read_csv(crime_csv, delimiter=";", decimal=",",
                        dtype={"CODGEO_2023": str, "tauxpourmille": float,
                               "complementinfotaux": float})
    years = list(crime_years)
    # DEPARTURE: class and years from arguments (notebook: 'Violences sexuelles', 17..21, 19).
    crime = (crime[(crime["classe"] == crime_class) & (crime["annee"].isin(years))]
             .rename(columns={"CODGEO_2023": "code_com",
                              "tauxpourmille": "sv_per_1000_com",
                              "complementinfotaux": "sv_per_1000_est",
                              "annee": "date",
                              "classe": "indicator"})
             [["code_com", "sv_per_1000_com", "sv_per_1000_est", "date", "indicator"]])
    crime["sv_per_1000"] = crime["sv_per_1000_com"].fillna(crime["sv_per_1000_est"])

    one_year = crime[crime["date"] == crime_year]
    all_years = crime[crime["date"].isin(years)]
    df_crime = (one_year
                .groupby(["code_com"])["sv_per_1000"].mean()
                .reset_index()
                .rename(columns={"sv_per_1000": "sv_19"})
                .merge(all_years
                       .groupby(["code_com"])["sv_per_1000"].mean()
                       .reset_index()
                       .rename(columns={"sv_per_1000": "sv_17_21"}))
                .merge(one_year
                       .groupby(["code_com"])["sv_per_1000_com"].mean()
                       .reset_index()
                       .rename(columns={"sv_per_1000_com": "sv_com_19"}))
                .merge(all_years
                       .groupby(["code_com"])["sv_per_1000_com"].mean()
                       .reset_index()
                       .rename(columns={"sv_per_1000_com": "sv_com_17_21"})))
    return df_crime


def add_estimates(cp_com, tor, porn, control):
    """'Calculate consumption estimate' and the other services per 1000."""
    # DEPARTURE: a population that is missing, zero or negative gives no per-capita rate
    # (the notebook would write inf or a negative rate).
    population = cp_com["pop"]
    cp_com["pop"] = population.where(population > 0)
    cp_com["cpc"] = cp_com[tor] * cp_com["c"]
    cp_com["cpc_per_1000"] = cp_com[tor] * cp_com["c"] * 1000 / cp_com["pop"]
    with np.errstate(divide="ignore", invalid="ignore"):
        cp_com["log_cpc"] = np.log(cp_com[tor] * cp_com["c"])
        cp_com["log_cpc_per_1000"] = np.log(cp_com[tor] * cp_com["c"]) * 1000 / cp_com["pop"]

    cp_com["yt_per_1000"] = cp_com[control] / cp_com["pop"] * 1000
    cp_com["wa_per_1000"] = cp_com[porn] / cp_com["pop"] * 1000
    cp_com["tor_per_1000"] = cp_com[tor] / cp_com["pop"] * 1000
    with np.errstate(divide="ignore", invalid="ignore"):
        cp_com["log_yt_per_1000"] = np.log(cp_com[control]) / cp_com["pop"] * 1000
        cp_com["log_wa_per_1000"] = np.log(cp_com[porn]) / cp_com["pop"] * 1000
        cp_com["log_tor_per_1000"] = np.log(cp_com[tor]) / cp_com["pop"] * 1000
    cp_com["pop"] = population
    return cp_com


def spearman_test_table(cp_com):
    """The notebook's `test`: communes with a crime rate, per-1000 values in log."""
    test = cp_com[["yt_per_1000", "wa_per_1000", "tor_per_1000",
                   "cpc_per_1000", "sv_17_21", "sv_com_17_21"]]
    # DEPARTURE: finite sv_com_17_21 (the notebook: dropna).
    test = test[np.isfinite(test["sv_com_17_21"])].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        test["yt_per_1000"] = np.log(test["yt_per_1000"])
        test["wa_per_1000"] = np.log(test["wa_per_1000"])
        test["tor_per_1000"] = np.log(test["tor_per_1000"])
        test["cpc_per_1000"] = np.log(test["cpc_per_1000"])
    return test


def spearman_pair(test, x, y):
    """spearmanr(test[x], test[y]) with n."""
    # DEPARTURE: pairs with a non-finite value are left out; n counts the rest.
    pair = test[[x, y]]
    pair = pair[np.isfinite(pair[x]) & np.isfinite(pair[y])]
    n = len(pair)
    if n < 2:
        return np.nan, np.nan, n
    result = spearmanr(pair[x], pair[y])
    return float(result[0]), float(result[1]), n


def dependent_corr_test(r_ab, r_ac, r_bc, n):
    """The notebook's paired-samples test for dependent correlation coefficients."""
    r_diff = r_ab - r_ac
    se_diff = np.sqrt((1 - r_bc**2) / (n - 3))

    t_value = r_diff / se_diff
    # DEPARTURE: the notebook's 2 * (1 - t.cdf(|t|)) as the survival function, the same
    # number without rounding to 0 for |t| past about 8.
    p_value = 2 * t.sf(abs(t_value), df=n-2)

    return t_value, p_value


def steiger_test(r_ab, r_ac, r_bc, n):
    """Steiger's (1980) Z for two dependent correlations sharing variable A."""
    # DEPARTURE: a further test added to dependent_corr.csv.
    z_ab = np.arctanh(r_ab)
    z_ac = np.arctanh(r_ac)
    rbar = (r_ab + r_ac) / 2
    psi = r_bc * (1 - 2 * rbar**2) - 0.5 * rbar**2 * (1 - 2 * rbar**2 - r_bc**2)
    cbar = psi / (1 - rbar**2) ** 2
    z_value = (z_ab - z_ac) * np.sqrt((n - 3) / (2 - 2 * cbar))
    p_value = 2 * norm.sf(abs(z_value))
    return z_value, p_value


def williams_test(r_ab, r_ac, r_bc, n):
    """Williams' (1959) t as Steiger (1980) writes it, n - 3 degrees of freedom."""
    # DEPARTURE: a further test added to dependent_corr.csv.
    det = 1 - r_ab**2 - r_ac**2 - r_bc**2 + 2 * r_ab * r_ac * r_bc
    rbar = (r_ab + r_ac) / 2
    t_value = (r_ab - r_ac) * np.sqrt(
        (n - 1) * (1 + r_bc) / (2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r_bc) ** 3))
    return t_value, 2 * t.sf(abs(t_value), df=n - 3)


def dependent_correlations(test):
    """CPC-YT, CPC-WA, CPC-Tor as in the notebook (same argument order)."""
    comparisons = [
        ("CPC-YT", ("yt_per_1000", "sv_com_17_21"), ("cpc_per_1000", "sv_com_17_21"),
         ("yt_per_1000", "cpc_per_1000")),
        ("CPC-WA", ("wa_per_1000", "sv_com_17_21"), ("cpc_per_1000", "sv_com_17_21"),
         ("cpc_per_1000", "wa_per_1000")),
        ("CPC-Tor", ("tor_per_1000", "sv_com_17_21"), ("cpc_per_1000", "sv_com_17_21"),
         ("cpc_per_1000", "tor_per_1000")),
    ]
    rows = []
    for name, ab, ac, bc in comparisons:
        # DEPARTURE: complete cases of the three variables; n is their count (notebook: 731).
        variables = sorted(set(ab + ac + bc))
        complete = test[np.isfinite(test[variables]).all(axis=1)]
        n = len(complete)
        r_ab = spearmanr(complete[ab[0]], complete[ab[1]])[0] if n >= 2 else np.nan
        r_ac = spearmanr(complete[ac[0]], complete[ac[1]])[0] if n >= 2 else np.nan
        r_bc = spearmanr(complete[bc[0]], complete[bc[1]])[0] if n >= 2 else np.nan
        # DEPARTURE: the three formulas divide by n - 3: undefined for n <= 3.
        t_value = p_value = steiger_z = steiger_p = williams_t = williams_p = np.nan
        if n > 3:
            with np.errstate(divide="ignore", invalid="ignore"):
                t_value, p_value = dependent_corr_test(r_ab, r_ac, r_bc, n)
                steiger_z, steiger_p = steiger_test(r_ab, r_ac, r_bc, n)
                williams_t, williams_p = williams_test(r_ab, r_ac, r_bc, n)
        rows.append({"comparison": name, "r_ab": float(r_ab), "r_ac": float(r_ac),
                     "r_bc": float(r_bc), "n": n, "t_value": float(t_value),
                     "p_value": float(p_value), "steiger_z": float(steiger_z),
                     "steiger_p": float(steiger_p), "williams_t": float(williams_t),
                     "williams_p": float(williams_p)})
    return pd.DataFrame(rows)


def heatmap_table(df_hour_part, porn, control):
    """groupby(['Day', 'Hour'])[['Tor_scaled', porn, control]].sum()."""
    return (df_hour_part
            .rename(columns={"hour": "Hour", "day": "Day"})
            .groupby(["Day", "Hour"])[["Tor_scaled", porn, control]]
            .sum()
            .reset_index())


# ---------------------------------------------------------------------------------
# The whole notebook
# ---------------------------------------------------------------------------------

def run_reference(*, netmob_dir, tile_map, crime_csv, cities, apps, directions, start, end,
                  outage_dates, tor_to_darknet_share, porn_in_darknet_share,
                  csam_in_porn_share, correction_method="pearson_log",
                  zero_replacement=0.001, negative_factor_floor=0.00001,
                  crime_class="Violences sexuelles", crime_years=(17, 18, 19, 20, 21),
                  crime_year=19, top_n=10):
    """Run the seed notebook on the given inputs; {direction: {output name: table}}."""
    if correction_method not in METHODS:
        raise ValueError(f"correction_method {correction_method!r}: expected one of "
                         f"{', '.join(METHODS)}")
    map_df = _read_tile_map(tile_map)
    porn, tor, control = apps["porn"], apps["tor"], apps["control"]
    app_names = [porn, tor, control]
    tor_share = _as_share(tor_to_darknet_share)
    porn_share = _as_share(porn_in_darknet_share)
    csam_share = _as_share(csam_in_porn_share)
    first, last = _as_date(start), _as_date(end)
    days = [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]
    df_crime = crime_rates(crime_csv, crime_class, crime_years, crime_year)

    results = {}
    # DEPARTURE: each direction on its own (the notebook's loop would merge DL and UL
    # columns of the same app into one table).
    for rate_str in directions:
        df = commune_time_series(netmob_dir, map_df, cities, app_names, rate_str, days)
        df = drop_outages(df, porn, outage_dates)

        # "Calculate child pornography consumption"
        # DEPARTURE: explicit app columns (pandas 3 would concatenate code_dep strings,
        # and the notebook's leftover 'index'/'level_0' columns are not summed).
        cp_com = (df
                  .drop(columns=["time", "date", "hour"])
                  .groupby(["cities", "code_com", "traffic_dir"])[app_names]
                  .sum()
                  .reset_index()
                  .copy())

        df_hour = hourly_series(df, app_names, zero_replacement)

        def factors(method):
            return correction_factors(df_hour, method, tor_share, porn_share, csam_share,
                                      negative_factor_floor)

        cp_com = cp_com.merge(factors(correction_method), on="code_com", how="left")

        # "Add population data"
        cp_com = cp_com.merge(map_df[["code_com", "pop"]].drop_duplicates("code_com"),
                              on="code_com", how="left")
        # DEPARTURE: cpc_com carries code_dep (the commune's department in the map).
        cp_com = cp_com.merge(map_df[["code_com", "code_dep"]].drop_duplicates("code_com"),
                              on="code_com", how="left")

        # "Assign global factor"
        cp_com["Tor_to_darknet_share"] = tor_share
        cp_com["Pornography_in_darknet_URL_share"] = porn_share
        cp_com["Child_pornography_to_pornography_in_darknet_URL_share"] = csam_share

        cp_com = add_estimates(cp_com, tor, porn, control)

        # DEPARTURE: coverage of each commune by its city's tile grid.
        cp_com = cp_com.merge(map_df[["cities", "code_com", "coverage"]]
                              .drop_duplicates(["cities", "code_com"]),
                              on=["cities", "code_com"], how="left")

        # "Merge with cpc estimates"
        cp_com = cp_com.merge(df_crime, on="code_com", how="left").drop_duplicates(["code_com"])
        columns = CPC_COM_COLUMNS[:4] + app_names + CPC_COM_COLUMNS[4:]
        cp_com = cp_com[columns].reset_index(drop=True)

        # "Getting Spearman's rho and test for different from null"
        test = spearman_test_table(cp_com)
        spearman_rows = []
        for x, y in [("yt_per_1000", "sv_com_17_21"), ("wa_per_1000", "sv_com_17_21"),
                     ("tor_per_1000", "sv_com_17_21"), ("cpc_per_1000", "sv_com_17_21"),
                     ("yt_per_1000", "cpc_per_1000")]:
            rho, pvalue, n = spearman_pair(test, x, y)
            spearman_rows.append({"x": x, "y": y, "rho": rho, "pvalue": pvalue, "n": n})
        spearman = pd.DataFrame(spearman_rows)

        dependent_corr = dependent_correlations(test)

        # DEPARTURE: correction_methods.csv, Spearman of each method's log cpc_per_1000
        # with sv_com_17_21 (the notebook's comparison of c1..c4).
        method_rows = []
        for method in METHODS:
            variant = cp_com.drop(columns=["c", "c_floored"]).merge(
                factors(method), on="code_com", how="left")
            pop = variant["pop"].where(variant["pop"] > 0)
            variant["cpc_per_1000"] = variant[tor] * variant["c"] * 1000 / pop
            rho, pvalue, n = spearman_pair(spearman_test_table(variant), "cpc_per_1000",
                                           "sv_com_17_21")
            method_rows.append({"method": method, "rho": rho, "pvalue": pvalue, "n": n})
        correction_methods = pd.DataFrame(method_rows)

        # "Generating Heatmap data"
        df_hour = df_hour.merge(cp_com[["code_com", "c"]], on=["code_com"], how="left")
        df_hour["Tor_scaled"] = df_hour[tor] * df_hour["c"]
        # (pandas 3 deprecates parsing integers with a format: go through str)
        df_hour["date"] = pd.to_datetime(df_hour["date"].astype(str), format="%Y%m%d")
        # DEPARTURE: English weekday names whatever the locale.
        df_hour["day"] = [WEEKDAYS[d] for d in df_hour["date"].dt.day_of_week]

        heatmap = heatmap_table(df_hour, porn, control)

        # DEPARTURE: cpc_per_1000 descending, NaN last, ties by code_com.
        ranked = cp_com.sort_values(["cpc_per_1000", "code_com"], ascending=[False, True],
                                    na_position="last")
        top = ranked["code_com"].head(top_n).tolist()
        heatmap_10 = heatmap_table(df_hour[df_hour["code_com"].isin(top)], porn, control)

        ranks = {}
        for k in (1, 2, 3):
            chosen = ranked["code_com"].iloc[k - 1:k].tolist()
            table = heatmap_table(df_hour[df_hour["code_com"].isin(chosen)], porn, control)
            # DEPARTURE: the rank files name their commune in a code_com column.
            table.insert(0, "code_com", chosen[0] if chosen else None)
            ranks[f"heatmap_rank{k}"] = table

        c_values = cp_com["c"]
        summary = {
            "n_communes": int(len(cp_com)),
            # DEPARTURE: a commune without a usable population is not tested.
            "n_tested": int((np.isfinite(cp_com["sv_com_17_21"]) & (cp_com["pop"] > 0)).sum()),
            "cpc_share_of_tor": float(cp_com["cpc"].sum() / cp_com[tor].sum()),
            "global_csam_share": float(tor_share * porn_share * csam_share),
            "mean_c": float(c_values.mean()) if c_values.notna().any() else math.nan,
            "median_c": float(c_values.median()) if c_values.notna().any() else math.nan,
        }

        results[rate_str] = {
            "cpc_com": cp_com,
            "spearman": spearman,
            "dependent_corr": dependent_corr,
            "correction_methods": correction_methods,
            "heatmap": heatmap,
            "heatmap_10": heatmap_10,
            **ranks,
            "summary": summary,
        }
    return results
