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
Printed: the median wall time of each, the ratio of ls and ls --json to open (what listing adds
to the open: formatting and writing the lines), and each process's peak resident set
(ru_maxrss, median). The target is a ratio of at most 1.5 at every size: listing is linear in
the tensors, like the open.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from bench_dir import bench_files


def run_once(argv):
    """Wall seconds and peak resident bytes of one process; exits on failure. posix_spawn (a
    vfork), so the child's ru_maxrss is its own, not this interpreter's copied at a fork."""
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
    return wall, usage.ru_maxrss * 1024


def measure(argv, runs):
    run_once(argv)  # untimed: page cache, dynamic loader
    samples = [run_once(argv) for _ in range(runs)]
    return (statistics.median(s[0] for s in samples) * 1e3,
            statistics.median(s[1] for s in samples))


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
        open_ms, open_rss = measure([args.open_index, "--once", path], args.runs)
        ls_ms, ls_rss = measure([args.ptio, "ls", path], args.runs)
        json_ms, json_rss = measure([args.ptio, "ls", "--json", path], args.runs)
        rows.append({"file": name, "open_ms": open_ms, "ls_ms": ls_ms, "ls_json_ms": json_ms,
                     "ls_ratio": ls_ms / open_ms, "ls_json_ratio": json_ms / open_ms,
                     "open_max_rss": open_rss, "ls_max_rss": ls_rss, "ls_json_max_rss": json_rss})

    print(f"processes on {os.cpu_count()} CPUs; page cache warm; medians of {args.runs} runs")
    print(f"{'file':<18} {'open ms':>9} {'ls ms':>9} {'ratio':>6} {'--json ms':>10} {'ratio':>6}"
          f" {'open MB':>8} {'ls MB':>8} {'--json MB':>9}")
    for r in rows:
        print(f"{r['file']:<18} {r['open_ms']:>9.2f} {r['ls_ms']:>9.2f} {r['ls_ratio']:>5.2f}x"
              f" {r['ls_json_ms']:>10.2f} {r['ls_json_ratio']:>5.2f}x"
              f" {r['open_max_rss'] / 1e6:>8.1f} {r['ls_max_rss'] / 1e6:>8.1f}"
              f" {r['ls_json_max_rss'] / 1e6:>9.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": args.runs, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
