#!/usr/bin/env python3
"""Check `ptio load` and `ptio bench` on the torch fixtures; runs without a GPU.

    cli_load.py --ptio PTIO FIXTURE_DIR

For every fixture in FIXTURE_DIR/manifest.json (written by fixtures/make_fixtures.py):
  - `ptio load --json --map-location cpu FILE` lists the same tensors as `ptio ls --json
    FILE` (path, name, dtype, shape, in order), every tensor and device row on "cpu", nothing
    moved; with `--cpu copy` the bytes moved are the CPU row's bytes, in one allocation;
  - the summary rows add up (tensors, storages, bytes).
Without a GPU (nvidia-smi finds none): `--map-location cuda:0`, and a file saved with CUDA tags
loaded with its own tags, fail with exit status 2 and a cuda_unavailable message; so does
`ptio bench --device cuda:0`.
`ptio bench FILE --device cpu --repeat 2 --json` on the largest fixture gives positive GB/s for
ptio and for memcpy, a ratio, two timings each, and memory figures.
Bad arguments exit 2 and say what was wrong. Prints one line per failure; exits 1 on any.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

failures = []


def fail(what):
    failures.append(what)
    print(f"FAIL: {what}", flush=True)


def run(ptio, *args, timeout=120):
    """(exit status, stdout, stderr) of `ptio args…`."""
    done = subprocess.run([ptio, *args], capture_output=True, timeout=timeout)
    return (done.returncode, done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"))


def run_json(ptio, label, *args):
    """Parsed JSON of a command that must succeed, or None (failure recorded)."""
    rc, out, err = run(ptio, *args)
    if rc != 0:
        fail(f"{label}: `ptio {' '.join(args)}` exited {rc}: {err.strip()}")
        return None
    try:
        return json.loads(out)
    except ValueError as e:
        fail(f"{label}: `ptio {' '.join(args)}` printed no JSON ({e}): {out[:200]!r}")
        return None


def have_gpu():
    """True when nvidia-smi lists a GPU: the cuda_unavailable checks are then skipped."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and b"GPU" in done.stdout


def check_summary(label, doc):
    devices = doc.get("devices")
    if not isinstance(devices, list):
        fail(f'{label}: no "devices" list')
        return
    for row in devices:
        for key in ("device", "tensors", "storages", "bytes", "allocations"):
            if key not in row:
                fail(f"{label}: device row {row} lacks {key!r}")
    distinct = len({t["name"] for t in doc.get("tensors", [])})
    placed = sum(row.get("tensors", 0) for row in devices)
    if placed > len(doc.get("tensors", [])) or (distinct and placed == 0):
        fail(f"{label}: device rows count {placed} tensors for {distinct} names")
    for key in ("bytes_moved", "seconds", "open_seconds", "place_seconds", "map_location"):
        if key not in doc:
            fail(f"{label}: no {key!r}")
    if isinstance(doc.get("seconds"), (int, float)) and doc["seconds"] < 0:
        fail(f"{label}: negative seconds {doc['seconds']}")


def check_load(ptio, fixture_dir, name):
    path = os.path.join(fixture_dir, name)
    listing = run_json(ptio, name, "ls", "--json", path)
    loaded = run_json(ptio, name, "load", "--json", "--map-location", "cpu", path)
    if listing is None or loaded is None:
        return
    if loaded.get("file") != path:
        fail(f'{name}: "file" is {loaded.get("file")!r}')
    if loaded.get("map_location") != "cpu":
        fail(f'{name}: "map_location" is {loaded.get("map_location")!r}, not "cpu"')
    want = [(t["path"], t["name"], t["dtype"], t["shape"]) for t in listing["tensors"]]
    got = [(t.get("path"), t.get("name"), t.get("dtype"), t.get("shape"))
           for t in loaded.get("tensors", [])]
    if want != got:
        fail(f"{name}: load lists {got[:4]}…, ls lists {want[:4]}…")
    for t in loaded.get("tensors", []):
        if t.get("device") != "cpu":
            fail(f"{name}: tensor {t.get('name')!r} went to {t.get('device')!r}")
    check_summary(name, loaded)
    if any(row["device"] != "cpu" for row in loaded.get("devices", [])):
        fail(f"{name}: device rows {loaded.get('devices')} with map_location cpu")
    if loaded.get("bytes_moved") != 0 or loaded.get("gbps") is not None:
        fail(f"{name}: a view load moved {loaded.get('bytes_moved')} bytes "
             f"(gbps {loaded.get('gbps')})")

    copied = run_json(ptio, name, "load", "--json", "--map-location", "cpu", "--cpu", "copy",
                      "--allocation", "storage", "--threads", "2", "--chunk-mb", "1", path)
    if copied is None:
        return
    check_summary(name + " (copy)", copied)
    cpu_bytes = sum(row["bytes"] for row in copied.get("devices", []) if row["device"] == "cpu")
    if copied.get("bytes_moved") != cpu_bytes:
        fail(f"{name}: --cpu copy moved {copied.get('bytes_moved')} bytes, cpu row has "
             f"{cpu_bytes}")
    storages = sum(row["storages"] for row in copied.get("devices", []))
    allocations = sum(row["allocations"] for row in copied.get("devices", []))
    if cpu_bytes > 0 and allocations == 0:
        fail(f"{name}: --cpu copy made no allocation for {cpu_bytes} bytes")
    if allocations > storages:
        fail(f"{name}: {allocations} allocations for {storages} storages")
    if cpu_bytes > 0 and not (isinstance(copied.get("gbps"), (int, float)) and copied["gbps"] > 0):
        fail(f"{name}: --cpu copy gbps is {copied.get('gbps')!r}")
    opts = copied.get("options", {})
    if (opts.get("allocation"), opts.get("threads"), opts.get("chunk_bytes")) != \
            ("storage", 2, 1 << 20):
        fail(f"{name}: options reported as {opts}")


def expect_error(ptio, label, args, status, *needles):
    rc, out, err = run(ptio, *args)
    if rc != status:
        fail(f"{label}: `ptio {' '.join(args)}` exited {rc}, not {status}: {err.strip()[:300]}")
        return
    for needle in needles:
        if needle not in err:
            fail(f"{label}: `ptio {' '.join(args)}` stderr lacks {needle!r}: {err.strip()[:300]}")


def check_bench(ptio, path):
    label = "bench " + os.path.basename(path)
    doc = run_json(ptio, label, "bench", path, "--device", "cpu", "--repeat", "2", "--json")
    if doc is None:
        return
    for key in ("gbps", "peer_gbps", "ratio", "median_seconds"):
        value = doc.get(key)
        if not (isinstance(value, (int, float)) and value > 0):
            fail(f"{label}: {key!r} is {value!r}, not a positive number")
    for key in ("seconds", "open_seconds"):
        runs = doc.get(key)
        if not (isinstance(runs, list) and len(runs) == 2 and all(x > 0 for x in runs)):
            fail(f"{label}: {key!r} is {runs!r}, not two positive timings")
    peer = doc.get("peer", {})
    if peer.get("name") != "memcpy" or len(peer.get("seconds", [])) != 2:
        fail(f"{label}: peer is {peer!r}")
    if peer.get("bytes") != doc.get("bytes_moved") or not doc.get("bytes_moved"):
        fail(f"{label}: memcpy copied {peer.get('bytes')} bytes, load moved "
             f"{doc.get('bytes_moved')}")
    if doc.get("file_bytes") != os.path.getsize(path):
        fail(f"{label}: file_bytes {doc.get('file_bytes')} != {os.path.getsize(path)}")
    if doc.get("device") != "cpu" or doc.get("repeat") != 2 or doc.get("cold") is not False:
        fail(f"{label}: device/repeat/cold are {doc.get('device')!r}/{doc.get('repeat')!r}/"
             f"{doc.get('cold')!r}")
    for key in ("pinned_bytes", "ru_maxrss_bytes"):
        if not isinstance(doc.get(key), int):
            fail(f"{label}: {key!r} is {doc.get(key)!r}")
    peak = doc.get("peak_rss_bytes")
    if peak is not None and not (isinstance(peak, int) and peak > 0):
        fail(f"{label}: peak_rss_bytes is {peak!r}")
    if not isinstance(doc.get("hwm_reset"), bool):
        fail(f"{label}: hwm_reset is {doc.get('hwm_reset')!r}")

    rc, out, err = run(ptio, "bench", path, "--device", "cpu", "--repeat", "1", "--cold")
    if rc != 0:
        fail(f"{label} --cold: exited {rc}: {err.strip()}")
    elif "ratio" not in out or "cold" not in out:
        fail(f"{label} --cold: human output lacks the ratio or the cold note: {out!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ptio", required=True, help="the ptio executable")
    ap.add_argument("fixture_dir")
    args = ap.parse_args()
    ptio = args.ptio

    with open(os.path.join(args.fixture_dir, "manifest.json")) as f:
        names = [entry["file"] for entry in json.load(f)["fixtures"]]
    for name in names:
        check_load(ptio, args.fixture_dir, name)

    training = os.path.join(args.fixture_dir, "training.pt")
    rc, out, err = run(ptio, "load", training)
    if rc != 0 or "moved" not in out or "cpu" not in out:
        fail(f"load training.pt (text): exited {rc}, printed {out!r} {err!r}")
    for command in ("load", "bench"):
        rc, out, _ = run(ptio, command, "--help")
        if rc != 0 or not out.startswith(f"usage: ptio {command} FILE"):
            fail(f"`ptio {command} --help` exited {rc}: {out[:100]!r}")

    if have_gpu():
        print("cli_load: a GPU is present; the cuda_unavailable checks are skipped", flush=True)
    else:
        expect_error(ptio, "no GPU", ["load", training, "--map-location", "cuda:0"], 2,
                     "ptio: error: cuda_unavailable:", "map_location=cpu")
        expect_error(ptio, "no GPU", ["load", training, "--map-location", "cpu=cuda:0"], 2,
                     "ptio: error: cuda_unavailable:")
        expect_error(ptio, "no GPU", ["bench", training, "--device", "cuda:0"], 2,
                     "ptio: error: cuda_unavailable:")
        if "cuda_tags.pt" in names:  # saved from CUDA tensors: their own tags need a GPU
            tagged = os.path.join(args.fixture_dir, "cuda_tags.pt")
            expect_error(ptio, "no GPU", ["load", tagged], 2, "ptio: error: cuda_unavailable:")

    # Bad usage: exit 2, the command's name and what was wrong.
    bad = [
        (["load"], "missing FILE"),
        (["load", training, "--cpu", "bogus"], "--cpu needs"),
        (["load", training, "--threads", "0"], "--threads needs a number"),
        (["load", training, "--chunk-mb", "x"], "--chunk-mb needs a number"),
        (["load", training, "--chunks", "-1"], "--chunks needs a number"),
        (["load", training, "--pinning", "mlock"], "--pinning needs"),
        (["load", training, "--allocation", "tensor"], "--allocation needs"),
        (["load", training, "--bogus"], "unknown option '--bogus'"),
        (["load", training, "--map-location"], "needs a value"),
        (["bench", training], "missing --device"),
        (["bench", training, "--device", "meta"], "--device needs cpu or cuda:N"),
        (["bench", training, "--device", "gpu"], "--device needs cpu or cuda:N"),
        (["bench", training, "--device", "cpu", "--repeat", "0"], "--repeat needs a number"),
        (["bench", training, training, "--device", "cpu"], "expected one FILE"),
    ]
    for args_, needle in bad:
        expect_error(ptio, "usage", args_, 2, needle, f"ptio {args_[0]}:")
    # A bad map_location is the library's invalid_argument, through the error path.
    for spec in ("gpu", "cuda:x", "=cpu", "cuda:0="):
        expect_error(ptio, "map_location", ["load", training, "--map-location", spec], 2,
                     "ptio: error: invalid_argument:")
    expect_error(ptio, "missing file",
                 ["load", os.path.join(args.fixture_dir, "no-such-file.pt")], 2,
                 "ptio: error: io_error:")

    largest = max((os.path.join(args.fixture_dir, n) for n in names), key=os.path.getsize)
    check_bench(ptio, largest)

    if failures:
        print(f"cli_load: {len(failures)} failures", flush=True)
        return 1
    print(f"cli_load: ok ({len(names)} fixtures, load, bench and usage checks)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
