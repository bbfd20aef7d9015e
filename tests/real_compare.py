"""One real file: what ptio lists against what torch finds (real_files.py's docstring, step 3).

check() gives the file's class (PASS, MISMATCH, PTIO_ERROR, CRASH, TORCH_FAIL_PTIO_OK,
TORCH_FAIL_PTIO_ERROR) and the line that explains it.
"""

import collections
import json
import os
import re
import subprocess
import time

from real_load import failure_text, torch_load
from real_walk import TORCH_READS_BYTEORDER, byteorder_record, torch_tensors

PTIO_TIMEOUT = 60
FIELDS = ("dtype", "shape", "stride", "storage_offset", "sha256")

# ----------------------------------------------------------------------------------------------
# ptio


def run_ptio(ptio, path):
    """("ok", listing) | ("error", (errc, message)) | ("crash", why)."""
    try:
        done = subprocess.run([ptio, "ls", "--json", "--hash", path], capture_output=True,
                              timeout=PTIO_TIMEOUT)
    except subprocess.TimeoutExpired:
        return "crash", f"timed out after {PTIO_TIMEOUT} s"
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode < 0:
        return "crash", f"killed by signal {-done.returncode}: {stderr[-300:]}"
    if done.returncode == 0:
        try:
            return "ok", json.loads(done.stdout)
        except ValueError as e:
            return "crash", f"exit status 0 but the output is not JSON ({e})"
    # The CLI's contract: a ptio::error exits 2 with "ptio: error: ERRC: message"
    m = re.search(r"error: ([a-z_]+): (.*)", stderr)
    if done.returncode in (1, 2) and m:
        message = m.group(2).replace(path + ": ", "", 1)
        return "error", (m.group(1), message)
    return "crash", f"exit status {done.returncode}: {stderr[-300:]}"


# ----------------------------------------------------------------------------------------------
# Comparing


def content(r):
    return json.dumps([r[f] for f in FIELDS])


def differences(want, got):
    return [f"{f} {got.get(f)!r} (torch {want[f]!r})" for f in FIELDS
            if want[f] is not None and got.get(f) != want[f]]


def compare(expected, listing, names_may_differ, superset_ok):
    """(PASS or MISMATCH, note)."""
    actual = listing.get("tensors")
    if not isinstance(actual, list):
        return "MISMATCH", 'no "tensors" list in ptio\'s output'
    by_name = collections.defaultdict(list)
    for t in actual:
        by_name[t.get("name")].append(t)
    missing, problems = [], []
    used = collections.Counter()
    for want in expected:
        candidates = by_name.get(want["name"], [])
        i = used[want["name"]]
        if i >= len(candidates):
            missing.append(want["name"])
            continue
        used[want["name"]] += 1
        diff = differences(want, candidates[i])
        if diff:
            problems.append(f"{want['name']!r}: " + ", ".join(diff))
    extra = [t.get("name") for t in actual
             if used[t.get("name")] < len(by_name[t.get("name")])]
    extra = list(dict.fromkeys(extra))
    n = len(expected)
    if not missing and not problems and (not extra or superset_ok):
        note = f"{n} tensors"
        if extra:
            note += f" (+{len(actual) - n} more listed by ptio beyond the state_dict)"
        return "PASS", note
    if missing and names_may_differ and not problems:
        # names through stubs (or a module's attributes) may differ: compare by content
        want = collections.Counter(content(r) for r in expected)
        got = collections.Counter(content(t) for t in actual)
        left = want - got
        if not left and (superset_ok or not got - want):
            return "PASS", (f"{n} tensors matched by content, names differ "
                            f"(torch {shorten(missing)} vs ptio {shorten(extra)})")
    parts = []
    if missing:
        parts.append(f"{len(missing)} of {n} torch tensors not listed: {shorten(missing)}")
    if problems:
        parts.append(f"{len(problems)} differ: " + "; ".join(problems[:3]) +
                     (" ..." if len(problems) > 3 else ""))
    if extra and not superset_ok:
        parts.append(f"{len(extra)} extra listed: {shorten(extra)}")
    return "MISMATCH", "; ".join(parts)


def byteorder_note(expected, listing):
    swapped = [dict(r, sha256=r["sha256_swapped"]) for r in expected]
    if compare(swapped, listing, False, False)[0] == "PASS":
        return ("torch 1.13 ignores the byteorder record 'big'; ptio's elements are torch's "
                "byte-swapped (what torch >= 2.0 reads): ")
    return "byteorder 'big', which torch 1.13 ignores; ptio differs even byte-swapped: "


def shorten(names, keep=4):
    shown = ", ".join(repr(x) for x in names[:keep])
    return "[" + shown + (f", ... +{len(names) - keep}" if len(names) > keep else "") + "]"


# ----------------------------------------------------------------------------------------------


def check(entry, root, ptio_future):
    path = os.path.join(root, entry["file"])
    started = time.monotonic()
    obj, how, torch_failure = torch_load(path, entry["kind"])
    expected, names_may_differ = [], False
    if torch_failure is None:
        try:
            swapped = not TORCH_READS_BYTEORDER and byteorder_record(path) == "big"
            expected, names_may_differ = torch_tensors(obj, how, swapped)
        except Exception as e:  # noqa: BLE001 - a tensor torch built but cannot hash
            torch_failure = f"walking torch's result ({how}): " + failure_text(e)
    del obj
    status, result = ptio_future.result()
    out = {"file": entry["file"], "kind": entry["kind"], "torch": how or "FAIL",
           "torch_tensors": len(expected)}
    if status == "crash":
        out.update(cls="CRASH", detail=result)
    elif torch_failure is not None:
        out["torch_failure"] = torch_failure
        if status == "ok":
            out.update(cls="TORCH_FAIL_PTIO_OK",
                       detail=f"ptio lists {len(result.get('tensors', []))} tensors; torch: "
                              f"{torch_failure}")
        else:
            out.update(cls="TORCH_FAIL_PTIO_ERROR", errc=result[0], message=result[1],
                       detail=f"ptio: {result[0]}: {result[1]}; torch: {torch_failure}")
    elif status == "error":
        out.update(cls="PTIO_ERROR", errc=result[0], message=result[1],
                   detail=f"{result[0]}: {result[1]}")
    else:
        cls, note = compare(expected, result, names_may_differ, superset_ok=how == "jit.load")
        if cls == "MISMATCH" and any("sha256_swapped" in r for r in expected):
            note = byteorder_note(expected, result) + note
        out.update(cls=cls, detail=note)
    out["seconds"] = round(time.monotonic() - started, 2)
    return out
