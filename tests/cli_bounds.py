#!/usr/bin/env python3
"""No file under 1 MB may cost more than 512 MiB of memory or 5 s of CPU in any command.

    cli_bounds.py --ptio PTIO MALFORMED_DIR

Runs every command that reads a file (ls, ls --hash, ls --state-dict, show, show --json,
verify, load --map-location cpu, cp, extra) on every file under 1 MB in MALFORMED_DIR (the
malformed table, with its bombs: tests/malformed/mal_caps_cases.py), each in a child with an
address-space and CPU-time rlimit, so that a regression fails here rather than swaps. A
command passes when it exits 0, 1 or 2 (never 3, an internal error, or a signal), its peak
RSS stays under 512 MiB and its CPU time under 5 s. Prints one line per failure and the
largest figures seen; exits 1 on any failure, 77 (skipped) for a sanitizer build, whose
shadow memory the rlimits cannot allow for.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile

MAX_FILE = 1 << 20
MAX_RSS_KB = 512 * 1024
MAX_CPU_S = 5.0
AS_LIMIT = 8 << 30   # far above the bound: only keeps a regression from swapping
CPU_LIMIT_S = 60


def commands(path, scratch):
    dst = os.path.join(scratch, "copy.pt")
    return [["ls", path], ["ls", path, "--hash"], ["ls", path, "--state-dict"], ["show", path],
            ["show", path, "--json"], ["verify", path], ["load", path, "--map-location", "cpu"],
            ["cp", path, dst], ["extra", path], ["scan", path], ["scan", path, "--json"]]


def limit():
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))


def measure(argv):
    """(exit status or -signal, peak RSS in kB, CPU seconds) of one child."""
    with open(os.devnull, "wb") as null:
        child = subprocess.Popen(argv, stdout=null, stderr=null, preexec_fn=limit)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = 0  # reaped here; keep Popen from waiting again
    code = os.waitstatus_to_exitcode(status)
    return code, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ptio", required=True)
    ap.add_argument("dir")
    args = ap.parse_args()
    with open(args.ptio, "rb") as f:
        binary = f.read()
    if b"__asan_init" in binary or b"__tsan_init" in binary or b"__msan_init" in binary:
        print("cli_bounds: a sanitizer build; skipped")
        return 77
    files = sorted(n for n in os.listdir(args.dir)
                   if os.path.isfile(os.path.join(args.dir, n)) and not n.endswith(".tsv")
                   and os.path.getsize(os.path.join(args.dir, n)) < MAX_FILE)
    bombs = [n for n in files if n.startswith("caps_")]
    if len(bombs) < 6:
        print(f"FAIL: only {len(bombs)} caps_* bombs in {args.dir}")
        return 1
    failures = 0
    worst_rss = (0, "")
    worst_cpu = (0.0, "")
    scratch = tempfile.mkdtemp(prefix="ptio-bounds-")
    try:
        for name in files:
            for cmd in commands(os.path.join(args.dir, name), scratch):
                code, rss, cpu = measure([args.ptio] + cmd)
                what = f"ptio {cmd[0]} {name} {' '.join(cmd[2:])}".rstrip()
                worst_rss = max(worst_rss, (rss, what))
                worst_cpu = max(worst_cpu, (cpu, what))
                problems = []
                if code not in (0, 1, 2):
                    problems.append(f"exit status {code}")
                if rss > MAX_RSS_KB:
                    problems.append(f"peak RSS {rss // 1024} MiB")
                if cpu > MAX_CPU_S:
                    problems.append(f"{cpu:.1f} s of CPU")
                if problems:
                    failures += 1
                    print(f"FAIL: {what}: {', '.join(problems)}", flush=True)
                for leftover in os.listdir(scratch):
                    os.remove(os.path.join(scratch, leftover))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"cli_bounds: {len(files)} files, {len(files) * len(commands('', ''))} commands; "
          f"largest peak RSS {worst_rss[0] // 1024} MiB ({worst_rss[1]}), most CPU "
          f"{worst_cpu[0]:.2f} s ({worst_cpu[1]})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
