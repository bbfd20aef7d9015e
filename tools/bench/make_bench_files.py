#!/usr/bin/python3
"""Write the benchmark inputs with real torch (Debian's python3-torch, 1.13).

usage: make_bench_files.py [--big] [--force] [--copy-mb N] [--legacy] OUTDIR

  count_<N>.pt   state_dicts of N small float32 tensors (16 elements each),
                 N in 1, 10, 100, 1000, 2400, 10000, 100000
  sample_12KB.pt one dataset sample: a dict of four tensors of ~12 KB in all (a 3x32x32 uint8
                 image, 2048 float32 features, a 256-element bool mask, an int64 label), the
                 file a dataset opens per item
  size_10MB.pt   a 2400-tensor transformer-like layout (200 layers x 12 tensors) with ~10 MB
  size_4GB.pt    the same layout with ~4 GB (only with --big: it needs ~4 GB of memory and
                 as much disk, and takes minutes)
  copy.pt        "weight", a contiguous float32 matrix of ~N MB (default 128), and
                 "weight_t", its transpose (same storage), for bench/copy_contiguous

--legacy writes every file in the legacy format instead (torch.save with
_use_new_zipfile_serialization=False: storages packed after the pickles, unaligned), for
torch_load_ratio.py and ptio bench on that format. Existing files are kept unless --force is
given. Each file is written under its final base
name in a scratch folder and then renamed into place, so the archive prefix is the file's
stem, as when torch.save writes to a path.
"""

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402

COUNTS = [1, 10, 100, 1000, 2400, 10000, 100000]
LAYERS = 200  # x 12 tensors per layer = 2400


def small_tensors(n):
    sd = collections.OrderedDict()
    for i in range(n):
        sd[f"layers.{i}.weight"] = torch.randn(16)
    return sd


def layered(hidden):
    """200 transformer-like layers of 12 tensors: ~200 * (12 h^2 + 13 h) float32."""
    sd = collections.OrderedDict()
    h = hidden
    for i in range(LAYERS):
        p = f"layers.{i}."
        sd[p + "ln1.weight"] = torch.ones(h)
        sd[p + "ln1.bias"] = torch.zeros(h)
        sd[p + "attn.qkv.weight"] = torch.empty(3 * h, h).normal_()
        sd[p + "attn.qkv.bias"] = torch.zeros(3 * h)
        sd[p + "attn.out.weight"] = torch.empty(h, h).normal_()
        sd[p + "attn.out.bias"] = torch.zeros(h)
        sd[p + "ln2.weight"] = torch.ones(h)
        sd[p + "ln2.bias"] = torch.zeros(h)
        sd[p + "mlp.fc1.weight"] = torch.empty(4 * h, h).normal_()
        sd[p + "mlp.fc1.bias"] = torch.zeros(4 * h)
        sd[p + "mlp.fc2.weight"] = torch.empty(h, 4 * h).normal_()
        sd[p + "mlp.fc2.bias"] = torch.zeros(h)
    return sd


def sample():
    """One dataset item, ~12 KB of tensors: what a loader of many small files opens per item."""
    return {
        "image": torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8),
        "features": torch.randn(2048),
        "mask": torch.rand(256) > 0.5,
        "label": torch.tensor(7),
    }


def copy_pair(mb):
    cols = 4096
    rows = max(1, int(mb * 1e6 / 4 / cols))
    w = torch.empty(rows, cols).normal_()
    return collections.OrderedDict([("weight", w), ("weight_t", w.t())])


def save(obj, path, legacy=False):
    scratch = tempfile.mkdtemp(prefix=".make_bench_", dir=os.path.dirname(path))
    try:
        tmp = os.path.join(scratch, os.path.basename(path))
        torch.save(obj, tmp, _use_new_zipfile_serialization=not legacy)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--big", action="store_true", help="also write size_4GB.pt (heavy)")
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    ap.add_argument("--copy-mb", type=int, default=128, help="size of copy.pt's matrix")
    ap.add_argument("--legacy", action="store_true", help="write the legacy (non-zip) format")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    torch.manual_seed(0)

    jobs = [(f"count_{n}.pt", lambda n=n: small_tensors(n)) for n in COUNTS]
    jobs.append(("sample_12KB.pt", sample))
    jobs.append(("size_10MB.pt", lambda: layered(32)))    # 200 * (12*32^2 + 13*32) * 4 = 10.2 MB
    if args.big:
        jobs.append(("size_4GB.pt", lambda: layered(640)))  # 200 * (12*640^2 + 13*640) * 4 = 3.94 GB
    jobs.append(("copy.pt", lambda: copy_pair(args.copy_mb)))

    for name, make in jobs:
        path = os.path.join(args.outdir, name)
        if os.path.exists(path) and not args.force:
            print(f"  {name}: exists, kept", flush=True)
            continue
        t0 = time.monotonic()
        obj = make()
        save(obj, path, legacy=args.legacy)
        del obj
        print(f"  {name}: {os.path.getsize(path) / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
