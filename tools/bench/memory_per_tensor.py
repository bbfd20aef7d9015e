#!/usr/bin/python3
"""Resident memory an open checkpoint holds per tensor, beside torch.load's, fresh processes.

usage: memory_per_tensor.py --open-index BUILD/bench/open_index [--runs N] [--json OUT] DIR

For each count_*.pt in DIR (see make_bench_files.py), each figure the median of --runs fresh
processes, page cache warm:
  ptio        open_index --memory FILE: the resident set (/proc/self/status VmRSS) just before
              checkpoint::open and with the checkpoint open and indexed; the growth is its tree,
              names, tensors and the file pages the open touched (RssFile: the zip directory
              and the pickle); "anon" is the growth of RssAnon alone, what the process itself
              allocated;
  torch.load  /usr/bin/python3 with torch imported: VmRSS before and after
              torch.load(FILE, weights_only=True), the result kept: its tensors and their
              storages (copies of the data), dicts and names.
Bytes per tensor is the growth over the tensor count. The target for ptio is at most 400 B per
tensor at 100,000 tensors.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from bench_dir import bench_files, warm, write_rows

TORCH_CHILD = r"""
import sys, warnings
warnings.filterwarnings("ignore")
import torch

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

def count(obj):
    if isinstance(obj, torch.Tensor):
        return 1
    if isinstance(obj, dict):
        return sum(count(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(count(v) for v in obj)
    return 0

before = rss()
obj = torch.load(sys.argv[1], weights_only=True)
after = rss()
print(count(obj), before, after)
"""


def run(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"memory_per_tensor: {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def ptio_growth(binary, path):
    r = json.loads(run([binary, "--memory", path]))
    return r["tensors"], r["VmRSS_after"] - r["VmRSS_before"], r["RssAnon_after"] - r["RssAnon_before"]


def torch_growth(python, path):
    tensors, before, after = (int(x) for x in run([python, "-c", TORCH_CHILD, path]).split())
    return tensors, after - before


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--open-index", required=True, help="the bench/open_index binary")
    ap.add_argument("--python", default="/usr/bin/python3", help="a python with torch")
    ap.add_argument("--runs", type=int, default=3, help="fresh processes per figure")
    ap.add_argument("--json", help="also write the table here as JSON")
    ap.add_argument("dir")
    args = ap.parse_args()

    names = bench_files(args.dir, kinds=("count",))
    if not names:
        sys.exit(f"memory_per_tensor: no count_*.pt in {args.dir}")
    rows = []
    for name in names:
        path = os.path.join(args.dir, name)
        warm(path)
        ptio = [ptio_growth(args.open_index, path) for _ in range(args.runs)]
        torch_ = [torch_growth(args.python, path) for _ in range(args.runs)]
        tensors = ptio[0][0]
        if torch_[0][0] != tensors:
            sys.exit(f"memory_per_tensor: {name}: ptio lists {tensors} tensors, torch {torch_[0][0]}")
        grown = statistics.median(p[1] for p in ptio)
        anon = statistics.median(p[2] for p in ptio)
        torch_grown = statistics.median(t[1] for t in torch_)
        rows.append({"file": name, "tensors": tensors, "ptio_bytes": grown, "ptio_anon_bytes": anon,
                     "torch_bytes": torch_grown, "ptio_per_tensor": grown / tensors,
                     "ptio_anon_per_tensor": anon / tensors, "torch_per_tensor": torch_grown / tensors})

    print(f"resident set growth in fresh processes; medians of {args.runs}")
    print(f"{'file':<18} {'tensors':>8} {'ptio MB':>9} {'B/tensor':>9} {'anon B/t':>9}"
          f" {'torch.load MB':>14} {'B/tensor':>9}")
    for r in rows:
        print(f"{r['file']:<18} {r['tensors']:>8} {r['ptio_bytes'] / 1e6:>9.2f}"
              f" {r['ptio_per_tensor']:>9.0f} {r['ptio_anon_per_tensor']:>9.0f}"
              f" {r['torch_bytes'] / 1e6:>14.2f} {r['torch_per_tensor']:>9.0f}")
    write_rows(args.json, args.runs, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
