#!/usr/bin/env python3
"""Compare `ptio ls --json --hash` and `ptio extra` with what torch.jit.load reports.

    torchscript_oracle.py --ptio PTIO FIXTURE_DIR

FIXTURE_DIR/manifest.json is written by fixtures/make_torchscript.py. Per file:
"format" == "torchscript", "byteorder" == "little"; every state_dict() entry and every tensor
under a module attribute (TorchBind state included) is listed under torch's name with the same
dtype, shape, stride, storage_offset and sha256; tensors torch keeps on one storage share one
"storage" in the listing and others do not; nothing else is listed except CONSTANTS.cN
entries (CONSTANTS.cN.… inside constant tuples and objects), where the plain CONSTANTS.cN
must be, as a multiset of (dtype, shape, stride, storage_offset, sha256), the
tensor constants of the module's code; "extra_files" lists exactly the extra files, `ptio
extra FILE NAME` writes each one's bytes, and `ptio extra FILE` lists each with its size.
Prints one line per mismatch, then a summary; exits 1 on any mismatch or failure of ptio.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_oracle import run_ptio  # noqa: E402

FIELDS = ("dtype", "shape", "stride", "storage_offset", "sha256")


def signature(t):
    return json.dumps([t.get(f) for f in FIELDS])


def compare_tensors(bad, expected, attributes, constants, listing):
    by_name = {}
    for t in listing["tensors"]:
        if t["name"] in by_name:
            bad(f"ptio lists {t['name']!r} twice")
        by_name[t["name"]] = t
    # Attributes include the state_dict entries; each named one must match field by field.
    storage_of_group, group_of_storage = {}, {}
    for want in attributes + expected:
        got = by_name.get(want["name"])
        if got is None:
            bad(f"{want['name']!r}: not listed by ptio (ptio lists {sorted(by_name)})")
            continue
        for field in FIELDS:
            if got.get(field) != want[field]:
                bad(f"{want['name']!r}: {field} is {got.get(field)!r}, torch says {want[field]!r}")
    for want in attributes:
        got = by_name.get(want["name"])
        if got is None or want["sha256"] is None:
            continue  # a meta tensor has no storage to share
        storage = json.dumps(got.get("storage"))
        if storage_of_group.setdefault(want["storage_group"], storage) != storage or \
                group_of_storage.setdefault(storage, want["storage_group"]) != want["storage_group"]:
            bad(f"{want['name']!r}: storage {storage} does not match torch's sharing")
    known = {t["name"] for t in attributes + expected}
    listed_constants = []
    for name, got in by_name.items():
        if name.startswith("CONSTANTS.c") and name[len("CONSTANTS.c"):].isdigit():
            listed_constants.append(got)
        elif name.startswith("CONSTANTS.c"):
            pass  # a tensor inside a constant object or tuple (mobile: xnnpack packed weights)
        elif name not in known:
            bad(f"{name!r}: listed by ptio, but torch has no such attribute")
    want_sigs = sorted(signature(t) for t in constants)
    got_sigs = sorted(signature(t) for t in listed_constants)
    if want_sigs != got_sigs:
        bad(f"constants differ: torch's code holds {want_sigs}, ptio lists {got_sigs}")
    constant_storages = {json.dumps(t.get("storage")) for t in listed_constants}
    attribute_storages = {json.dumps(by_name[t["name"]].get("storage"))
                          for t in attributes if t["name"] in by_name}
    if constant_storages & attribute_storages:
        bad(f"constants share a storage key with attributes: {constant_storages & attribute_storages}")


def compare_extra(bad, ptio, path, extra, listing):
    names = listing.get("extra_files")
    if extra and sorted(names or []) != sorted(extra):
        bad(f'"extra_files" is {names!r}, torch saved {sorted(extra)}')
    if not extra and names is not None:
        bad(f'"extra_files" is {names!r} for a file without extra files')
    done = subprocess.run([ptio, "extra", path], capture_output=True, timeout=60)
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    want_lines = sorted((len(bytes.fromhex(v)), k) for k, v in extra.items())
    got_lines = sorted((int(line.split(None, 1)[0]), line.split(None, 1)[1]) for line in lines)
    if done.returncode != 0 or got_lines != want_lines:
        bad(f"ptio extra lists {got_lines} (exit {done.returncode}), expected {want_lines}")
    for name, hex_bytes in extra.items():
        done = subprocess.run([ptio, "extra", path, name], capture_output=True, timeout=60)
        if done.returncode != 0 or done.stdout != bytes.fromhex(hex_bytes):
            bad(f"ptio extra {name!r}: exit {done.returncode}, {len(done.stdout)} bytes "
                f"{done.stdout[:40]!r}, torch read {len(hex_bytes) // 2} bytes")
    done = subprocess.run([ptio, "extra", path, "no/such/extra"], capture_output=True, timeout=60)
    if done.returncode != 2 or b"not_found" not in done.stderr:
        bad(f"ptio extra of a missing name: exit {done.returncode}, {done.stderr!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ptio", required=True, help="the ptio command-line tool")
    parser.add_argument("fixture_dir", help="directory with manifest.json")
    args = parser.parse_args()
    with open(os.path.join(args.fixture_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    problems = []
    tensors = 0
    for entry in manifest["fixtures"]:
        def bad(what, label=entry["file"]):
            problems.append(f"{label}: {what}")

        path = os.path.join(args.fixture_dir, entry["file"])
        listing, failure = run_ptio(args.ptio, path, timeout=120)
        if failure:
            bad(f"ptio failed: {failure}")
            continue
        for field, want in (("format", "torchscript"), ("byteorder", "little")):
            if listing.get(field) != want:
                bad(f'"{field}" is {listing.get(field)!r}, expected {want!r}')
        compare_tensors(bad, entry["tensors"], entry["attributes"], entry["constants"], listing)
        compare_extra(bad, args.ptio, path, entry["extra_files"], listing)
        tensors += len(entry["attributes"]) + len(entry["constants"])
    for line in problems:
        print(line)
    verdict = "FAIL" if problems else "ok"
    print(f"torchscript oracle: {verdict}: {len(manifest['fixtures'])} archives, {tensors} tensors "
          f"from torch {manifest.get('torch', '?')}, {len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
