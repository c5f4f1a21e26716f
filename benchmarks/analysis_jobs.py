"""Job-seconds of the analysis jobs, this tree's code against a baseline revision from the
git history, side by side in one run.

On a bench folder whose workflow has already run (`run_benchmarks.py` leaves one in
OUT/workflow), each round reruns the chosen rules (`--forcerun`, `--until`) once with this
tree's Snakefile and package and once with the baseline's (`git archive REV` unpacked into
a temporary folder: a revision of the history, not a copy kept in the tree), one job at a
time (`--cores 1`, so the jobs do not compete; `--rerun-triggers mtime`, so that the
other variant's code does not rerun the jobs upstream). The job-seconds and CPU seconds come from
the jobs' `benchmark:` files; the table gives each rule's median over the rounds. The
rules' inputs are not touched; their outputs are rewritten by each variant in turn, this
tree's last.

Usage: python benchmarks/analysis_jobs.py --workdir bench/workflow --baseline REV
       [--rules falsification count_models bootstrap_intervals] [--rounds 3]
Times mean something only on a quiet machine.
"""

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RULES = ["falsification", "count_models", "bootstrap_intervals"]


def unpack_revision(rev, folder):
    """The tree of revision `rev` unpacked into `folder` (git archive); its commit."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True, capture_output=True,
                          text=True).stdout.strip()


def run_rules(snakefile, workdir, rules):
    """The rules rerun with `snakefile` on the folder's config, one job at a time; per rule
    (job-seconds, CPU seconds) summed over its jobs' benchmark files."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"), "--cores", "1", "--quiet", "rules",
        "--forcerun", *rules, "--until", *rules,
        "--rerun-triggers", "mtime",  # the other variant's code params must not rerun the jobs upstream
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = {}
    for rule in rules:
        files = sorted((workdir / "results" / "benchmarks" / rule).glob("*.tsv"))
        if not files:
            raise SystemExit(f"{workdir}/results/benchmarks/{rule}: no benchmark file; is {rule} a rule of this run?")
        rows = [file.read_text().splitlines()[1].split("\t") for file in files]
        header = files[0].read_text().splitlines()[0].split("\t")
        times[rule] = (sum(float(row[header.index("s")]) for row in rows),
                       sum(float(row[header.index("cpu_time")]) for row in rows))
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True,
                        help="a bench workflow folder that has run (holds config.yaml and results/)")
    parser.add_argument("--baseline", required=True, help="git revision of the code to compare against")
    parser.add_argument("--rules", nargs="+", default=RULES)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    if not (workdir / "config.yaml").is_file():
        raise SystemExit(f"--workdir {workdir}: no config.yaml; run benchmarks/run_benchmarks.py first")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], check=True,
                           capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        baseline = unpack_revision(args.baseline, folder)
        variants = {f"baseline {baseline}": Path(folder) / "Snakefile",
                    f"this tree ({head}{', modified' if dirty else ''})": REPO / "Snakefile"}
        measured = {name: [] for name in variants}
        for round_number in range(args.rounds):
            for name, snakefile in variants.items():
                measured[name].append(run_rules(snakefile, workdir, args.rules))
                print(f"round {round_number + 1}, {name}: "
                      + ", ".join(f"{rule} {s:.2f} s" for rule, (s, _) in measured[name][-1].items()), flush=True)
    names = list(variants)
    print(f"\nmedian of {args.rounds} rounds, job-seconds (CPU seconds), one job at a time, {workdir}:")
    print(f"{'rule':<22}" + "".join(f"{name:>30}" for name in names) + f"{'ratio':>8}")
    totals = {name: 0.0 for name in names}
    for rule in args.rules:
        cells = []
        for name in names:
            seconds = statistics.median(run[rule][0] for run in measured[name])
            cpu = statistics.median(run[rule][1] for run in measured[name])
            totals[name] += seconds
            cells.append((seconds, cpu))
        print(f"{rule:<22}" + "".join(f"{f'{s:.2f} ({c:.2f})':>30}" for s, c in cells)
              + f"{cells[0][0] / cells[1][0]:>7.2f}x")
    print(f"{'total':<22}" + "".join(f"{totals[name]:>30.2f}" for name in names)
          + f"{totals[names[0]] / totals[names[1]]:>7.2f}x")


if __name__ == "__main__":
    main()
