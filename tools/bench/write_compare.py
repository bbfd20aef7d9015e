#!/usr/bin/env python3
"""Write throughput: ptio's writer against torch.save and dd, measured in the same run.

    write_compare.py --ptio PTIO [--size-mb N] [--repeat N] [--json OUT] WORKDIR

The tensors: `ptio sample` writes a Llama-like bfloat16 state_dict of N MB (default 1000);
torch loads it into memory. Then, alternating, each --repeat times:

  torch.save   torch.save(state_dict, WORKDIR/torch.pt) of those in-memory tensors
  ptio cp      `ptio cp src.pt WORKDIR/ptio.pt`: the same tensors, read from the mapping of
               a torch-written copy in the page cache (ptio's write_seconds: save() only)
  dd           dd if=/dev/zero bs=16M of the same byte count

each twice: buffered (into the page cache, timing ends when the writer returns) and durable
(fsync / ptio cp --sync / dd conv=fdatasync, timing ends when the bytes are on disk). Before
every timed write the previous output is removed and `sync` run, so no write pays for an
earlier one's dirty pages. Figures are GB/s (10^9 bytes) of the file's size; medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def fresh(path):
    if os.path.exists(path):
        os.remove(path)
    os.sync()


def time_torch_save(sd, path, durable):
    fresh(path)
    t = time.perf_counter()
    torch.save(sd, path)
    if durable:
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    return time.perf_counter() - t


def time_ptio_cp(ptio, src, path, durable):
    fresh(path)
    out = sh(ptio, "cp", src, path, "--json", *(["--sync"] if durable else []))
    return json.loads(out.stdout)["write_seconds"]


def time_dd(path, nbytes, durable):
    fresh(path)
    count = max(1, round(nbytes / (16 << 20)))
    t = time.perf_counter()
    sh("dd", "if=/dev/zero", f"of={path}", "bs=16M", f"count={count}",
       *(["conv=fdatasync"] if durable else []))
    return (time.perf_counter() - t) * nbytes / (count * (16 << 20))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptio", required=True)
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("workdir")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    sample = os.path.join(a.workdir, "sample.pt")
    sh(a.ptio, "sample", sample, "--size-mb", str(a.size_mb))
    sd = torch.load(sample)
    src = os.path.join(a.workdir, "src.pt")
    torch.save(sd, src)  # the source ptio cp reads: torch-written, in the page cache
    os.remove(sample)
    nbytes = os.path.getsize(src)
    with open(src, "rb") as f:
        while f.read(1 << 24):
            pass

    runs = {(w, d): [] for w in ("torch.save", "ptio cp", "dd") for d in (False, True)}
    out_t, out_p, out_d = (os.path.join(a.workdir, n) for n in ("torch.pt", "ptio.pt", "dd.bin"))
    for _ in range(a.repeat):
        for durable in (False, True):
            runs[("torch.save", durable)].append(time_torch_save(sd, out_t, durable))
            runs[("ptio cp", durable)].append(time_ptio_cp(a.ptio, src, out_p, durable))
            runs[("dd", durable)].append(time_dd(out_d, nbytes, durable))
    for p in (out_t, out_p, out_d, src):
        if os.path.exists(p):
            os.remove(p)

    rate = {k: nbytes / statistics.median(v) / 1e9 for k, v in runs.items()}
    print(f"{nbytes / 1e9:.2f} GB, {len(sd)} tensors, torch {torch.__version__}, "
          f"{os.cpu_count()} cores, medians of {a.repeat}")
    print(f"{'writer':<12} {'buffered GB/s':>14} {'durable GB/s':>13}")
    for w in ("torch.save", "ptio cp", "dd"):
        print(f"{w:<12} {rate[(w, False)]:>14.2f} {rate[(w, True)]:>13.2f}")
    for d, label in ((False, "buffered"), (True, "durable")):
        print(f"{label}: ptio / torch.save = {rate[('ptio cp', d)] / rate[('torch.save', d)]:.2f}x, "
              f"ptio / dd = {rate[('ptio cp', d)] / rate[('dd', d)]:.2f}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"bytes": nbytes, "tensors": len(sd), "torch": torch.__version__,
                       "runs": {f"{w}|{'durable' if d else 'buffered'}": v for (w, d), v in runs.items()},
                       "gbps": {f"{w}|{'durable' if d else 'buffered'}": r for (w, d), r in rate.items()}},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
