#!/usr/bin/env python3
"""Compare `ptio ls --json --hash` with what real torch reports about the same files.

    torch_oracle.py --ptio PTIO [--format FORMAT] FIXTURE_DIR
        For every fixture in FIXTURE_DIR/manifest.json (written by fixtures/make_fixtures.py
        with torch.save, described after torch.load), run `PTIO ls --json --hash FILE` and
        compare each tensor field by field. FORMAT is the "format" ptio must report: zip (the
        default), or legacy for FIXTURE_DIR/legacy.

    torch_oracle.py --ptio PTIO --state-dict FIXTURE_DIR
        The same with `PTIO ls --state-dict --json --hash FILE`, for the whole pickled modules
        and optimizers of fixtures/make_state_dict_fixtures.py (names as state_dict() gives).

    torch_oracle.py --ptio PTIO --zip64 WORKDIR
        Write with torch a checkpoint over 4 GiB (ZIP64 sizes and offsets), describe what torch
        saved, free torch's tensors, list and hash the file with ptio, compare, and always
        remove the file.

Checked per tensor: path, name, dtype, shape, stride, storage_offset, requires_grad, sha256
(elements in row-major order, raw little-endian bytes), location (the saved tag: the record's
"location", "cpu" where it has none), nbytes == numel x element size, and storage identity:
tensors torch sees sharing one storage must report the same "storage", tensors on different
storages different ones. Per file: "format" == FORMAT (or the manifest entry's "format":
"sharded" for a Hugging Face index or its directory) and "byteorder" == "little". Prints one
line per mismatch, then a summary; exits 1 on any mismatch or failure of ptio.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

ELEMENT_SIZE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "complex32": 4, "complex64": 8, "complex128": 16,
    "qint8": 1, "quint8": 1, "qint32": 4, "quint4x2": 1, "quint2x4": 1,
    # torch 2.x dtypes, for manifests written by a newer torch
    "uint16": 2, "uint32": 4, "uint64": 8,
    "float8_e5m2": 1, "float8_e4m3fn": 1, "float8_e5m2fnuz": 1, "float8_e4m3fnuz": 1,
    "float8_e8m0fnu": 1, "float4_e2m1fn_x2": 1,
    "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1, "bits4x2": 1,
}

COMPARED_FIELDS = ("path", "name", "dtype", "shape", "stride", "storage_offset",
                   "requires_grad", "sha256")


def run_ptio(ptio, path, timeout, state_dict=False):
    """ptio's listing of path as parsed JSON, or (None, reason)."""
    command = [ptio, "ls", "--json", "--hash"] + (["--state-dict"] if state_dict else []) + [path]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    except OSError as e:
        return None, f"could not run {ptio}: {e}"
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace").strip()
        return None, f"exit status {done.returncode}: {stderr}"
    try:
        return json.loads(done.stdout), None
    except ValueError as e:
        head = done.stdout[:200].decode("utf-8", "replace")
        return None, f"output is not JSON ({e}): {head!r}"


def compare_file(label, expected, listing, file_format="zip"):
    """Mismatch lines between torch's tensor records and ptio's listing of one file."""
    problems = []

    def bad(what):
        problems.append(f"{label}: {what}")

    for field, want in (("format", file_format), ("byteorder", "little")):
        if listing.get(field) != want:
            bad(f'"{field}" is {listing.get(field)!r}, torch file is {want!r}')
    actual = listing.get("tensors")
    if not isinstance(actual, list):
        bad('no "tensors" list')
        return problems
    if len(actual) != len(expected):
        bad(f"ptio lists {len(actual)} tensors, torch {len(expected)}: "
            f"ptio {[t.get('name') for t in actual]} vs torch {[t['name'] for t in expected]}")

    storage_of_group = {}
    group_of_storage = {}
    for index, (want, got) in enumerate(zip(expected, actual)):
        where = f"tensor #{index} {want['name']!r}"
        for field in COMPARED_FIELDS:
            if got.get(field) != want[field]:
                bad(f"{where}: {field} is {got.get(field)!r}, torch says {want[field]!r}")
        if got.get("bare_storage", False) != want.get("bare_storage", False):
            bad(f"{where}: bare_storage is {got.get('bare_storage', False)!r}, torch's object "
                f"is {'a TypedStorage' if want.get('bare_storage') else 'a tensor'}")
        location = want.get("location", "cpu")  # the tag saved with the storage
        if got.get("location") != location:
            bad(f"{where}: location is {got.get('location')!r}, torch saved {location!r}")
        nbytes = math.prod(want["shape"]) * ELEMENT_SIZE[want["dtype"]]
        if got.get("nbytes") != nbytes:
            bad(f"{where}: nbytes is {got.get('nbytes')!r}, expected {nbytes}")

        group, storage = want["storage_group"], got.get("storage")
        if storage is None:
            bad(f"{where}: no storage")
            continue
        storage = json.dumps(storage, sort_keys=True)  # any JSON value; compare as text
        seen_storage = storage_of_group.setdefault(group, storage)
        if seen_storage != storage:
            bad(f"{where}: storage {storage} differs from {seen_storage}, "
                f"which torch shares with it")
        seen_group = group_of_storage.setdefault(storage, group)
        if seen_group != group:
            bad(f"{where}: storage {storage} is also reported for a tensor torch keeps "
                f"on another storage")
    return problems


ROW_NOTES = ("storage, no data", "storage", "no data")


def expected_note(record):
    """What ptio ls's text row must say after the columns: torch's TypedStorage is a
    "storage", a meta tensor has "no data"."""
    storage, meta = record.get("bare_storage", False), record.get("location") == "meta"
    return {(True, True): "storage, no data", (True, False): "storage",
            (False, True): "no data", (False, False): ""}[(storage, meta)]


def compare_text_notes(ptio, label, path, expected):
    """Mismatch lines between torch's kinds of row and the notes of ptio ls's text listing."""
    done = subprocess.run([ptio, "ls", path], capture_output=True, timeout=120)
    if done.returncode != 0:
        return [f"{label}: ptio ls (text) failed with status {done.returncode}"]
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    if len(lines) != len(expected):
        return [f"{label}: ptio ls prints {len(lines)} rows, torch has {len(expected)} tensors"]
    problems = []
    for line, want in zip(lines, expected):
        note = next((n for n in ROW_NOTES if line.endswith("  " + n)), "")
        if note != expected_note(want):
            problems.append(f"{label}: ls row {line!r} should end with note "
                            f"{expected_note(want)!r}, ends with {note!r}")
    return problems


def check_fixtures(ptio, fixture_dir, file_format="zip", state_dict=False):
    with open(os.path.join(fixture_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    problems = []
    tensors = 0
    for entry in manifest["fixtures"]:
        path = os.path.join(fixture_dir, entry["file"])
        listing, failure = run_ptio(ptio, path, timeout=120, state_dict=state_dict)
        if failure:
            problems.append(f"{entry['file']}: ptio failed: {failure}")
            continue
        problems += compare_file(entry["file"], entry["tensors"], listing,
                                 entry.get("format", file_format))
        if not state_dict:
            problems += compare_text_notes(ptio, entry["file"], path, entry["tensors"])
        tensors += len(entry["tensors"])
    for line in problems:
        print(line)
    files = len(manifest["fixtures"])
    verdict = "FAIL" if problems else "ok"
    print(f"oracle: {verdict}: {files} {file_format} fixtures, {tensors} tensors from torch "
          f"{manifest.get('torch', '?')}, {len(problems)} mismatches")
    return not problems


def check_zip64(ptio, workdir):
    """A torch.save file over 4 GiB: the big record and the one after it need ZIP64 fields."""
    sys.path.insert(0, os.path.join(HERE, "fixtures"))
    import torch
    from make_fixtures import describe

    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "zip64.pt")
    started = time.monotonic()
    try:
        obj = {
            "small": torch.arange(10, dtype=torch.float32),
            # calloc'd: untouched zero pages cost no RAM until written or read
            "big": torch.zeros(4_400_000_000, dtype=torch.uint8),
            "after": torch.arange(-5, 5, dtype=torch.int64),
        }
        torch.save(obj, path)
        # torch.save wrote these very tensors; hashing reads their memory in place (the big
        # one through numpy's buffer, no copy), which is no more than hashing a zero stream.
        expected = describe(obj)
        del obj
        print(f"zip64: torch wrote {os.path.getsize(path)} bytes, described in "
              f"{time.monotonic() - started:.0f} s")
        listing, failure = run_ptio(ptio, path, timeout=900)
        problems = [f"zip64.pt: ptio failed: {failure}"] if failure else \
            compare_file("zip64.pt", expected, listing)
    finally:
        if os.path.exists(path):
            os.remove(path)
    for line in problems:
        print(line)
    verdict = "FAIL" if problems else "ok"
    print(f"oracle zip64: {verdict}: {len(expected)} tensors, {len(problems)} mismatches, "
          f"{time.monotonic() - started:.0f} s")
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ptio", required=True, help="the ptio command-line tool")
    parser.add_argument("--zip64", metavar="WORKDIR",
                        help="check a torch file over 4 GiB written into WORKDIR")
    parser.add_argument("--format", default="zip", dest="file_format",
                        help='the "format" ptio must report for the fixtures (default zip)')
    parser.add_argument("--state-dict", action="store_true",
                        help="list with ls --state-dict (state_dict() names)")
    parser.add_argument("fixture_dir", nargs="?", help="directory with manifest.json")
    args = parser.parse_args()
    if args.zip64:
        ok = check_zip64(args.ptio, args.zip64)
    elif args.fixture_dir:
        ok = check_fixtures(args.ptio, args.fixture_dir, args.file_format, state_dict=args.state_dict)
    else:
        parser.error("give FIXTURE_DIR or --zip64 WORKDIR")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
