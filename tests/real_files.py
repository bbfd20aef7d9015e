#!/usr/bin/env python3
"""Which real checkpoint files (from other projects) ptio reads the way torch 1.13 does.

    real_files.py --ptio PTIO [--root DIR] [--only SUBSTRING] [--report FILE]

DIR (default: <repo>/../shared/fixtures/real) holds MANIFEST.tsv and the files it lists; when
it is absent the script exits 77 (skipped). For each file:

1. torch loads it, never running code the file names: first torch.load(weights_only=True);
   if that fails, torch.load with a pickle module whose find_class allows only torch's own
   rebuild functions, storage classes and dtypes, collections, builtins containers and numpy's
   array reconstruction, and turns every other class into a stub that stores its arguments
   and BUILD state without importing anything. TorchScript files go to torch.jit.load (the C++
   loader, which runs no Python). What torch cannot load is recorded with the reason.
2. torch's result is walked the way ptio names tensors: dict keys, list/tuple/set indices, a stub's call or NEWOBJ arguments
   under "__args__", its BUILD state without a path element, then its appended items and set
   items. Storages saved on their own count as 1-D tensors over the whole storage, numpy arrays
   as tensors. A TorchScript module contributes its state_dict() names.
3. `PTIO ls --json --hash FILE` (60 s limit) is compared: name, dtype, shape, stride,
   storage_offset and sha256 (elements in row-major order, as tests/fixtures/make_fixtures.py).

Classes: PASS (every tensor torch finds is listed with equal fields and nothing else is listed;
for TorchScript, ptio may list more than the state_dict), MISMATCH, PTIO_ERROR (ptio refused
the file cleanly: "ptio: error: ERRC: ..." on stderr), CRASH (a signal, a timeout, an internal
error or any other exit status), TORCH_FAIL_PTIO_OK / TORCH_FAIL_PTIO_ERROR (torch 1.13 cannot
load the file either). Where names cannot match because torch's walk went through stubs (or a
TorchScript module), the multisets of (dtype, shape, stride, offset, sha256) are compared
instead and the line says so.

Exits 1 when a file not in ALLOWLIST is CRASH, MISMATCH, or PTIO_ERROR although torch loads
it; 0 otherwise.
"""

import argparse
import collections
import csv
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

# Files whose failure is accepted, each with the reason (a format we decided not to read, a
# torch behaviour ptio deliberately does not copy). Keys are MANIFEST.tsv "file" values.
# Never add an entry only to make the run pass.
_BE_BOM = ("a 'byteorder' record says big: torch 1.13 ignores it and returns the bytes "
           "unswapped; torch >= 2.0 and ptio swap them (the script checks that ptio's elements "
           "are torch 1.13's byte-swapped)")
ALLOWLIST = {
    "pytorch__pytorch/test__test_serialization.py__lstm.BE.BOM.pt": _BE_BOM,
    "pytorch__pytorch/test__test_serialization.py__tensor.double.BE.BOM.pt": _BE_BOM,
}

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ROOT = os.path.join(HERE, "..", "..", "shared", "fixtures", "real")

# The script runs by path from any folder: its sibling modules are found beside it.
sys.path.insert(0, HERE)

import torch  # noqa: E402
from real_compare import check, run_ptio  # noqa: E402
from real_load import check_stub_loader  # noqa: E402

# The modules beside this script, one job each:
#   real_load.py     torch loads a file without running code (weights_only, then stubs)
#   real_walk.py     torch's result walked the way ptio names tensors
#   real_compare.py  ptio ls --json --hash against that walk: one file's class and line

FAILURES = ("CRASH", "MISMATCH", "PTIO_ERROR")


def failing(r):
    return r["cls"] in FAILURES and r["file"] not in ALLOWLIST


def grouping_key(message):
    """A ptio message with its numbers and archive prefix taken out, to group alike ones."""
    message = re.sub(r"^[^:]*/(data\.pkl|[^ :]*): ", r"\1: ", message)
    return re.sub(r"\d+", "N", message)


def summarize(results):
    classes = ["PASS", "MISMATCH", "PTIO_ERROR", "CRASH", "TORCH_FAIL_PTIO_OK",
               "TORCH_FAIL_PTIO_ERROR"]
    by_kind = collections.defaultdict(collections.Counter)
    for r in results:
        by_kind[r["kind"]][r["cls"]] += 1
        by_kind["all"][r["cls"]] += 1
    print()
    print(f"{'kind':<12}{'files':>6}  " + "  ".join(classes))
    for kind in sorted(k for k in by_kind if k != "all") + ["all"]:
        c = by_kind[kind]
        print(f"{kind:<12}{sum(c.values()):>6}  " +
              "  ".join(f"{c[x]:>{len(x)}}" for x in classes))
    errors = collections.defaultdict(list)
    for r in results:
        if "errc" in r:
            errors[(r["cls"], r["errc"], grouping_key(r["message"]))].append(r)
    if errors:
        print("\nptio errors, grouped (class, errc, count: message):")
        for (cls, errc, _), rs in sorted(errors.items(), key=lambda x: (x[0][0], -len(x[1]))):
            print(f"  {cls} {errc} x{len(rs)}: {rs[0]['message']}")
    allowed = [r for r in results if r["cls"] in FAILURES and r["file"] in ALLOWLIST]
    for r in allowed:
        print(f"allowed: {r['file']}: {ALLOWLIST[r['file']]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ptio", required=True, help="the ptio command-line tool")
    parser.add_argument("--root", default=DEFAULT_ROOT, help="folder with MANIFEST.tsv")
    parser.add_argument("--only", help="check only files whose name contains this")
    parser.add_argument("--report", help="write every file's result to this JSON file")
    parser.add_argument("--jobs", type=int, default=2, help="ptio runs at once (default 2)")
    args = parser.parse_args()

    manifest = os.path.join(args.root, "MANIFEST.tsv")
    if not os.path.isfile(manifest):
        print(f"real files: skipped, no {manifest}")
        return 77
    with open(manifest, encoding="utf-8", newline="") as f:
        entries = list(csv.DictReader(f, delimiter="\t"))
    if args.only:
        entries = [e for e in entries if args.only in e["file"]]
    torch.set_num_threads(1)
    started = time.monotonic()
    check_stub_loader()

    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_ptio, args.ptio, os.path.join(args.root, e["file"]))
                   for e in entries]
        for entry, future in zip(entries, futures):
            r = check(entry, args.root, future)
            results.append(r)
            mark = " (allowed)" if r["file"] in ALLOWLIST and r["cls"] in FAILURES else ""
            print(f"{r['cls']:<22} {r['kind']:<11} {r['file']}: {r['detail']}{mark}",
                  flush=True)

    summarize(results)
    bad = [r for r in results if failing(r)]
    print(f"\nreal files: {'FAIL' if bad else 'ok'}: {len(results)} files, {len(bad)} failing "
          f"(CRASH, MISMATCH, or PTIO_ERROR where torch 1.13 loads the file), "
          f"{time.monotonic() - started:.0f} s")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump({"torch": torch.__version__, "files": results}, f, indent=1)
            f.write("\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
