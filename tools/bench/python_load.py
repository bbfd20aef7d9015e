#!/usr/bin/env python3
"""ptio.load against torch.load and its peers, from Python, on the same files in one run.

usage: python_load.py [--big-mb N] [--repeat N] [--ptio PATH] [--pythonpath DIR]
                      [--devices cpu,cuda:0] [--json OUT] [--keep] WORKDIR

Writes two state_dicts with torch.save (and, where safetensors is installed, the same tensors
with safetensors.torch.save_file) into WORKDIR, removed at the end unless --keep:

  sd_2400.pt     200 transformer-like layers x 12 tensors = 2,400 tensors (~20 MB): weights
                 float16, norms and biases float32
  sd_<N>MB.pt    24 such layers plus a 32000-row embedding, hidden size chosen so that the
                 file holds at least --big-mb MB (default 1000: 1 GB)

then times, for each file and each device (cpu, and cuda:0 where torch.cuda.is_available()),
each loader in its own process (one untimed warm-up, then --repeat timed runs; median, min
and max reported; CUDA loads end with torch.cuda.synchronize()):

  ptio.load              ptio.load(f, map_location=dev): CPU tensors are views of the mapping
  ptio.load(mmap=False)  the same with owned copies (cpu only; CUDA loads never keep the map)
  torch.load             torch.load(f, map_location=dev, weights_only=True)
  torch.load(mmap=True)  the same with mmap=True, where this torch has it (>= 2.1)
  safetensors            safetensors.torch.load_file(f.safetensors, device=dev), if installed
  ptio bench (C++)       `ptio bench f --device dev --json` (with --ptio): the C++ load, owned
                         copies on cpu, so compare it with ptio.load(mmap=False) there

Two figures a run: "returned", until the loader has returned the dict with every tensor a
Python object (lazy loaders, the mmap ones, have read little of the data by then); and
"touched", that plus reading every byte of every tensor (one torch.cat into a preallocated
buffer), the fair figure for the data. On cuda the data are on the device when the load
returns (synchronized), so only "returned" is given. Ratios are torch.load's median over the
loader's, same file, device and figure: how many times sooner. Every loader's tensors are
checked against torch.load's (names, dtypes, shapes and a CRC-32 of the bytes, outside the
timing); a loader that disagrees is marked in the table and, like one that fails, makes the
script exit 1.

The page cache is warm: each file is read once before its timings. Cold-cache loads are out
of scope here (this script cannot drop the page cache; `ptio bench --cold` measures ptio's
own cold load where posix_fadvise allows).
"""

import argparse
import collections
import gc
import importlib.util
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
import zlib

LAYERS_2400 = 200  # x 12 tensors a layer
VOCAB = 32000


# --- the files --------------------------------------------------------------------------------

def layer_shapes(h):
    """One transformer-like layer: (name, shape, is a weight matrix)."""
    return [("ln1.weight", (h,), False), ("ln1.bias", (h,), False),
            ("attn.qkv.weight", (3 * h, h), True), ("attn.qkv.bias", (3 * h,), False),
            ("attn.out.weight", (h, h), True), ("attn.out.bias", (h,), False),
            ("ln2.weight", (h,), False), ("ln2.bias", (h,), False),
            ("mlp.fc1.weight", (4 * h, h), True), ("mlp.fc1.bias", (4 * h,), False),
            ("mlp.fc2.weight", (h, 4 * h), True), ("mlp.fc2.bias", (h,), False)]


def file_bytes(layers, h, vocab):
    """The tensor bytes of state_dict(layers, h, vocab): weights 2 bytes, the rest 4."""
    per_layer = sum((2 if w else 4) * _numel(s) for _, s, w in layer_shapes(h))
    return layers * per_layer + (2 * vocab * h + 4 * h if vocab else 0)


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def hidden_for(target_bytes, layers, vocab):
    """The smallest hidden size, a multiple of 64, whose state_dict reaches target_bytes."""
    h = 64
    while file_bytes(layers, h, vocab) < target_bytes:
        h += 64
    return h


def state_dict(torch, layers, h, vocab):
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict()
    if vocab:
        sd["embed.weight"] = torch.randn(vocab, h, generator=g).half()
    for i in range(layers):
        for name, shape, weight in layer_shapes(h):
            if weight:
                sd[f"layers.{i}.{name}"] = torch.randn(*shape, generator=g).half()
            else:
                sd[f"layers.{i}.{name}"] = torch.randn(*shape, generator=g)
    if vocab:
        sd["norm.weight"] = torch.ones(h)
    return sd


def write_files(torch, workdir, big_mb, safetensors):
    """One dict a file (label, pt, safetensors or None, tensors, bytes, hidden), written in turn."""
    big_h = hidden_for(big_mb * 1e6, 24, VOCAB)
    plans = [("sd_2400", LAYERS_2400, 64, 0), (f"sd_{big_mb}MB", 24, big_h, VOCAB)]
    files = []
    for stem, layers, h, vocab in plans:
        t0 = time.monotonic()
        sd = state_dict(torch, layers, h, vocab)
        pt = os.path.join(workdir, stem + ".pt")
        torch.save(sd, pt)
        st = None
        if safetensors:
            from safetensors.torch import save_file  # noqa: PLC0415 - only where installed
            st = os.path.join(workdir, stem + ".safetensors")
            save_file(sd, st)
        nbytes = sum(v.numel() * v.element_size() for v in sd.values())
        label = f"{len(sd):,} tensors, {nbytes / 1e6:.0f} MB"
        files.append({"label": label, "pt": pt, "safetensors": st, "tensors": len(sd),
                      "bytes": nbytes, "hidden": h})
        print(f"# {os.path.basename(pt)}: {len(sd)} tensors, {nbytes / 1e6:.1f} MB (hidden {h}), "
              f"written in {time.monotonic() - t0:.1f} s", flush=True)
        del sd
    return files


def warm(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 24):
            pass


# --- one loader in its own process ------------------------------------------------------------

def loader_function(name, device):
    import torch  # noqa: PLC0415 - the child imports what its loader needs, and nothing else
    if name.startswith("ptio"):
        import ptio  # noqa: PLC0415
        mmap = name != "ptio.load(mmap=False)"
        return lambda f: ptio.load(f["pt"], map_location=device, mmap=mmap)
    if name == "torch.load":
        return lambda f: torch.load(f["pt"], map_location=device, weights_only=True)
    if name == "torch.load(mmap=True)":
        return lambda f: torch.load(f["pt"], map_location=device, weights_only=True, mmap=True)
    if name == "safetensors":
        from safetensors.torch import load_file  # noqa: PLC0415
        return lambda f: load_file(f["safetensors"], device=device)
    raise SystemExit(f"unknown loader {name}")


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def fingerprint(torch, sd):
    """Names, devices, dtypes, shapes and a CRC-32 of every tensor's bytes, in the dict's order."""
    crc, layout = 0, []
    for name, t in sd.items():
        layout.append(f"{name}:{t.device}:{str(t.dtype)[6:]}:{tuple(t.shape)}")
        data = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
        crc = zlib.crc32(memoryview(data), crc)
    return f"{zlib.crc32(';'.join(layout).encode()):08x}-{crc:08x}"


def child(spec):
    import torch  # noqa: PLC0415
    f, device, repeat = spec["file"], spec["device"], spec["repeat"]
    cuda = device.startswith("cuda")
    if cuda:
        torch.zeros(1, device=device)
        torch.cuda.synchronize()
    load = loader_function(spec["loader"], device)
    scratch = None  # the touch's buffer: its bytes are not counted in peak RSS growth
    returned, touched = [], []
    base = peak_rss()
    for run in range(repeat + 1):
        t0 = time.perf_counter()
        sd = load(f)
        if cuda:
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        if not cuda:
            # One torch.cat into a buffer faulted in during the warm-up (not timed) reads every
            # byte with a few Python operations a tensor, so the loop does not hide the loads.
            flat = [t.reshape(-1).view(torch.uint8) for t in sd.values()]
            if scratch is None:
                scratch = torch.zeros(sum(x.numel() for x in flat), dtype=torch.uint8)
            torch.cat(flat, out=scratch)
            del flat
        t2 = time.perf_counter()
        if run:
            returned.append(t1 - t0)
            touched.append(t2 - t0)
        if run == repeat:
            digest = fingerprint(torch, sd)
            count, nbytes = len(sd), sum(t.numel() * t.element_size() for t in sd.values())
        del sd
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    growth = peak_rss() - base - (0 if scratch is None else scratch.numel())
    return {"loader": spec["loader"], "returned": returned, "touched": None if cuda else touched,
            "peak_rss_growth": growth, "fingerprint": digest, "tensors": count, "bytes": nbytes}


def run_child(spec, pythonpath):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"loader": spec["loader"], "error": " | ".join(tail) or f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ptio_bench(ptio, f, device, repeat):
    cmd = [ptio, "bench", f["pt"], "--device", device, "--repeat", str(repeat), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"loader": "ptio bench (C++)", "error": out.stderr.strip()[-300:]}
    b = json.loads(out.stdout)
    return {"loader": "ptio bench (C++)", "returned": b["seconds"], "touched": None,
            "peak_rss_growth": b["peak_rss_bytes"] - b["rss_before_bytes"],
            "tensors": b["tensors"], "bytes": b["bytes_moved"], "gbps": b["gbps"]}


# --- the table --------------------------------------------------------------------------------

def summary(seconds):
    if not seconds:
        return None
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
            "seconds": seconds}


def figure(s):
    if s is None:
        return "—"
    return f"{s['median'] * 1e3:.1f} ms ({s['min'] * 1e3:.1f}–{s['max'] * 1e3:.1f})"


def ratio(base, s):
    return "—" if base is None or s is None else f"{base['median'] / s['median']:.1f}x"


def print_table(results):
    print("| file | device | loader | returned: median (min–max) | x torch.load | "
          "touched: median (min–max) | x torch.load | peak RSS growth | agrees |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        base = next((x for x in r["loaders"] if x["loader"] == "torch.load"), {})
        for x in r["loaders"]:
            if "error" in x:
                print(f"| {r['label']} | {r['device']} | {x['loader']} | failed: {x['error']} |||||")
                continue
            ret, tch = x["returned_s"], x["touched_s"]
            print(f"| {r['label']} | {r['device']} | {x['loader']} | {figure(ret)} | "
                  f"{ratio(base.get('returned_s'), ret)} | {figure(tch)} | "
                  f"{ratio(base.get('touched_s'), tch)} | {x['peak_rss_growth'] / 1e6:.0f} MB | "
                  f"{x.get('agrees', '—')} |")
        cxx = next((x for x in r["loaders"] if x["loader"] == "ptio bench (C++)" and "error" not in x), None)
        twin = next((x for x in r["loaders"] if x["loader"] == r["cxx_twin"] and "error" not in x), None)
        if cxx and twin:
            print(f"#   {r['label']} on {r['device']}: {r['cxx_twin']} takes "
                  f"{twin['returned_s']['median'] / cxx['returned_s']['median']:.2f}x the C++ "
                  f"ptio bench median ({cxx['gbps']:.1f} GB/s there)")


# --- main -------------------------------------------------------------------------------------

def loaders_for(torch, device, safetensors):
    names = ["ptio.load"]
    if device == "cpu":
        names.append("ptio.load(mmap=False)")
    names.append("torch.load")
    if "mmap" in inspect.signature(torch.load).parameters:
        names.append("torch.load(mmap=True)")
    if safetensors:
        names.append("safetensors")
    return names


def measure(args, torch, files, devices, safetensors):
    results, disagree = [], False  # disagree: a loader failed or returned other tensors
    for f in files:
        warm(f["pt"])
        if f["safetensors"]:
            warm(f["safetensors"])
        for device in devices:
            row = {"label": f["label"], "file": os.path.basename(f["pt"]), "tensors": f["tensors"],
                   "bytes": f["bytes"], "device": device, "loaders": [],
                   "cxx_twin": "ptio.load(mmap=False)" if device == "cpu" else "ptio.load"}
            spec = {"file": f, "device": device, "repeat": args.repeat}
            for name in loaders_for(torch, device, safetensors):
                x = run_child(dict(spec, loader=name), args.pythonpath)
                row["loaders"].append(x)
                print(f"#   {row['file']} {device} {name}: " + (
                    x["error"] if "error" in x else f"{statistics.median(x['returned']) * 1e3:.1f} ms"),
                    flush=True)
            if args.ptio:
                row["loaders"].append(run_ptio_bench(args.ptio, f, device, args.repeat))
            reference = next((x.get("fingerprint") for x in row["loaders"]
                              if x["loader"] == "torch.load"), None)
            for x in row["loaders"]:
                x["returned_s"] = summary(x.get("returned"))
                x["touched_s"] = summary(x.get("touched"))
                if "fingerprint" in x and reference is not None:
                    x["agrees"] = "yes" if x["fingerprint"] == reference else "NO"
                disagree |= x.get("agrees") == "NO" or "error" in x
            results.append(row)
    return results, disagree


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workdir")
    ap.add_argument("--big-mb", type=int, default=1000, help="size of the big file (default 1000)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs after a warm-up (default 5)")
    ap.add_argument("--ptio", help="the ptio CLI, for the C++ `ptio bench` figure")
    ap.add_argument("--pythonpath", help="where the ptio package is (e.g. build/python)")
    ap.add_argument("--devices", help="comma-separated (default: cpu, and cuda:0 where available)")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the files written")
    args = ap.parse_args()
    if args.repeat < 1 or args.big_mb < 1:
        ap.error("--repeat and --big-mb want whole numbers >= 1")

    import warnings  # noqa: PLC0415
    warnings.filterwarnings("ignore")
    import torch  # noqa: PLC0415
    safetensors = importlib.util.find_spec("safetensors") is not None
    devices = args.devices.split(",") if args.devices else (
        ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else []))
    os.makedirs(args.workdir, exist_ok=True)
    files = []
    try:
        files = write_files(torch, args.workdir, args.big_mb, safetensors)
        results, disagree = measure(args, torch, files, devices, safetensors)
    finally:
        if not args.keep:
            for f in files:
                for p in (f["pt"], f["safetensors"]):
                    if p and os.path.exists(p):
                        os.remove(p)
    print(f"# torch {torch.__version__}, python {sys.version.split()[0]}, safetensors "
          f"{'installed' if safetensors else 'not installed'}; page cache warm (cold out of scope)")
    print_table(results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"torch": torch.__version__, "python": sys.version.split()[0],
                       "repeat": args.repeat, "cold_cache": False, "results": results}, out, indent=1)
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
