#!/usr/bin/env python3
"""Check the files ptio writes by loading them with real torch.

    writer_oracle.py cases --exe PTIO_WRITE_CASES WORKDIR
        Run ptio_write_cases (tests/save/write_cases.cpp) into WORKDIR and load every file it
        wrote with torch.load, the default unpickler and, where the manifest says torch's
        weights_only allowlist permits, weights_only=True. Each tensor's dtype, shape, stride,
        storage offset, requires_grad, Parameter-ness and bytes must equal what the manifest
        says ptio wrote (the bytes are recomputed here from the manifest's formula and viewed
        with torch.as_strided); tensors of one storage must share it in torch, others not;
        the objects around them must equal the manifest's Python expression, types and key
        order included. The zip container is checked record by record with Python's
        zipfile (CRC-32s included) and by reading the local headers.

    writer_oracle.py cases --exe PTIO_WRITE_CASES --zip64 WORKDIR
        The same for one file with a 4.4 GB record (ZIP64 sizes and offsets); removed after.
        Exits 77 (skipped) when WORKDIR's disk has less than 10 GB free.

    writer_oracle.py roundtrip --ptio PTIO FIXTURE_DIR WORKDIR
        For every torch-written fixture: `ptio cp` it, load both with torch and require the
        same object, key for key, type for type and byte for byte (storage sharing and
        location tags too; storages saved on their own stay storages, tensor subclasses keep
        their class and attributes, objects what pickle kept of them). The copy must name no
        global that runs code (ptio scan) before torch loads it. Then, where FIXTURE_DIR has
        the training checkpoint, `ptio cp --only` and `--rename` on it, checked the same way
        against the subset torch itself selects.

Prints one line per problem and a summary; exits 1 on any problem.
"""

import argparse
import collections
import copyreg
import io
import json
import math
import mmap
import os
import shutil
import struct
import subprocess
import sys
import types
import zipfile

import torch

# the classes tests/fixtures/make_formats.py pickles (format_classes)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))

OrderedDict = collections.OrderedDict


class T:
    """Stands for a tensor in the manifest's expected objects."""


def version_tuple(text):
    return tuple(int(p) for p in text.split("+")[0].split(".")[:2])


TORCH = version_tuple(torch.__version__)


def dtype_of(name):
    return getattr(torch, name)


def pattern(seed, nbytes, boolean):
    """Byte j of a storage written by ptio_write_cases (keep in step with pattern())."""
    data = bytearray((j * 131 + seed * 17 + 7) % 251 for j in range(nbytes))
    if boolean:
        data = bytearray(b & 1 for b in data)
    return data


def raw_bytes(t):
    """A CPU tensor's elements in row-major order as bytes."""
    t = t.detach().contiguous().reshape(-1)
    return bytes(t.view(torch.uint8).numpy()) if t.numel() else b""


def storage_key(t):
    if hasattr(t, "untyped_storage"):
        return t.untyped_storage()._cdata
    return t.storage()._storage._cdata


# --- strict structural equality ------------------------------------------------------------------

def pickled_state(obj):
    """What pickle saves of an object: its __getstate__(), else its __dict__."""
    getstate = getattr(obj, "__getstate__", None)
    try:
        return getstate() if getstate is not None else getattr(obj, "__dict__", None)
    except TypeError:
        return getattr(obj, "__dict__", None)


def subclass_state(t):
    """A tensor subclass's attributes: its __dict__ and the slots it has set."""
    slots = {name: getattr(t, name) for name in copyreg._slotnames(type(t)) if hasattr(t, name)}
    return (t.__dict__, slots)


def same(a, b, where, problems, tensor_check, on_path=None):
    """Record in problems every way a (loaded) differs from b (expected), type for type."""
    on_path = set() if on_path is None else on_path
    if b is T or isinstance(b, torch.Tensor):
        if not isinstance(a, torch.Tensor):
            problems.append(f"{where}: {type(a).__name__}, expected a tensor")
        else:
            tensor_check(a, b, where)
            if isinstance(b, torch.Tensor) and type(b) not in (torch.Tensor, torch.nn.Parameter):  # a subclass: attributes, slots
                same(subclass_state(a), subclass_state(b), f"{where}.state", problems, tensor_check,
                     on_path)
        return
    if type(a) is not type(b):
        problems.append(f"{where}: {type(a).__name__} {a!r:.80}, expected {type(b).__name__} {b!r:.80}")
        return
    if isinstance(b, torch.storage.TypedStorage):  # a storage saved on its own
        if (a.dtype, a.size()) != (b.dtype, b.size()):
            problems.append(f"{where}: storage of {a.dtype} x {a.size()}, expected {b.dtype} x {b.size()}")
        else:
            tensor_check(torch.tensor([], dtype=a.dtype).set_(a), torch.tensor([], dtype=b.dtype).set_(b), where)
        return
    if id(b) in on_path:  # an object inside itself (a scheduler and its bound method)
        return
    if isinstance(b, types.MethodType):  # pickled as getattr(obj, name)
        if a.__func__ is not b.__func__:
            problems.append(f"{where}: method {a.__func__!r}, expected {b.__func__!r}")
        on_path.add(id(b))
        same(a.__self__, b.__self__, f"{where}.__self__", problems, tensor_check, on_path)
        on_path.discard(id(b))
        return
    if not isinstance(b, (dict, list, tuple, str, bytes, int, float, complex, bool, type(None), type)) \
            and hasattr(b, "__dict__"):  # an object of a class: what pickle kept of it
        on_path.add(id(b))
        same(pickled_state(a), pickled_state(b), f"{where}.state", problems, tensor_check, on_path)
        on_path.discard(id(b))
        return
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            problems.append(f"{where}: keys {list(a.keys())!r:.200} != {list(b.keys())!r:.200}")
            return
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]", problems, tensor_check, on_path)
        if hasattr(b, "_metadata") != hasattr(a, "_metadata") or \
                getattr(a, "_metadata", None) != getattr(b, "_metadata", None):
            problems.append(f"{where}: _metadata {getattr(a, '_metadata', None)!r:.120} != "
                            f"{getattr(b, '_metadata', None)!r:.120}")
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            problems.append(f"{where}: {len(a)} items, expected {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]", problems, tensor_check, on_path)
    elif isinstance(a, float):
        if not (a == b and math.copysign(1, a) == math.copysign(1, b)) and not (a != a and b != b):
            problems.append(f"{where}: {a!r} != {b!r}")
    elif isinstance(a, complex):
        if repr(a) != repr(b):
            problems.append(f"{where}: {a!r} != {b!r}")
    elif a != b:
        problems.append(f"{where}: {a!r:.120} != {b!r:.120}")


def walk_tensors(obj, path, out):
    if isinstance(obj, torch.Tensor):
        out.append((path, obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            walk_tensors(v, path + [k if isinstance(k, str) else repr(k)], out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            walk_tensors(v, path + [str(i)], out)


# --- the zip container ---------------------------------------------------------------------------

def check_container(path, crc, alignment, prefix, problems):
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        want = ["data.pkl", ".format_version", ".storage_alignment", "byteorder"]
        rel = [n.split("/", 1)[1] for n in names]
        if rel[:4] != want or rel[-1] != "version":
            problems.append(f"{path}: record order {rel[:5]}…{rel[-1:]}, expected {want}…['version']")
        data_records = [r for r in rel if r.startswith("data/")]
        if data_records != [f"data/{k}" for k in range(len(data_records))]:
            problems.append(f"{path}: storage records {data_records[:5]}… not data/0, data/1, … in order")
        if any(n.split("/", 1)[0] != prefix for n in names):
            problems.append(f"{path}: prefix {names[0].split('/', 1)[0]!r}, expected {prefix!r}")
        def payload(record):  # read through the local header: zipfile would check the CRC
            info = z.getinfo(f"{prefix}/{record}")
            n, m = struct.unpack_from("<HH", data, info.header_offset + 26)
            start = info.header_offset + 30 + n + m
            return data[start:start + info.file_size]
        for record, want in (("version", b"3\n"), ("byteorder", b"little"), (".format_version", b"1"),
                             (".storage_alignment", str(alignment).encode())):
            if payload(record) != want:
                problems.append(f"{path}: {record} is {payload(record)!r}, expected {want!r}")
        if crc:
            bad = z.testzip()  # Python's own CRC-32 of every record
            if bad is not None:
                problems.append(f"{path}: CRC-32 of {bad} does not match")
        for info in infos:
            if info.compress_type != 0:
                problems.append(f"{path}: {info.filename} is compressed")
            if not crc and info.CRC != 0:
                problems.append(f"{path}: CRC off but {info.filename} has {info.CRC:08x}")
            off = info.header_offset
            sig, _, flags, method = struct.unpack_from("<IHHH", data, off)
            n, m = struct.unpack_from("<HH", data, off + 26)
            extra = data[off + 30 + n: off + 30 + n + m]
            start = off + 30 + n + m
            if sig != 0x04034B50 or method != 0:
                problems.append(f"{path}: {info.filename}: bad local header")
            if flags != (0x0808 if info.file_size else 0x0800):
                problems.append(f"{path}: {info.filename}: flags {flags:#06x}")
            if start % alignment:
                problems.append(f"{path}: {info.filename}: payload at {start}, not {alignment}-aligned")
            fb = extra.find(b"FB")
            if fb < 0 or struct.unpack_from("<H", extra, fb + 2)[0] != len(extra) - fb - 4 or \
                    set(extra[fb + 4:]) - {ord("Z")}:
                problems.append(f"{path}: {info.filename}: FB padding field wrong: {extra!r:.60}")
            end = start + info.file_size
            if info.file_size and data[end:end + 4] != b"PK\x07\x08":
                problems.append(f"{path}: {info.filename}: no data descriptor after the payload")
    tail = data[-22:]
    if tail[:4] != b"PK\x05\x06" or data[-42:-38] != b"PK\x06\x07":
        problems.append(f"{path}: the archive does not end with ZIP64 locator + end record")


# --- ptio_write_cases ----------------------------------------------------------------------------

def check_case(workdir, case, problems):
    path = os.path.join(workdir, case["file"])
    if TORCH < version_tuple(case["min_torch"]):
        print(f"  {case['file']}: skipped, needs torch ≥ {case['min_torch']} (this is {torch.__version__})")
        return 0
    check_container(path, case["crc"], case["alignment"], case["prefix"], problems)
    storages = case["storages"]

    def expected_view(spec):
        s = storages[spec["storage"]]
        dtype = dtype_of(spec["dtype"])
        base = torch.frombuffer(pattern(s["seed"], s["nbytes"], s["bool"]), dtype=torch.uint8) \
            if s["nbytes"] else torch.empty(0, dtype=torch.uint8)
        return torch.as_strided(base.view(dtype), spec["shape"], spec["stride"], spec["storage_offset"])

    modes = [False] + ([True] if case["weights_only"] else [])
    checked = 0
    for weights_only in modes:
        label = f"{case['file']} (weights_only={weights_only})"
        try:
            obj = torch.load(path, weights_only=weights_only) if TORCH >= (1, 13) else torch.load(path)
        except Exception as e:  # noqa: BLE001 - report any failure of torch
            problems.append(f"{label}: torch.load failed: {type(e).__name__}: {e}")
            continue
        found = []
        walk_tensors(obj, [], found)
        specs = case["tensors"]
        if [p for p, _ in found] != [s["path"] for s in specs]:
            problems.append(f"{label}: tensor paths {[p for p, _ in found][:6]}… != "
                            f"{[s['path'] for s in specs][:6]}…")
            continue
        first_key = {}
        for (p, t), spec in zip(found, specs):
            where = f"{label} {'.'.join(p)}"
            got = (str(t.dtype).removeprefix("torch."), list(t.shape), list(t.stride()),
                   t.storage_offset(), bool(t.requires_grad), isinstance(t, torch.nn.Parameter))
            want = (spec["dtype"], spec["shape"], spec["stride"], spec["storage_offset"],
                    spec["requires_grad"], spec["parameter"])
            if got != want:
                problems.append(f"{where}: (dtype, shape, stride, offset, grad, Parameter) = {got}, wrote {want}")
                continue
            if spec["meta"]:
                if not t.is_meta:
                    problems.append(f"{where}: not a meta tensor")
                continue
            s = storages[spec["storage"]]
            if s["seed"] == 0:  # the ZIP64 case: zeros and one 42 at the very end
                if int(t.count_nonzero()) != 1 or int(t[-1]) != 42:
                    problems.append(f"{where}: the 4.4 GB record's bytes are wrong")
            elif raw_bytes(t) != raw_bytes(expected_view(spec)):
                problems.append(f"{where}: bytes differ from what ptio wrote")
            # One storage in the file is one storage in torch, and only that.
            key = storage_key(t)
            if s["nbytes"]:
                prior = first_key.setdefault(spec["storage"], key)
                if prior != key:
                    problems.append(f"{where}: does not share storage {spec['storage']} in torch")
            checked += 1
        distinct = {}
        for (p, t), spec in zip(found, specs):
            if not spec["meta"] and storages[spec["storage"]]["nbytes"]:
                distinct.setdefault(storage_key(t), set()).add(spec["storage"])
        if any(len(v) > 1 for v in distinct.values()):
            problems.append(f"{label}: torch merged storages ptio wrote apart: {list(distinct.values())}")
        if case["expect"]:
            env = {"T": T, "OrderedDict": OrderedDict, "torch": torch}
            expected = eval(case["expect"], env)  # the manifest is ours, written by the test
            if case["metadata"]:
                expected._metadata = eval(case["metadata"], env)
            same(obj, expected, label, problems, lambda a, b, w: None)
        for first, second in case["same_object"]:
            if eval("obj" + first, {"obj": obj}) is not eval("obj" + second, {"obj": obj}):
                problems.append(f"{label}: obj{first} is not obj{second}")
        if case["prefix"] == "archive":
            with open(path, "rb") as f:
                torch.load(io.BytesIO(f.read()))
    return checked


def run_cases(exe, workdir, zip64):
    if zip64:
        os.makedirs(workdir, exist_ok=True)
        free = shutil.disk_usage(workdir).free
        if free < 10e9:
            print(f"skipped: {free / 1e9:.1f} GB free in {workdir}, the ZIP64 case needs 10")
            return 77
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        done = subprocess.run([exe, workdir] + (["--zip64"] if zip64 else []),
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"ptio_write_cases failed ({done.returncode}): {done.stderr.strip()}")
            return 1
        with open(os.path.join(workdir, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        problems = []
        tensors = 0
        for case in manifest["cases"]:
            tensors += check_case(workdir, case, problems)
    finally:
        if zip64:
            shutil.rmtree(workdir, ignore_errors=True)
    for line in problems:
        print(line)
    print(f"writer oracle: {'FAIL' if problems else 'ok'}: {len(manifest['cases'])} files, "
          f"{tensors} tensor checks against torch {torch.__version__}, {len(problems)} problems")
    return 1 if problems else 0


# --- round trips through ptio cp -----------------------------------------------------------------

def load_with_tags(path):
    """torch.load onto the CPU, and the location tag of every storage as torch saw it."""
    tags = []

    def remember(storage, location):
        tags.append(location)
        return storage
    return torch.load(path, map_location=remember), tags


def compare_loaded(label, got, want, problems):
    def tensor_check(a, b, where):
        ga = (a.dtype, list(a.shape), list(a.stride()), a.storage_offset(), a.requires_grad,
              type(a), a.is_quantized)
        gb = (b.dtype, list(b.shape), list(b.stride()), b.storage_offset(), b.requires_grad,
              type(b), b.is_quantized)
        if ga != gb:
            problems.append(f"{where}: {ga} != torch's {gb}")
        elif not b.is_meta and raw_bytes(a) != raw_bytes(b):  # a meta tensor has no bytes
            problems.append(f"{where}: bytes differ")
    same(got, want, label, problems, tensor_check)
    # Storage sharing: the partition of tensors by storage must be the same.
    ga, gb = [], []
    walk_tensors(got, [], ga)
    walk_tensors(want, [], gb)
    def groups(found):
        ids = {}
        return [ids.setdefault(storage_key(t), len(ids)) for _, t in found]
    if groups(ga) != groups(gb):
        problems.append(f"{label}: storage sharing differs: {groups(ga)} vs torch's {groups(gb)}")


def run_ptio(ptio, *args):
    return subprocess.run([ptio, *args], capture_output=True, text=True)


# Globals a copy writes that the original names only in parts: a nested class, which the
# original (and the copy) reach through getattr(Outer, "Inner"), is allowed by its full name.
EXTRA_ALLOW = {"nested_class.pt": ["format_classes.Outer.Inner"]}
# Files ptio reads but does not write, with what the refusal must say (none now: an object
# that holds itself, a scheduler whose bound method holds the scheduler, is written as pickle
# writes it, the object memoised before its state).
REFUSED = {}
# Objects a file shares with itself, which a copy must share the same way (a cycle written
# with memo gets, not as two objects): checks that hold on torch's load of the original.
IDENTITIES = {"onecycle.pt": [
    ("the scheduler's anneal_func and its __self__'s",
     lambda o: o["scheduler"]["anneal_func"].__self__.anneal_func is o["scheduler"]["anneal_func"]),
]}


def roundtrip(ptio, fixture_dir, workdir):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(fixture_dir, "manifest.json"), encoding="utf-8") as f:
        fixtures = [e["file"] for e in json.load(f)["fixtures"]]
    problems = []
    copied = refused = 0
    for name in fixtures:
        src = os.path.join(fixture_dir, name)
        dst = os.path.join(workdir, name)
        want, want_tags = load_with_tags(src)
        quantized = []
        walk_tensors(want, [], quantized)
        has_q = any(t.is_quantized for _, t in quantized)
        # Whole pickled objects (torch.save(model)) name classes outside the weights_only
        # allowlist, which cp writes only when told to: the ones scan reports are allowed.
        scan = json.loads(run_ptio(ptio, "scan", "--json", src).stdout)
        allow = sorted({f"{g['module']}.{g['name']}" for g in scan["files"][0]["globals"]
                        if g["verdict"] == "unknown"})
        allow += EXTRA_ALLOW.get(name, [])
        done = run_ptio(ptio, "cp", src, dst, *[a for g in allow for a in ("--allow-global", g)])
        if name in REFUSED:  # ptio reads it, but cannot write it: a clear refusal, no file
            if done.returncode != 2 or REFUSED[name] not in done.stderr or os.path.exists(dst):
                problems.append(f"{name}: cp exited {done.returncode}, {done.stderr.strip()!r}, "
                                f"file left: {os.path.exists(dst)}; expected a refusal naming {REFUSED[name]!r}")
            refused += 1
            continue
        if has_q:
            # ptio does not write quantizers: the copy must be refused, clearly, and no file left.
            if done.returncode != 2 or "quantized" not in done.stderr or os.path.exists(dst):
                problems.append(f"{name}: quantized tensors: cp exited {done.returncode}, "
                                f"{done.stderr.strip()!r}, file left: {os.path.exists(dst)}")
            refused += 1
            continue
        if done.returncode != 0:
            problems.append(f"{name}: ptio cp failed ({done.returncode}): {done.stderr.strip()}")
            continue
        # The copy is loaded with code allowed: it must name no global that runs code.
        copy_scan = json.loads(run_ptio(ptio, "scan", "--json", dst).stdout)
        unsafe = [g for g in copy_scan["files"][0]["globals"] if g["verdict"] == "unsafe"]
        if unsafe:
            problems.append(f"{name}: the copy names globals that run code: {unsafe}")
            continue
        got, got_tags = load_with_tags(dst)
        compare_loaded(name, got, want, problems)
        for where, check in IDENTITIES.get(name, []):  # what the memo shared stays one object
            if not check(want):
                problems.append(f"{name}: {where}: the check does not hold on the original")
            elif not check(got):
                problems.append(f"{name}: {where} is not one object in the copy, as in the original")
        if got_tags != want_tags and want_tags:  # tensors saved through numpy have no storage
            problems.append(f"{name}: location tags {got_tags} != torch's {want_tags}")
        copied += 1

    # A training checkpoint trimmed to its model, and renamed (the main fixtures only).
    src = os.path.join(fixture_dir, "training.pt")
    if not os.path.exists(src):
        return report(problems, copied, refused)
    full = torch.load(src)
    cases = [
        (["--only", "model.*"], {"model": full["model"]}),
        (["--only", "model.fc1.*", "--only", "epoch"],
         {"epoch": full["epoch"], "model": OrderedDict((k, v) for k, v in full["model"].items()
                                                       if k.startswith("fc1."))}),
        (["--only", "model.*", "--rename", "model=state_dict", "--rename", "fc1.=encoder."],
         {"state_dict": OrderedDict(((("encoder." + k[4:]) if k.startswith("fc1.") else k), v)
                                    for k, v in full["model"].items())}),
    ]
    for args, want in cases:
        dst = os.path.join(workdir, "subset.pt")
        done = run_ptio(ptio, "cp", src, dst, *args)
        label = f"cp {' '.join(args)}"
        if done.returncode != 0:
            problems.append(f"{label}: failed ({done.returncode}): {done.stderr.strip()}")
            continue
        got = torch.load(dst)
        if "model" in want and isinstance(want["model"], OrderedDict) and hasattr(full["model"], "_metadata"):
            want["model"]._metadata = full["model"]._metadata
        if "state_dict" in want:
            want["state_dict"]._metadata = full["model"]._metadata
        compare_loaded(label, got, want, problems)
        copied += 1
    for args, needle in ((["--only", "nothing.*"], "matches nothing"),
                         (["--rename", "model"], "OLD=NEW"),
                         (["--rename", "fc1.weight=fc1.bias"], "already")):
        done = run_ptio(ptio, "cp", src, os.path.join(workdir, "bad.pt"), *args)
        if done.returncode == 0 or needle not in done.stderr:
            problems.append(f"cp {' '.join(args)}: exit {done.returncode}, {done.stderr.strip()!r}; "
                            f"expected a failure mentioning {needle!r}")
    return report(problems, copied, refused)


def report(problems, copied, refused):
    for line in problems:
        print(line)
    print(f"round trip: {'FAIL' if problems else 'ok'}: {copied} copies loaded by torch "
          f"{torch.__version__}, {refused} refused (quantized, or objects holding themselves), "
          f"{len(problems)} problems")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cases")
    c.add_argument("--exe", required=True)
    c.add_argument("--zip64", action="store_true")
    c.add_argument("workdir")
    r = sub.add_parser("roundtrip")
    r.add_argument("--ptio", required=True)
    r.add_argument("fixture_dir")
    r.add_argument("workdir")
    args = parser.parse_args()
    if args.command == "cases":
        return run_cases(args.exe, args.workdir, args.zip64)
    return roundtrip(args.ptio, args.fixture_dir, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
