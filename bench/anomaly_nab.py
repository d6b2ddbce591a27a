"""NAB, the Numenta Anomaly Benchmark, on `fullcycle detect` with its default settings.

Runs NAB's harness (tools/run_nab.py, kept outside this repository) over the 58 files: one
`fullcycle detect` process per file sees only that file's timestamp,value rows, so there is
one configuration for all files and no access to labels or file names; the harness also checks
that scores of a prefix equal the prefix of the scores. Prints the harness report and the
published scoreboard next to our three profile scores.

    .venv/bin/python bench/anomaly_nab.py [--nab-root ../shared/benchmarks/nab] [-j 2]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PUBLISHED = (
    ("ARTime", 74.9, 65.1, 80.4),
    ("Numenta HTM", 70.1, 63.1, 74.3),
    ("Windowed Gaussian", 39.6, 20.9, 47.4),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--nab-root", type=Path, default=REPOSITORY.parent / "shared/benchmarks/nab"
    )
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    command = shlex.quote(str(Path(sys.executable).parent / "fullcycle")) + " detect -i {input}"
    harness = args.nab_root / "tools" / "run_nab.py"
    completed = subprocess.run(  # noqa: S603 (our own harness command line)
        [sys.executable, str(harness), "-q", "-j", str(args.jobs), command],
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stderr.write(completed.stderr)
    print(completed.stdout, end="")
    print(f"{'published':20} {'standard':>9} {'low FP':>7} {'low FN':>7}")
    for name, standard, low_fp, low_fn in PUBLISHED:
        print(f"{name:20} {standard:>9.1f} {low_fp:>7.1f} {low_fn:>7.1f}")
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
