#!/usr/bin/env python3
"""ptio must not be the tool that makes a poisoned file look clean.

Usage: hostile_globals.py --ptio PTIO MALFORMED_DIR WORKDIR FIXTURE_DIR...

1. Every row of MALFORMED_DIR/globals.tsv (tests/malformed/mal_globals.py writes it):
   - `ptio ls` refuses the file with unsafe_global naming the global (open `unsafe_global`),
     or lists it, warning on stderr about the global with its offset (`opens`, `rebuilt`), and
     `ls --json` has it in `globals` with verdict "unknown";
   - `ptio scan` exits 1 and names it; `scan --json` lists it as not allowed;
   - `ptio cp` exits 2 with unsafe_global naming it (and, for `opens`, where the file names
     it), and leaves no file (nor temporary); for `rebuilt` it writes a copy without the
     global, which scans clean;
   - for `opens`, `ptio cp --drop-objects` writes a file that torch.load reads with
     weights_only=True (torch's restricted unpickler: it imports nothing outside its
     allowlist), and names the global on stderr.
2. Every torch-written fixture under the FIXTURE_DIRs (tests/fixtures output, and
   ../shared/fixtures/real beside the repository, where present) that torch.load(weights_only=True)
   accepts scans clean and copies without --allow-global; one that scan calls clean copies
   without --allow-global too (scan and cp agree).

torch.load only ever runs here with weights_only=True, which never calls what a file names.
Prints one line per problem; exits 1 if there is any.
"""

import argparse
import json
import os
import subprocess
import sys
import warnings
import zipfile

import torch


def run(ptio, *args):
    return subprocess.run([ptio, *args], capture_output=True, text=True, timeout=300)


def leftovers(workdir, name):
    return [f for f in os.listdir(workdir) if f.startswith(name)]


def weights_only_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, weights_only=True)


def check_row(ptio, mal, workdir, row, problems):
    name, opened, qualified = row[0], row[1], row[2]
    src = os.path.join(mal, name)
    bad = lambda what: problems.append(f"{name}: {what}")  # noqa: E731

    ls = run(ptio, "ls", src)
    if opened == "unsafe_global":
        if ls.returncode != 2 or "unsafe_global" not in ls.stderr or qualified not in ls.stderr:
            bad(f"ls: exit {ls.returncode}, {ls.stderr.strip()!r}; expected unsafe_global naming {qualified}")
    else:
        warned = [line for line in ls.stderr.splitlines() if "warning" in line and qualified in line]
        if ls.returncode != 0 or not warned or "at offset" not in warned[0]:
            bad(f"ls: exit {ls.returncode}, stderr {ls.stderr.strip()!r}; expected a warning naming {qualified}")
        lj = run(ptio, "ls", "--json", src)
        listed = json.loads(lj.stdout)["globals"] if lj.returncode == 0 else []
        if not any(f"{g['module']}.{g['name']}" == qualified and g["verdict"] == "unknown" for g in listed):
            bad(f"ls --json: {qualified} not in globals as unknown: {listed}")

    scan = run(ptio, "scan", src)
    if scan.returncode != 1 or qualified not in scan.stdout:
        bad(f"scan: exit {scan.returncode}, {scan.stdout.strip()!r}; expected exit 1 naming {qualified}")
    sj = json.loads(run(ptio, "scan", "--json", src).stdout)
    flagged = [g for g in sj["files"][0]["globals"]
               if f"{g['module']}.{g['name']}" == qualified and g["verdict"] != "allowed"]
    if sj["clean"] or not flagged:
        bad(f"scan --json: {qualified} not flagged: {sj}")

    dst_name = "copy_" + name
    dst = os.path.join(workdir, dst_name)
    cp = run(ptio, "cp", src, dst)
    if opened == "rebuilt":
        again = run(ptio, "scan", dst)
        if cp.returncode != 0 or again.returncode != 0:
            bad(f"cp: exit {cp.returncode} {cp.stderr.strip()!r}; the copy scans {again.stdout.strip()!r}")
        else:
            weights_only_load(dst)
            os.remove(dst)
        return
    if cp.returncode != 2 or "unsafe_global" not in cp.stderr or qualified not in cp.stderr:
        bad(f"cp: exit {cp.returncode}, {cp.stderr.strip()!r}; expected unsafe_global naming {qualified}")
    if opened == "opens" and "offset" not in cp.stderr:
        bad(f"cp: the refusal does not say where the file names {qualified}: {cp.stderr.strip()!r}")
    if leftovers(workdir, dst_name):
        bad(f"cp: a refused copy left {leftovers(workdir, dst_name)}")

    if opened == "opens":
        cpd = run(ptio, "cp", "--drop-objects", src, dst)
        if cpd.returncode != 0 or qualified not in cpd.stderr:
            bad(f"cp --drop-objects: exit {cpd.returncode}, {cpd.stderr.strip()!r}")
            return
        try:
            got = weights_only_load(dst)
        except Exception as e:  # noqa: BLE001 - any refusal is the finding
            bad(f"cp --drop-objects: torch.load(weights_only=True) refuses the copy: {e}")
            return
        if not torch.equal(got["w"], torch.arange(6, dtype=torch.float32).reshape(2, 3)):
            bad(f"cp --drop-objects: the copy's tensor w differs: {got['w']}")
        os.remove(dst)


def fixtures(dirs):
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for root, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith((".pt", ".pth", ".bin", ".ckpt", ".tar")) and "torchscript" not in root:
                    yield os.path.join(root, f)


def is_torchscript(path):
    # torch.load hands these to torch.jit.load, whose globals are the archive's compiled
    # classes, not Python imports: weights_only says nothing about them.
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def check_fixture(ptio, path, workdir, problems):
    if is_torchscript(path):
        return 0
    scan = run(ptio, "scan", path)
    if scan.returncode == 2:
        return 0  # not a file ptio reads (the fixture tests say so); nothing to compare
    try:
        weights_only_load(path)
        torch_ok = True
    except Exception:  # noqa: BLE001 - torch 1.13's allowlist is narrower than ptio's
        torch_ok = False
    if torch_ok and scan.returncode != 0:
        problems.append(f"{path}: torch.load(weights_only=True) accepts it but scan says "
                        f"{scan.stdout.strip().splitlines()[-1]!r}")
    if torch_ok or scan.returncode == 0:
        dst = os.path.join(workdir, "fixture_copy.pt")
        cp = run(ptio, "cp", path, dst)
        # cp has its own refusals (quantized tensors, TorchScript); a global must not be one.
        if cp.returncode != 0 and "unsafe_global" in cp.stderr:
            problems.append(f"{path}: scans clean but cp refuses it: {cp.stderr.strip()}")
        if os.path.exists(dst):
            os.remove(dst)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptio", required=True)
    ap.add_argument("malformed_dir")
    ap.add_argument("workdir")
    ap.add_argument("fixture_dirs", nargs="+")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    problems = []
    with open(os.path.join(args.malformed_dir, "globals.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    for row in rows:
        check_row(args.ptio, args.malformed_dir, args.workdir, row, problems)
    checked = sum(check_fixture(args.ptio, p, args.workdir, problems) for p in fixtures(args.fixture_dirs))
    for p in problems:
        print(p)
    print(f"hostile globals: {'FAIL' if problems else 'ok'}: {len(rows)} payloads, {checked} fixtures, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
