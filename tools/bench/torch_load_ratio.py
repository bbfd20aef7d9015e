#!/usr/bin/python3
"""Time torch.load against ptio's open + index on the same files, in the same run.

usage: torch_load_ratio.py --ptio-bench BUILD/bench/open_index [--runs N] [--repetitions N]
                           [--json OUT] DIR

For each count_*.pt, sample_*.pt and size_*.pt in DIR (see make_bench_files.py; a sample
file's row is the per-file cost a dataset of small files pays per item):
  torch.load   torch.load(path, weights_only=True): median of --runs timed calls after one
               untimed call, page cache warm (the file is read once before);
  ptio         the median real time of the Google Benchmark open_index/<file> (map, read the
               zip directory, unpickle, check every tensor against its storage; no storage
               byte is read), run with --benchmark_format=json on the same directory.
The ratio is torch.load's time over ptio's: how much sooner the tensors are addressable.
torch.load also copies every storage into memory; ptio's views read the mapping on access.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402

from bench_dir import bench_files, warm  # noqa: E402

UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def tensors_of(obj):
    """Every tensor reachable through dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from tensors_of(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from tensors_of(v)


def time_torch_load(path, runs):
    warm(path)
    obj = torch.load(path, weights_only=True)  # untimed: imports, allocator, page tables
    tensors = list(tensors_of(obj))
    count = len(tensors)
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    del obj, tensors
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        obj = torch.load(path, weights_only=True)
        times.append((time.perf_counter() - t0) * 1e3)
        del obj
    return count, nbytes, statistics.median(times)


def time_ptio(binary, directory, repetitions):
    cmd = [binary, directory, "--benchmark_format=json",
           f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true"]
    env = dict(os.environ, PTIO_BENCH_DIR=directory)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"torch_load_ratio: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    report = json.loads(proc.stdout)
    results = {}
    for b in report["benchmarks"]:
        if b.get("error_occurred"):
            results[b["run_name"].split("/")[1]] = {"error": b.get("error_message", "error")}
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"].split("/")[1]  # "open_index/count_100/real_time" → "count_100"
        results[name] = {"ms": b["real_time"] * UNIT_MS[b["time_unit"]],
                         "tensors": int(b.get("tensors", -1))}
    return report.get("context", {}), results


def fmt_bytes(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ptio-bench", required=True, help="the bench/open_index binary")
    ap.add_argument("--runs", type=int, default=5, help="timed torch.load calls per file")
    ap.add_argument("--repetitions", type=int, default=5, help="Google Benchmark repetitions")
    ap.add_argument("--json", help="also write the table here as JSON")
    ap.add_argument("dir")
    args = ap.parse_args()

    names = bench_files(args.dir)
    if not names:
        sys.exit(f"torch_load_ratio: no count_*.pt, sample_*.pt or size_*.pt in {args.dir}")

    torch_rows = {}
    for name in names:
        path = os.path.join(args.dir, name)
        runs = args.runs if os.path.getsize(path) < 1e9 else min(args.runs, 3)
        torch_rows[name] = time_torch_load(path, runs)
        print(f"  torch.load {name}: {torch_rows[name][2]:.2f} ms", file=sys.stderr, flush=True)
    context, ptio_rows = time_ptio(args.ptio_bench, args.dir, args.repetitions)

    rows = []
    for name in names:
        stem = name[:-3]
        count, nbytes, torch_ms = torch_rows[name]
        p = ptio_rows.get(stem, {"error": "no result"})
        row = {"file": name, "tensors": count, "data_bytes": nbytes, "torch_load_ms": torch_ms,
               "ptio_ms": p.get("ms"), "ratio": None, "error": p.get("error")}
        if p.get("ms"):
            row["ratio"] = torch_ms / p["ms"]
            if p.get("tensors", count) != count:
                row["error"] = f"ptio lists {p['tensors']} tensors, torch {count}"
        rows.append(row)

    print(f"torch {torch.__version__}; ptio bench on {context.get('num_cpus', '?')} CPUs, "
          f"{context.get('mhz_per_cpu', '?')} MHz; page cache warm; medians")
    header = ("file", "tensors", "data", "torch.load ms", "ptio open+index ms", "ratio")
    print(f"{header[0]:<18} {header[1]:>8} {header[2]:>10} {header[3]:>14} {header[4]:>19} {header[5]:>8}")
    for r in rows:
        ptio_ms = f"{r['ptio_ms']:.3f}" if r["ptio_ms"] is not None else "-"
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] is not None else "-"
        print(f"{r['file']:<18} {r['tensors']:>8} {fmt_bytes(r['data_bytes']):>10} "
              f"{r['torch_load_ms']:>14.2f} {ptio_ms:>19} {ratio:>8}"
              + (f"   ({r['error']})" if r["error"] else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "context": context, "rows": rows}, f, indent=1)
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
