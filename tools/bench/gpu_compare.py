#!/usr/bin/env python3
"""Load the same checkpoint onto a GPU with ptio and with its peers, in one run.

usage: gpu_compare.py --ptio BIN [--sizes-gb 1,8] [--repeat 5] [--device cuda:0] WORKDIR

Needs torch 2.x with CUDA and safetensors (the GPU machine has both). For each size it writes
a model-like state_dict of bfloat16 tensors (Llama-like, hidden 2048, 9 tensors and
~134 MB a layer) with torch.save, and the same tensors with safetensors, reads both files once so they
sit in the page cache, and then measures, each peer in its own process (medians of --repeat
after one warm-up; every load ends with torch.cuda.synchronize()):

  ptio            `ptio bench FILE --device cuda:0 --json`: our load, the pinned and
                  pageable cudaMemcpyAsync bandwidth of the same GPU, ptio's peak RSS
  torch.load      torch.load(FILE, map_location="cuda:0")  (weights_only, torch's default)
  torch.mmap      torch.load(FILE, mmap=True, map_location="cpu"), then .to("cuda:0") each
  safetensors     safetensors.torch.load_file(FILE.safetensors, device="cuda:0")

and each process's peak resident memory growth (VmHWM after the loads minus before). The
table goes to stdout; --json FILE writes every figure.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PEER = r"""
import json, os, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
method, path, device, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.cuda.init(); torch.zeros(1, device=device); torch.cuda.synchronize()

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

def load():
    if method == "torch.load":
        return torch.load(path, map_location=device)
    if method == "torch.mmap":
        sd = torch.load(path, mmap=True, map_location="cpu")
        return {k: v.to(device) for k, v in sd.items()}
    if method == "safetensors":
        from safetensors.torch import load_file
        return load_file(path, device=device)
    raise SystemExit("unknown method " + method)

base = hwm()
times = []
for i in range(repeat + 1):
    t0 = time.perf_counter()
    sd = load()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    nbytes = sum(v.numel() * v.element_size() for v in sd.values())
    del sd
    torch.cuda.empty_cache()
    if i:
        times.append(dt)
print(json.dumps({"method": method, "seconds": times, "median": statistics.median(times),
                  "bytes": nbytes, "peak_rss_growth": hwm() - base}))
"""


def make(path_pt, path_st, gb):
    """A Llama-like layout: per layer q/k/v/o (h x h), gate/up/down (4h x h), two norms."""
    import torch
    from safetensors.torch import save_file
    h = 2048
    shapes = [("input_layernorm.weight", (h,)), ("post_attention_layernorm.weight", (h,))]
    shapes += [(f"self_attn.{n}_proj.weight", (h, h)) for n in "qkvo"]
    shapes += [("mlp.gate_proj.weight", (4 * h, h)), ("mlp.up_proj.weight", (4 * h, h)),
               ("mlp.down_proj.weight", (h, 4 * h))]
    per_layer = sum(2 * (s[0] * (s[1] if len(s) > 1 else 1)) for _, s in shapes)
    layers = max(1, round(gb * 1e9 / per_layer))
    g = torch.Generator(device="cuda").manual_seed(0)
    sd = {}
    for i in range(layers):
        for name, shape in shapes:
            sd[f"model.layers.{i}.{name}"] = torch.randn(
                shape, generator=g, device="cuda", dtype=torch.bfloat16).cpu()
    torch.save(sd, path_pt)
    save_file(sd, path_st)
    return len(sd), sum(v.numel() * v.element_size() for v in sd.values())


def warm(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 24):
            pass


def peer(method, path, device, repeat):
    out = subprocess.run([sys.executable, "-c", PEER, method, path, device, str(repeat)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(results):
    print("| file | tensors | GB | loader | median | GB/s | vs pinned | ptio is | peak RSS growth |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        ours = r["ptio"]
        pinned = ours["peer"]["pinned_gbps"]
        name = os.path.basename(r["file"])
        gb = r["bytes"] / 1e9
        rows = [("ptio", ours["median_seconds"], ours["peak_rss_bytes"] - ours["rss_before_bytes"])]
        rows += [(m, r[m]["median"], r[m]["peak_rss_growth"])
                 for m in ("torch.load", "torch.mmap", "safetensors")]
        for loader, sec, rss in rows:
            gbps = r["bytes"] / sec / 1e9
            print(f"| {name} | {r['tensors']} | {gb:.2f} | {loader} | {sec * 1e3:.0f} ms | "
                  f"{gbps:.1f} | {gbps / pinned:.2f} | {sec / ours['median_seconds']:.1f}x | "
                  f"{rss / 1e6:.0f} MB |")
        print(f"| {name} | | | pinned cudaMemcpyAsync | | {pinned:.1f} | 1.00 | | |")
        print(f"| {name} | | | pageable cudaMemcpyAsync | | {ours['peer']['pageable_gbps']:.1f} | "
              f"{ours['peer']['pageable_gbps'] / pinned:.2f} | | |")
        print(f"#   ptio: pinned pool {ours['pinned_bytes'] / 1e6:.0f} MB, peak RSS "
              f"{ours['peak_rss_bytes'] / 1e6:.0f} MB (before {ours['rss_before_bytes'] / 1e6:.0f} MB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workdir")
    ap.add_argument("--ptio", required=True, help="the ptio binary")
    ap.add_argument("--sizes-gb", default="1,8")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--ptio-args", default="", help="extra arguments for ptio bench")
    ap.add_argument("--json", help="write all figures here")
    ap.add_argument("--keep", action="store_true", help="keep the files written")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    results = []
    for gb in [float(s) for s in args.sizes_gb.split(",")]:
        pt = os.path.join(args.workdir, f"model_{gb:g}gb.pt")
        st = os.path.join(args.workdir, f"model_{gb:g}gb.safetensors")
        t0 = time.monotonic()
        count, nbytes = make(pt, st, gb)
        print(f"# {os.path.basename(pt)}: {count} tensors, {nbytes / 1e9:.2f} GB, written in "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        warm(pt)
        warm(st)
        cmd = [args.ptio, "bench", pt, "--device", args.device, "--repeat", str(args.repeat),
               "--json"] + args.ptio_args.split()
        ours = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        row = {"file": pt, "tensors": count, "bytes": nbytes, "ptio": ours}
        for method, path in (("torch.load", pt), ("torch.mmap", pt), ("safetensors", st)):
            row[method] = peer(method, path, args.device, args.repeat)
            print(f"#   {method}: {row[method]['median'] * 1e3:.0f} ms", flush=True)
        results.append(row)
        if not args.keep:
            os.remove(pt)
            os.remove(st)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
