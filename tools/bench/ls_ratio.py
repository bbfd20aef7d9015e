#!/usr/bin/python3
"""Time `ptio ls` and `ptio ls --json` against a process that only opens and indexes.

usage: ls_ratio.py --ptio BUILD/tools/ptio/ptio --open-index BUILD/bench/open_index
                   [--runs N] [--json OUT] DIR

For each count_*.pt, sample_*.pt and size_*.pt in DIR (see make_bench_files.py), three
processes, each run once untimed and then --runs times (page cache warm, stdout to /dev/null):
  open        open_index --once FILE: open and index FILE (map, zip directory, unpickle, name
              every tensor), then exit: the work every ls needs, and a process's start and exit;
  ls          ptio ls FILE;
  ls --json   ptio ls --json FILE.
Printed: the median wall time and CPU time (user + system, steadier on a shared machine) of
each, the ratios of ls and ls --json to open (what listing adds to the open: formatting and
writing the lines, and the CLI's own start), and each process's peak resident set (ru_maxrss,
median). The target is a ratio of at most 1.5 at every size: listing is linear in
the tensors, like the open.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

from bench_dir import bench_files, write_rows


def run_once(argv):
    """Wall seconds, CPU seconds (user + system) and peak resident bytes of one process; exits
    on failure. posix_spawn (a vfork), so the child's ru_maxrss is its own, not this
    interpreter's copied at a fork."""
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as errors:
        actions = [(os.POSIX_SPAWN_DUP2, devnull.fileno(), 1), (os.POSIX_SPAWN_DUP2, errors.fileno(), 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
        errors.seek(0)
        err = errors.read().decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"ls_ratio: {' '.join(argv)} failed ({code}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def measure(argv, runs):
    """Medians: wall ms, CPU ms, peak resident bytes."""
    run_once(argv)  # untimed: page cache, dynamic loader
    samples = [run_once(argv) for _ in range(runs)]
    return tuple(statistics.median(s[i] for s in samples) * (1e3 if i < 2 else 1) for i in range(3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ptio", required=True, help="the ptio binary")
    ap.add_argument("--open-index", required=True, help="the bench/open_index binary")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each process per file")
    ap.add_argument("--json", help="also write the table here as JSON")
    ap.add_argument("dir")
    args = ap.parse_args()

    names = bench_files(args.dir)
    if not names:
        sys.exit(f"ls_ratio: no count_*.pt, sample_*.pt or size_*.pt in {args.dir}")
    rows = []
    for name in names:
        path = os.path.join(args.dir, name)
        row = {"file": name}
        for key, argv in (("open", [args.open_index, "--once", path]), ("ls", [args.ptio, "ls", path]),
                          ("ls_json", [args.ptio, "ls", "--json", path])):
            row[key + "_ms"], row[key + "_cpu_ms"], row[key + "_max_rss"] = measure(argv, args.runs)
        for key in ("ls", "ls_json"):
            row[key + "_ratio"] = row[key + "_ms"] / row["open_ms"]
            row[key + "_cpu_ratio"] = row[key + "_cpu_ms"] / row["open_cpu_ms"]
        rows.append(row)

    print(f"processes on {os.cpu_count()} CPUs; page cache warm; medians of {args.runs} runs; "
          "wall ms (CPU ms, user + system); ratios to open")
    print(f"{'file':<18} {'open':>16} {'ls':>16} {'ratio':>11} {'ls --json':>16} {'ratio':>11}"
          f" {'peak MB open/ls/json':>21}")
    for r in rows:
        def t(key):
            return f"{r[key + '_ms']:.2f} ({r[key + '_cpu_ms']:.2f})"

        def q(key):
            return f"{r[key + '_ratio']:.2f} ({r[key + '_cpu_ratio']:.2f})"
        print(f"{r['file']:<18} {t('open'):>16} {t('ls'):>16} {q('ls'):>11} {t('ls_json'):>16}"
              f" {q('ls_json'):>11} {r['open_max_rss'] / 1e6:>7.1f}/{r['ls_max_rss'] / 1e6:.1f}/"
              f"{r['ls_json_max_rss'] / 1e6:.1f}")
    write_rows(args.json, args.runs, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
