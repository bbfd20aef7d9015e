#!/usr/bin/env python3
"""Small files that ask for unbounded work: each command must finish, within memory.

    cli_bounded_work.py --ptio PTIO OUTDIR

Builds its files in OUTDIR (with the malformed generator's helpers and real torch) and checks:
  - a 1.3 kB file holding a stride-0 float32 view of shape [2^20, 2^20] (4 TiB of elements
    over a 4-byte storage): `ls --hash` returns at once, lists it with "-" and warns naming
    --max-hash-bytes and its value; `--json` gives "sha256": null and "sha256_refused"; show
    and verify return too. A small expanded view (4×3 over 3 elements) is hashed by
    default, with the digest of the elements it shows; --max-hash-bytes 0 refuses it and
    --max-hash-bytes 48 (its size) hashes it again;
  - 200 integers of 4 kB each (820 kB of LONG4 payloads) written by torch.save: `ptio cp`
    writes a file torch's reader (real_load.py's stub unpickler) reads as the same integers; `show` prints those
    past CPython's 4300-digit limit in hex and `show --json` gives them as "hex", both exact;
  - a 1 GiB float32 storage deflated into a 1 MB file: `ls --hash` (digest of 1 GiB of zeros)
    and `verify` succeed under a 512 MiB address-space limit; with its CRC-32 broken in the
    central directory, `verify` reports the mismatch under the same limit.
Every command runs under a timeout. Prints one line per failure; exits 1 on any.
"""

import argparse
import hashlib
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "malformed"))

from mal_pickle import state_dict, storage_pid, tensor_v2  # noqa: E402
from mal_zip import make_zip  # noqa: E402

failures = []
MEMORY_LIMIT = 512 << 20


def fail(what):
    failures.append(what)
    print(f"FAIL: {what}", flush=True)


def run(ptio, *args, timeout=60, memory=None):
    """(exit status, stdout, stderr) of `ptio args…`; None on a timeout (failure recorded)."""
    def limit():
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        done = subprocess.run([ptio, *args], capture_output=True, timeout=timeout,
                              preexec_fn=limit)
    except subprocess.TimeoutExpired:
        fail(f"`ptio {' '.join(args)}` did not finish in {timeout} s")
        return None
    return (done.returncode, done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"))


def expect_ok(ptio, label, *args, memory=None):
    r = run(ptio, *args, memory=memory)
    if r is not None and r[0] != 0:
        fail(f"{label}: `ptio {' '.join(args)}` exited {r[0]}: {r[2].strip()[:400]}")
        return None
    return r


def stride0(ptio, out):
    path = os.path.join(out, "stride0.pt")
    pkl = state_dict([
        ("x", tensor_v2(storage_pid(numel=1), size=(2**20, 2**20), stride=(0, 0))),
        ("e", tensor_v2(storage_pid("FloatStorage", "1", numel=3), size=(4, 3), stride=(0, 1))),
    ])
    e_bytes = struct.pack("<3f", 1.0, 2.0, 3.0)
    with open(path, "wb") as f:
        f.write(make_zip([("data.pkl", pkl), ("data/0", struct.pack("<f", 7.0)),
                          ("data/1", e_bytes), ("version", b"3\n")]))
    e_digest = hashlib.sha256(e_bytes * 4).hexdigest()

    r = expect_ok(ptio, "stride0 ls --hash", "ls", "--hash", path)
    if r:
        rows = {line.split()[0]: line.split() for line in r[1].splitlines()}
        if rows.get("x", [None])[-1] != "-":
            fail(f"stride0: ls --hash shows {rows.get('x')} for the 4 TiB view, not '-'")
        if rows.get("e", [None])[-1] != e_digest:
            fail(f"stride0: the expanded 4x3 view hashes to {rows.get('e')}, not {e_digest}")
        if "--max-hash-bytes" not in r[2] or str(1 << 30) not in r[2]:
            fail(f"stride0: the refusal does not name the cap: {r[2].strip()!r}")
    r = expect_ok(ptio, "stride0 ls --hash --json", "ls", "--hash", "--json", path)
    if r:
        rows = {t["name"]: t for t in json.loads(r[1])["tensors"]}
        x = rows.get("x", {})
        if x.get("sha256", "") is not None or "--max-hash-bytes" not in x.get("sha256_refused", ""):
            fail(f"stride0: --json shows {x} for the refused view")
        if rows.get("e", {}).get("sha256") != e_digest or "sha256_refused" in rows.get("e", {}):
            fail(f"stride0: --json shows {rows.get('e')} for the small expanded view")
    for cap, hashed in (("0", False), ("48", True)):
        r = expect_ok(ptio, f"stride0 --max-hash-bytes {cap}", "ls", "--hash", "--json",
                      "--max-hash-bytes", cap, path)
        if r:
            e = {t["name"]: t for t in json.loads(r[1])["tensors"]}.get("e", {})
            if (e.get("sha256") == e_digest) != hashed:
                fail(f"stride0: with --max-hash-bytes {cap} the 4x3 view shows {e}")
    for args in (["show", path], ["show", "--json", path], ["verify", path]):
        expect_ok(ptio, "stride0", *args)


def big_integers(ptio, out, torch):
    values = [(-1) ** k * (2 ** (8 * 4093 - 2) + 12345 * k) for k in range(200)]
    src = os.path.join(out, "bigints.pt")
    dst = os.path.join(out, "bigints_copy.pt")
    torch.save({"ints": values, "small": 2**70}, src)
    if os.path.exists(dst):
        os.remove(dst)
    if expect_ok(ptio, "big integers cp", "cp", src, dst):
        # torch 1.13's weights_only reader lacks LONG4: torch's own reader with the stub
        # unpickler, which runs nothing the file names.
        with open(dst, "rb") as f:
            got = real_load.load_with_stubs(f)
        if got != {"ints": values, "small": 2**70}:
            fail("big integers: torch.load of ptio cp's copy differs from the original")
    r = expect_ok(ptio, "big integers show", "show", src)
    if r and (hex(values[1]) not in r[1] or str(2**70) not in r[1]):
        fail("big integers: show prints neither the hex of an integer past 4300 digits nor "
             "the decimal of a short one")
    r = expect_ok(ptio, "big integers show --json", "show", "--json", src)
    if r:
        text = r[1]
        if f'"hex": "{hex(values[1])}"' not in text.replace('":"', '": "'):
            fail("big integers: show --json does not give an integer past 4300 digits as hex")


def deflated(ptio, out):
    n = 1 << 28  # float32 elements: 1 GiB
    pkl = state_dict([("w", tensor_v2(storage_pid(numel=n), size=(n,), stride=(1,)))])
    good = os.path.join(out, "deflated_1gib.pt")
    with zipfile.ZipFile(good, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl", (1980, 1, 1, 0, 0, 0)), pkl)
        info = zipfile.ZipInfo("archive/data/0", (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zero = bytes(1 << 24)
        with z.open(info, "w", force_zip64=True) as f:
            for _ in range(n * 4 // len(zero)):
                f.write(zero)
        z.writestr(zipfile.ZipInfo("archive/version", (1980, 1, 1, 0, 0, 0)), b"3\n")
    size = os.path.getsize(good)
    if size > 2 << 20:
        fail(f"deflated: the test file is {size} bytes, not about 1 MB")
    digest = hashlib.sha256()
    zero = bytes(1 << 24)
    for _ in range(n * 4 // len(zero)):
        digest.update(zero)
    r = expect_ok(ptio, "deflated ls --hash", "ls", "--hash", good, memory=MEMORY_LIMIT)
    if r and digest.hexdigest() not in r[1]:
        fail(f"deflated: ls --hash printed {r[1].strip()!r}, not the digest of 1 GiB of zeros")
    expect_ok(ptio, "deflated verify", "verify", good, memory=MEMORY_LIMIT)

    # The same file with data/0's CRC-32 changed in the central directory.
    bad = os.path.join(out, "deflated_1gib_badcrc.pt")
    data = bytearray(open(good, "rb").read())
    name = b"archive/data/0"
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))  # its central directory entry
    data[at + 16] ^= 0xFF
    open(bad, "wb").write(bytes(data))
    r = run(ptio, "verify", bad, memory=MEMORY_LIMIT)
    if r is not None and (r[0] != 1 or "CRC-32 is" not in r[1] + r[2]):
        fail(f"deflated: verify of a broken CRC exited {r[0]}: {(r[1] + r[2]).strip()[:400]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ptio", required=True)
    ap.add_argument("out")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import torch  # the oracle: writes the big integers and reads ptio's copy
    global real_load
    import real_load
    stride0(args.ptio, args.out)
    big_integers(args.ptio, args.out, torch)
    deflated(args.ptio, args.out)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
