#!/usr/bin/env python3
"""Write the table of broken checkpoints that tests/malformed.cpp feeds to ptio.

Usage: make_malformed.py OUTDIR

Real torch (1.13 or later) writes two small valid checkpoints (a zip one and a legacy one);
every broken file is derived from them by byte surgery, or built from scratch with Python's
zipfile (ZIP_STORED, names under `archive/`) around hand-written protocol-2 pickle bytes.

OUTDIR/cases.tsv has one row per broken file, tab-separated:

    file    errc    substring    description

- `file`: the name of the file in OUTDIR.
- `errc`: the name of the ptio::errc (as error.hpp spells it) that opening the file and then
  reading every tensor's bytes must raise. `any` means: the file is hostile but not
  necessarily wrong, so ptio may open it or throw any ptio::error, but must not crash or hang.
- `substring`: text what() must contain besides the file's path (case-insensitive; several
  alternatives separated by `|`, any one suffices; empty: nothing more). Record names are
  relative to the archive prefix, so `data/0` matches `archive/data/0`.
- `description`: what was broken. Where two codes could fit, it says which other one and why
  the chosen one is the more specific.

Other files in OUTDIR that the C++ test uses by name (not in cases.tsv):
  valid_torch.pt      torch.save of OrderedDict(w=float32 2x3, b=int64 3): must open
  valid_handmade.pt   the hand-written pickle in a zipfile-built zip, same tensors: must open
  valid_deflated.pt   valid_torch.pt re-zipped with data.pkl deflated: must open
  valid_deflated_all.pt  the same with every record deflated: must open (copies)
  crc_payload.pt      valid_torch.pt with one byte of data/0 flipped (CRC now wrong)
  crc_datapkl.pt      valid_torch.pt with the key 'w' changed to 'x' in data.pkl (CRC now wrong)
  cycle_list.pt       a list that contains itself (memo), next to a tensor
  cycle_dict.pt       a dict holding a tensor and itself
  exponential.pt      40 levels of 2-tuples each holding the previous one twice: 2^40 paths
                      to one tensor; listing every path cannot be done, so ptio must stop at a
                      cap (limit_exceeded) or walk shared containers a bounded number of times
  deep_dict_key.pt    a dict key nested 100000 deep (a 1-tuple chain): limit_exceeded, no stack
                      overflow while naming the tensor under it
  exponential_dict_key.pt  a dict key that is a 40-level DAG of 2-tuples: its text would have
                      2^40 parts, so limit_exceeded rather than exhausted memory
  from_type_chain_3.pt     _rebuild_from_type_v2 nested 3 deep: torch loads it; must open
  from_type_chain_deep.pt  the same nested 100000 deep: limit_exceeded, no stack overflow
"""

import importlib.util
import io
import os
import pickle
import random
import struct
import sys
import tarfile
import zipfile
import zlib
from collections import OrderedDict

# --------------------------------------------------------------------------------------------
# Pickle bytes, protocol 2, written by hand.


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def i32(v):
    return struct.pack("<i", v)


def u64(v):
    return struct.pack("<Q", v)


PROTO2 = b"\x80\x02"
MARK = b"("
STOP = b"."
TUPLE = b"t"
EMPTY_TUPLE = b")"
EMPTY_LIST = b"]"
EMPTY_DICT = b"}"
APPEND = b"a"
APPENDS = b"e"
SETITEM = b"s"
SETITEMS = b"u"
REDUCE = b"R"
BINPERSID = b"Q"
NEWFALSE = b"\x89"
NONE = b"N"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def ustr(s):
    d = s.encode()
    return b"X" + u32(len(d)) + d


def pint(v):
    if 0 <= v < 256:
        return b"K" + u8(v)
    if -(2**31) <= v < 2**31:
        return b"J" + i32(v)
    n = 1
    while not (-(2 ** (8 * n - 1)) <= v < 2 ** (8 * n - 1)):
        n += 1
    return b"\x8a" + u8(n) + v.to_bytes(n, "little", signed=True)


def ptuple(items):
    return MARK + b"".join(items) + TUPLE


def ints(vals):
    return ptuple([pint(v) for v in vals])


def storage_pid(cls="FloatStorage", key="0", location="cpu", numel=6, module="torch"):
    return ptuple([ustr("storage"), glob(module, cls), ustr(key), ustr(location), pint(numel)])


def tensor_v2(pid=None, offset=0, size=(2, 3), stride=(3, 1), offset_bytes=None, size_bytes=None,
              stride_bytes=None):
    """_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""
    pid = storage_pid() if pid is None else pid
    return (glob("torch._utils", "_rebuild_tensor_v2") + MARK + pid + BINPERSID
            + (pint(offset) if offset_bytes is None else offset_bytes)
            + (ints(size) if size_bytes is None else size_bytes)
            + (ints(stride) if stride_bytes is None else stride_bytes)
            + NEWFALSE + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
            + TUPLE + REDUCE)


def state_dict(items):
    """OrderedDict of (key, pickled value) pairs, then STOP."""
    body = b"".join(ustr(k) + v for k, v in items)
    return (PROTO2 + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK + body
            + SETITEMS + STOP)


W_BYTES = struct.pack("<6f", *range(6))
B_BYTES = struct.pack("<3q", 1, 1, 1)


def good_pickle():
    return state_dict([
        ("w", tensor_v2()),
        ("b", tensor_v2(storage_pid("LongStorage", "1", numel=3), size=(3,), stride=(1,))),
    ])


# --------------------------------------------------------------------------------------------
# Zips built with Python's zipfile.


def make_zip(records, method=zipfile.ZIP_STORED, prefix="archive/"):
    """records: list of (name, bytes) or (name, bytes, method)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for rec in records:
            name, data = rec[0], rec[1]
            m = rec[2] if len(rec) > 2 else method
            info = zipfile.ZipInfo(prefix + name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = m
            z.writestr(info, data)
    return buf.getvalue()


def zip_with_pickle(pkl, storages=None, extra=None):
    storages = [("data/0", W_BYTES), ("data/1", B_BYTES)] if storages is None else storages
    recs = [("data.pkl", pkl)] + storages + [("version", b"3\n")] + (extra or [])
    return make_zip(recs)


# --------------------------------------------------------------------------------------------
# Our own reading of a zip, to find offsets for surgery.


class Entry:
    pass


class Zip:
    def __init__(self, b):
        self.b = bytes(b)
        b = self.b
        self.eocd = b.rfind(b"PK\x05\x06")
        assert self.eocd >= 0
        (_, _, _, n_disk, n_total, cd_size, cd_off, _) = struct.unpack_from("<IHHHHIIH", b, self.eocd)
        self.loc = None
        self.z64 = None
        if self.eocd >= 20 and b[self.eocd - 20:self.eocd - 16] == b"PK\x06\x07":
            self.loc = self.eocd - 20
            self.z64 = struct.unpack_from("<Q", b, self.loc + 8)[0]
            assert b[self.z64:self.z64 + 4] == b"PK\x06\x06"
            n_total, cd_size, cd_off = struct.unpack_from("<QQQ", b, self.z64 + 32)
        self.cd_off, self.cd_size = cd_off, cd_size
        self.entries = []
        pos = cd_off
        for _ in range(n_total):
            assert b[pos:pos + 4] == b"PK\x01\x02"
            e = Entry()
            e.cd = pos
            (e.method,) = struct.unpack_from("<H", b, pos + 10)
            e.crc, e.csize, e.usize, nlen, xlen, clen = struct.unpack_from("<IIIHHH", b, pos + 16)
            (e.lho,) = struct.unpack_from("<I", b, pos + 42)
            e.name = b[pos + 46:pos + 46 + nlen].decode()
            ln, lx = struct.unpack_from("<HH", b, e.lho + 26)
            e.payload = e.lho + 30 + ln + lx
            e.end = e.payload + e.csize
            self.entries.append(e)
            pos += 46 + nlen + xlen + clen
        self.cd_end = pos

    def entry(self, suffix):
        for e in self.entries:
            if e.name.endswith("/" + suffix):
                return e
        raise KeyError(suffix)


def patch(b, off, data):
    b = bytearray(b)
    b[off:off + len(data)] = data
    return bytes(b)


def fix_crc(b, record):
    """Recompute a stored record's CRC in its descriptor (if any) and its CD entry."""
    z = Zip(b)
    e = z.entry(record)
    crc = zlib.crc32(b[e.payload:e.end]) & 0xFFFFFFFF
    b = patch(b, e.cd + 16, u32(crc))
    if b[e.end:e.end + 4] == b"PK\x07\x08":
        b = patch(b, e.end + 4, u32(crc))
    else:  # zipfile-style: CRC in the local header
        b = patch(b, e.lho + 14, u32(crc))
    return b


def replace_in_record(b, record, old, new):
    """Same-length substitution inside one record's payload, then fix its CRC."""
    assert len(old) == len(new)
    z = Zip(b)
    e = z.entry(record)
    payload = b[e.payload:e.end]
    assert payload.count(old) == 1, (record, old, payload.count(old))
    b = patch(b, e.payload, payload.replace(old, new))
    return fix_crc(b, record)


# --------------------------------------------------------------------------------------------


def fix_tar_checksum(b, header):
    """Recompute the checksum of the tar header at offset header."""
    h = bytearray(b[header:header + 512])
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return b[:header] + bytes(h) + b[header + 512:]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_malformed.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    import torch  # the oracle: real torch writes the valid bases

    rows = []

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    def case(name, errc, substring, description, data):
        assert "\t" not in description and "\n" not in description
        write(name, data)
        rows.append((name, errc, substring, description))

    sd = OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3),
                     b=torch.ones(3, dtype=torch.int64))
    buf = io.BytesIO()
    torch.save(sd, buf)
    base = buf.getvalue()
    write("valid_torch.pt", base)
    z = Zip(base)
    pkl, d0, d1, ver = (z.entry("data.pkl"), z.entry("data/0"), z.entry("data/1"),
                        z.entry("version"))
    assert [e.name for e in z.entries] == ["archive/data.pkl", "archive/data/0",
                                           "archive/data/1", "archive/version"]
    assert z.loc is not None, "torch always writes the ZIP64 end records"
    assert base[d0.payload:d0.end] == W_BYTES and base[d1.payload:d1.end] == B_BYTES
    n = len(base)

    hand = zip_with_pickle(good_pickle())
    write("valid_handmade.pt", hand)
    # The hand-written pickle must be one torch itself loads to the same tensors.
    t = torch.load(io.BytesIO(hand))
    assert list(t.keys()) == ["w", "b"] and torch.equal(t["w"], sd["w"]) and torch.equal(t["b"], sd["b"])
    hz = Zip(hand)

    # A deflated data.pkl that is fine (the base for the corrupt-deflate cases).
    zin = zipfile.ZipFile(io.BytesIO(base))
    recs = [(i.filename[len("archive/"):], zin.read(i.filename),
             zipfile.ZIP_DEFLATED if i.filename.endswith("data.pkl") else zipfile.ZIP_STORED)
            for i in zin.infolist()]
    deflated = make_zip(recs)
    write("valid_deflated.pt", deflated)
    assert list(torch.load(io.BytesIO(deflated)).keys()) == ["w", "b"]
    dz = Zip(deflated)
    dpkl = dz.entry("data.pkl")
    assert dpkl.method == 8

    # ---- the file is not a checkpoint at all -------------------------------------------------
    case("empty.pt", "not_a_checkpoint", "", "an empty file (zero bytes; nothing to map)", b"")
    case("git_lfs_pointer.pt", "not_a_checkpoint", "lfs",
         "a Git LFS pointer file instead of the checkpoint",
         b"version https://git-lfs.github.com/spec/v1\n"
         b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
         b"size 123\n")
    case("html_page.pt", "not_a_checkpoint", "html",
         "an HTML page (a download that returned the site's login page)",
         b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
         b"<body><p>Please sign in</p></body></html>\n")
    rnd = random.Random(1234)
    case("random_bytes.pt", "not_a_checkpoint", "", "4096 random bytes (fixed seed)",
         bytes(rnd.getrandbits(8) for _ in range(4096)))
    case("two_bytes_pk.pt", "not_a_checkpoint", "", "the two bytes 'PK' only", b"PK")
    case("first_signature_broken.pt", "not_a_checkpoint", "",
         "valid_torch.pt with its first local header signature PK\\3\\4 changed to PK\\3\\5; torch "
         "decides zip by the first 4 bytes and would not read it as zip",
         patch(base, 3, b"\x05"))

    # ---- the legacy magic-number format ------------------------------
    legacy_buf = io.BytesIO()
    torch.save(sd, legacy_buf, _use_new_zipfile_serialization=False)
    legacy = legacy_buf.getvalue()
    write("valid_legacy.pt", legacy)
    w_blob = legacy.find(u64(6) + W_BYTES)
    b_blob = legacy.find(u64(3) + B_BYTES)
    assert w_blob > 0 and b_blob > 0, "torch's legacy blobs: u64 element count, then the bytes"
    first_blob = min(w_blob, b_blob)
    case("legacy_cut_in_blob.pt", "truncated", "storage",
         "valid_legacy.pt without its last 5 bytes: the last storage blob ends early",
         legacy[:-5])
    case("legacy_cut_before_keys.pt", "truncated", "",
         "valid_legacy.pt cut where the storage blobs start minus 3 bytes: the key list pickle "
         "has no STOP", legacy[:first_blob - 3])
    case("legacy_count_mismatch.pt", "bad_storage", "elements",
         "valid_legacy.pt with the float storage's element count changed from 6 to 7; torch "
         "checks it against the persistent id (storage has wrong byte size)",
         patch(legacy, w_blob, u64(7)))
    proto = legacy.find(b"\x4d\xe9\x03")  # BININT2 1001, the second pickle
    assert 0 < proto < 32
    case("legacy_protocol_1002.pt", "unsupported_format", "1001",
         "valid_legacy.pt with its protocol version pickle changed from 1001 to 1002",
         patch(legacy, proto + 1, b"\xea\x03"))

    # ---- the tar format, written as tests/fixtures/make_tar.py does ---
    spec = importlib.util.spec_from_file_location(
        "make_tar", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "make_tar.py"))
    mt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mt)

    def tar_bytes(**how):
        path = os.path.join(out, "tmp.tar")
        mt.write_tar(path, *mt.case_state(), **how)
        with open(path, "rb") as f:
            data = f.read()
        os.remove(path)
        return data

    tar = tar_bytes()
    write("valid_tar.tar", tar)
    # torch reads tar files only from a real file at offset 0, never from a buffer.
    assert torch.load(os.path.join(out, "valid_tar.tar"))["weight"].shape == (3, 4)
    case("tar_bad_checksum.tar", "bad_zip", "checksum",
         "valid_tar.tar with a byte of its first member's name changed, so its header checksum "
         "no longer matches (bad_zip: the container is inconsistent, as for a zip header)",
         patch(tar, 0, b"S"))
    member = tar.find(b"tensors\x00")
    assert member > 0
    case("tar_no_tensors_member.tar", "missing_record", "tensors",
         "valid_tar.tar with its 'tensors' member renamed 'tensorz' (checksum fixed): torch "
         "would fail with KeyError too", fix_tar_checksum(patch(tar, member, b"tensorz"), member))
    case("tar_cut.tar", "truncated", "",
         "valid_tar.tar cut in the middle of its last member's data",
         tar[:tar.find(b"storages\x00") + 512 + 40])

    # Containers where tuples belong: refused as the file's fault, naming the member and offset
    # (not the API's invalid_argument of a value read as the wrong kind).
    def tar_of(members):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def p2(v):
        return pickle.dumps(v, protocol=2)

    tar_base = [("sys_info", p2({})), ("pickle", p2({}))]
    case("tar_storage_header_int.tar", "bad_storage", "storages: at offset",
         "a tar whose storages member holds the count 1, then the int 5 where the (key, location, "
         "storage class) tuple belongs",
         tar_of(tar_base + [("tensors", p2(0)), ("storages", p2(1) + p2(5))]))
    case("tar_view_int.tar", "bad_storage", "storages: at offset",
         "a tar whose storage views list is [5]: an int where a (key, root key, offset, numel) "
         "tuple belongs", tar_of(tar_base + [("tensors", p2(0)), ("storages", p2(0) + p2([5]))]))
    case("tar_tensor_header_int.tar", "bad_tensor", "tensors: at offset",
         "a tar whose tensors member holds the count 1, then the int 7 where the (key, storage "
         "key, class) tuple belongs", tar_of(tar_base + [("tensors", p2(1) + p2(7)), ("storages", p2(0) + p2([]))]))

    # Geometry refused by the rebuilder names the member its offset lies in, not "pickle".
    one_root = p2(1) + PROTO2 + ptuple([pint(1), ustr("cpu"), glob("torch", "FloatStorage")]) + STOP + u64(4) + bytes(16)
    case("tar_view_past_root.tar", "bad_storage", "storages: at offset",
         "a tar whose storage view (2, 1, 3, 5) takes elements 3..7 of a 4-element root",
         tar_of(tar_base + [("tensors", p2(0)), ("storages", one_root + p2([(2, 1, 3, 5)]))]))
    case("tar_tensor_negative_size.tar", "bad_tensor", "tensors: at offset",
         "a tar tensor of rank 1 whose size is -5 (written as 8 bytes)",
         tar_of(tar_base + [("tensors", p2(1) + PROTO2 + ptuple([pint(11), pint(1), glob("torch", "FloatTensor")]) +
                             STOP + struct.pack("<qqqq", 1, -5, 1, 0)), ("storages", one_root + p2([]))]))

    def legacy_with(obj_pickle, keys=("0",), blobs=(u64(2) + bytes(8),), sys_info=None):
        return (p2(0x1950a86a20f9469cfc6c) + p2(1001) + p2(sys_info or {}) + obj_pickle +
                p2(list(keys)) + b"".join(blobs))

    case("legacy_view_metadata_int.pt", "bad_storage", "pickle: at offset",
         "valid legacy layout whose persistent id ('storage', FloatStorage, '0', 'cpu', 2, 5) has "
         "the int 5 where the view metadata (key, offset, size) or None belongs",
         legacy_with(PROTO2 + ptuple([ustr("storage"), glob("torch", "FloatStorage"), ustr("0"),
                                      ustr("cpu"), pint(2), pint(5)]) + b"Q" + STOP))

    # One float64 root at an odd offset (so copied) and 64 views of it, as legacy view metadata
    # names them: the views must share the root's one copy (tests/legacy.cpp), not copy the
    # root once each (a small file naming many views would allocate without bound); torch
    # gives them one storage too.
    view_list = PROTO2 + EMPTY_LIST + MARK + b"".join(
        ptuple([ustr("storage"), glob("torch", "DoubleStorage"), ustr("0"), ustr("cpu"), pint(1000),
                ptuple([ustr("v%d" % i), pint(i), pint(1000 - i)])]) + b"Q"
        for i in range(64)) + b"e" + STOP
    root_blob = u64(1000) + struct.pack("<1000d", *range(1000))
    for pad in range(8):  # a sys_info whose length puts the blob off an 8-byte boundary
        views = legacy_with(view_list, blobs=(root_blob,), sys_info={"pad": "x" * pad})
        if (len(views) - 8000) % 8 != 0:
            break
    write("valid_legacy_views.pt", views)
    loaded = torch.load(io.BytesIO(views))
    assert len(loaded) == 64 and loaded[5][0] == 5.0 and loaded[5].size() == 995

    # ---- truncations at each structure boundary (torch file) --------------------------------
    # The rule used throughout: a file whose end records are missing or cut short (it starts
    # with PK\3\4, so it is a zip that ends early) is truncated, as is a pickle that runs past
    # the end of data.pkl. Where the end records are intact, the file was not cut: a structure
    # that does not fit before the next one (or before the end records) is inconsistent, so
    # bad_zip, even when its extent would also pass the end of the file.
    cuts = [
        ("trunc_local_signature.pt", 4, "after the first local header's signature"),
        ("trunc_in_first_local_header.pt", 20, "inside data.pkl's local header"),
        ("trunc_in_datapkl.pt", pkl.payload + 100, "inside data.pkl's payload"),
        ("trunc_after_datapkl.pt", pkl.end + 16, "right after data.pkl and its descriptor"),
        ("trunc_in_local_header.pt", d0.lho + 12, "inside data/0's local header"),
        ("trunc_in_payload.pt", d0.payload + 5, "inside data/0's payload"),
        ("trunc_in_cd.pt", z.cd_off + 40, "inside the first central directory entry"),
        ("trunc_after_cd.pt", z.cd_end, "right after the central directory"),
        ("trunc_in_zip64_eocd.pt", z.z64 + 20, "inside the ZIP64 end of central directory"),
        ("trunc_in_zip64_locator.pt", z.loc + 10, "inside the ZIP64 locator"),
        ("trunc_before_eocd.pt", z.eocd, "right before the classic EOCD"),
        ("trunc_in_eocd.pt", z.eocd + 10, "inside the classic EOCD (its signature is present)"),
        ("trunc_eocd_last_byte.pt", n - 1, "the classic EOCD's last byte missing"),
    ]
    for name, at, what in cuts:
        case(name, "truncated", "offset",
             f"valid_torch.pt cut at byte {at} of {n}: {what}; no complete EOCD remains (bad_zip "
             "would fit too, truncated is more specific)", base[:at])
    case("trunc_handmade_in_eocd.pt", "truncated", "offset",
         "valid_handmade.pt (classic EOCD, no ZIP64) cut inside its EOCD", hand[:hz.eocd + 12])

    # ---- end records and central directory (torch file) --------------------------------------
    past = n + 1000
    b = patch(base, z.z64 + 48, u64(past))
    b = patch(b, z.eocd + 16, u32(past))
    case("cd_offset_past_end.pt", "bad_zip", "offset",
         f"central directory offset set to {past} (file is {n} bytes) in the ZIP64 EOCD and the "
         "EOCD", b)
    b = patch(hand, hz.eocd + 16, u32(len(hand) + 1000))
    case("cd_offset_past_end_classic.pt", "bad_zip", "offset",
         "valid_handmade.pt (classic EOCD only) with the CD offset past the end", b)
    b = patch(base, z.z64 + 48, u64(2**64 - 8))
    b = patch(b, z.eocd + 16, u32(0xFFFFFFFF))
    case("cd_offset_wraps.pt", "bad_zip", "offset",
         "ZIP64 CD offset 2^64-8: offset + size wraps around 64 bits", b)
    b = patch(base, z.z64 + 40, u64(n * 4))
    b = patch(b, z.eocd + 12, u32(n * 4))
    case("cd_size_past_end.pt", "bad_zip", "offset",
         "central directory size 4x the file size: the CD runs over the end records and past the "
         "end of the file (truncated would fit less: the end records are intact)", b)
    b = patch(base, z.z64 + 24, u64(2**60) + u64(2**60))
    b = patch(b, z.eocd + 8, u16(0xFFFF) + u16(0xFFFF))
    case("cd_count_2pow60.pt", "bad_zip", "offset",
         "ZIP64 EOCD claims 2^60 entries (EOCD counts 0xFFFF) for a 243-byte CD: must be refused "
         "before anything is allocated (limit_exceeded would fit too, but a count the CD size "
         "cannot hold is an inconsistency; a small file cannot reach max_records consistently)", b)
    case("zip64_locator_past_end.pt", "bad_zip", "offset",
         "the ZIP64 locator points past the end of the file",
         patch(base, z.loc + 8, u64(n + 4096)))
    case("zip64_eocd_bad_signature.pt", "bad_zip", "offset",
         "the ZIP64 EOCD signature PK\\6\\6 changed to PK\\6\\7",
         patch(base, z.z64 + 3, b"\x07"))
    # A ZIP64 EOCD that starts inside the EOCD comment, 14 bytes before the end of the file.
    b = patch(base, z.eocd + 20, u16(14)) + b"PK\x06\x06" + b"\x00" * 10
    b = patch(b, z.loc + 8, u64(len(b) - 14))
    case("zip64_eocd_past_end.pt", "bad_zip", "offset",
         "the ZIP64 locator points at a PK\\6\\6 signature 14 bytes before the end (in the EOCD "
         "comment): the 56-byte ZIP64 EOCD would overlap the locator and run past the end "
         "(truncated would fit less: the end records are intact)", b)
    case("cd_bad_signature_first.pt", "bad_zip", "offset",
         "the first central directory entry's signature PK\\1\\2 changed to PK\\1\\3",
         patch(base, pkl.cd + 3, b"\x03"))
    case("cd_bad_signature_second.pt", "bad_zip", "offset",
         "the second central directory entry's (data/0) signature changed to PK\\1\\3",
         patch(base, d0.cd + 3, b"\x03"))
    case("cd_lho_0xffffffff_no_zip64.pt", "bad_zip", "data/0",
         "data/0's CD local header offset is 0xFFFFFFFF but the entry has no ZIP64 extra field",
         patch(base, d0.cd + 42, u32(0xFFFFFFFF)))

    case("cd_name_len_huge.pt", "truncated", "offset",
         "data.pkl's CD name length 0xFFFF: the entry runs past the end of the central directory "
         "(a field running past its enclosing structure)",
         patch(base, pkl.cd + 28, u16(0xFFFF)))
    case("cd_extra_len_huge.pt", "truncated", "offset",
         "data/0's CD extra length 0xFFFF: the entry runs past the end of the central directory",
         patch(base, d0.cd + 30, u16(0xFFFF)))
    case("cd_comment_len_huge.pt", "truncated", "offset",
         "version's CD comment length 0xFFFF: the last entry runs past the end of the directory",
         patch(base, ver.cd + 32, u16(0xFFFF)))
    # data/0's CD entry rebuilt with local header offset 0xFFFFFFFF and a ZIP64 extra field of
    # 4 bytes where the offset needs 8; everything after it moves by 8 bytes.
    nlen = len(d0.name)
    ent = bytearray(base[d0.cd:d0.cd + 46 + nlen])
    struct.pack_into("<H", ent, 30, 8)
    struct.pack_into("<I", ent, 42, 0xFFFFFFFF)
    ent += b"\x01\x00\x04\x00" + b"\x00" * 4
    b = base[:d0.cd] + bytes(ent) + base[d0.cd + 46 + nlen:]
    b = patch(b, z.z64 + 8 + 40, u64(z.cd_size + 8))
    b = patch(b, z.loc + 8 + 8, u64(z.z64 + 8))
    b = patch(b, z.eocd + 8 + 12, u32(z.cd_size + 8))
    case("zip64_extra_short.pt", "truncated", "data/0",
         "data/0's CD offset is 0xFFFFFFFF and its ZIP64 extra field holds 4 bytes where the u64 "
         "offset needs 8", b)

    # ---- records (torch file) ----------------------------------------------------------------
    case("lho_past_end.pt", "bad_zip", "data/0",
         f"data/0's local header offset set to {n + 100}, past the end of the file",
         patch(base, d0.cd + 42, u32(n + 100)))
    case("lho_datapkl_past_end.pt", "bad_zip", "data.pkl",
         "data.pkl's local header offset past the end of the file",
         patch(base, pkl.cd + 42, u32(n + 100)))
    b = patch(base, z.eocd + 20, u16(10)) + b"PK\x03\x04" + b"\x00" * 6
    case("lho_near_end.pt", "bad_zip", "data/0",
         "data/0's local header offset points at a PK\\3\\4 signature 10 bytes before the end "
         "(in the EOCD comment): the 30-byte local header lies after the CD and runs past the end "
         "of the file (truncated would fit less: the end records are intact)",
         patch(b, d0.cd + 42, u32(len(b) - 10)))
    case("overlap_same_header.pt", "bad_zip", "data/0|data/1",
         "data/1's CD entry points at data/0's local header: two records share the same bytes "
         "(and the local name differs from the CD name)", patch(base, d1.cd + 42, u32(d0.lho)))
    case("overlap_into_payload.pt", "bad_zip", "data.pkl|data/1",
         "data/1's local header offset points into the middle of data.pkl's payload (no local "
         "header signature there; overlaps data.pkl)", patch(base, d1.cd + 42, u32(pkl.payload + 8)))
    b = patch(base, d0.cd + 20, u32(d0.csize + 48) + u32(d0.usize + 48))
    case("overlap_payload_size.pt", "bad_zip", "data/0",
         "data/0's CD sizes grown by 48 bytes so its payload runs into data/1's local header "
         "(records overlap; bad_storage would also fit since the record no longer matches numel, "
         "the container check is more basic)", b)
    # Rename data/1 to data/0 in its CD entry and local header (same length).
    b = patch(base, d1.cd + 46, b"archive/data/0")
    b = patch(b, d1.lho + 30, b"archive/data/0")
    case("duplicate_names.pt", "bad_zip", "data/0", "two records both named archive/data/0", b)
    case("local_bad_signature.pt", "bad_zip", "data/0",
         "data/0's local header signature PK\\3\\4 changed to PK\\3\\5 (may surface when the tensor's "
         "bytes are first read)", patch(base, d0.lho + 3, b"\x05"))
    hv = make_zip([("version", b"3\n"), ("data.pkl", good_pickle()), ("data/0", W_BYTES),
                   ("data/1", B_BYTES)])
    hvz = Zip(hv)
    case("local_bad_signature_datapkl.pt", "bad_zip", "data.pkl",
         "zipfile-built with version first, data.pkl's local header signature changed",
         patch(hv, hvz.entry("data.pkl").lho + 3, b"\x05"))
    case("stored_sizes_differ.pt", "bad_zip", "data/0",
         "stored data/0 whose CD uncompressed size (28) differs from its compressed size (24)",
         patch(base, d0.cd + 24, u32(28)))
    case("version_lho_past_end.pt", "bad_zip", "version",
         "the version record's local header offset past the end (a record no tensor uses)",
         patch(base, ver.cd + 42, u32(n + 5)))
    case("local_name_mismatch.pt", "bad_zip", "data/0",
         "data/0's local header names archive/data/9 while its CD entry names archive/data/0",
         patch(base, d0.lho + 30, b"archive/data/9"))
    case("local_extra_past_end.pt", "bad_zip", "data/0",
         "data/0's local extra length set to 0xFFFF: its payload would start past data/1's header "
         "and past the end of the file (found when the bytes are first read; truncated would fit "
         "less: the end records are intact; same class as datapkl_size_past_end.pt)",
         patch(base, d0.lho + 28, u16(0xFFFF)))
    case("datapkl_size_past_end.pt", "bad_zip", "data.pkl",
         "data.pkl's CD sizes set to 0x7FFFFFFF: the payload runs over the next records and past "
         "the end of the file (truncated would fit less: the end records are intact)", patch(base, pkl.cd + 20, u32(0x7FFFFFFF) * 2))
    case("datapkl_empty.pt", "truncated", "data.pkl",
         "data.pkl is an empty record: the pickle ends before STOP (bad_pickle would fit too)",
         zip_with_pickle(b""))

    # ---- storages against their records --------------------------------------------------------
    b = replace_in_record(base, "data.pkl", b"X\x03\x00\x00\x00cpuq\x07K\x06",
                          b"X\x03\x00\x00\x00cpuq\x07K\x07")
    case("numel_too_big.pt", "bad_storage", "data/0",
         "valid_torch.pt with data/0's numel rewritten 6 -> 7 in data.pkl (CRC fixed): the "
         "FloatStorage needs 28 bytes, the record has 24", b)
    case("record_too_short.pt", "bad_storage", "data/0",
         "data/0's CD sizes shrunk 24 -> 20 bytes: shorter than numel 6 x 4 bytes",
         patch(base, d0.cd + 20, u32(20) + u32(20)))
    case("storage_numel_negative.pt", "bad_storage", "data/0|data.pkl",
         "data/0's numel is -6",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(numel=-6)))])))
    case("storage_numel_overflow.pt", "bad_storage", "data/0",
         "LongStorage numel 2^61+3: numel x 8 wraps to exactly 24, the record's size",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid("LongStorage", numel=2**61 + 3),
                                                       size=(3,), stride=(1,)))])))
    case("missing_record.pt", "missing_record", "data/5",
         "data.pkl refers to storage key '5'; the zip has no data/5",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(key="5")))])))
    case("no_datapkl.pt", "missing_record", "data.pkl", "a zip under archive/ without data.pkl",
         make_zip([("data/0", W_BYTES), ("version", b"3\n")]))
    case("nested_prefix.pt", "missing_record", "data.pkl",
         "records under a/b/ (two folder levels): a/data.pkl does not exist, as torch finds",
         make_zip([("data.pkl", good_pickle()), ("data/0", W_BYTES), ("data/1", B_BYTES),
                   ("version", b"3\n")], prefix="a/b/"))
    case("pid_key_dotdot.pt", "missing_record", "data/../data/0",
         "storage key '../data/0': joined as data/../data/0, never normalised into data/0",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(key="../data/0")))])))
    case("pid_key_datapkl.pt", "missing_record", "data/../data.pkl",
         "storage key '../data.pkl' (a ByteStorage of 1): must not resolve to data.pkl itself",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid("ByteStorage", key="../data.pkl",
                                                                  numel=1), size=(1,), stride=(1,)))])))
    case("pid_key_empty.pt", "missing_record", "data/",
         "storage key '' (empty): record data/ does not exist",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(key="")))])))
    case("pid_numel_bigint.pt", "bad_storage", "data.pkl|data/0",
         "storage numel 2^80 (LONG1 of 11 bytes): not an int64",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(numel=2**80)))])))
    case("pid_class_not_global.pt", "bad_storage", "data.pkl",
         "persistent id whose storage class is the str 'FloatStorage', not a GLOBAL",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), ustr("FloatStorage"), ustr("0"), ustr("cpu"), pint(6)])))])))
    case("pid_location_int.pt", "bad_storage", "data.pkl",
         "persistent id whose location is the int 3, not a str",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), glob("torch", "FloatStorage"), ustr("0"), pint(3), pint(6)])))])))
    case("no_prefix_folder.pt", "bad_zip", "data.pkl",
         "records at the top level (data.pkl, data/0, version): the first name has no prefix "
         "folder", make_zip([("data.pkl", good_pickle()), ("data/0", W_BYTES), ("data/1", B_BYTES),
                             ("version", b"3\n")], prefix=""))
    case("pid_not_tuple.pt", "bad_storage", "data.pkl",
         "BINPERSID of a str instead of a ('storage', ...) tuple",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ustr("0")))])))
    case("pid_wrong_tag.pt", "bad_storage", "data.pkl",
         "persistent id tuple tagged 'module' instead of 'storage'",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("module"), glob("torch", "FloatStorage"), ustr("0"), ustr("cpu"), pint(6)])))])))
    case("pid_short_tuple.pt", "bad_storage", "data.pkl",
         "persistent id ('storage', FloatStorage, '0'): too few fields",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), glob("torch", "FloatStorage"), ustr("0")])))])))
    case("pid_key_not_str.pt", "bad_storage", "data.pkl",
         "persistent id whose key is a list instead of a str",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), glob("torch", "FloatStorage"), EMPTY_LIST, ustr("cpu"), pint(6)])))])))
    case("unknown_storage_class.pt", "bad_storage", "WeirdStorage",
         "storage class torch.WeirdStorage: no dtype (bad_tensor would fit less: the storage "
         "reference itself is wrong)",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid("WeirdStorage")))])))

    # ---- tensor geometry -------------------------------------------------------------------------
    def tcase(name, description, **kw):
        case(name, "bad_tensor", "data/0|data.pkl", description,
             zip_with_pickle(state_dict([("w", tensor_v2(**kw))])))

    tcase("view_offset_past.pt", "storage_offset 1 with size (2,3) stride (3,1) reaches element 6 "
          "of a 6-element storage", offset=1)
    tcase("view_size_past.pt", "size (2,4) stride (4,1) over a 6-element storage",
          size=(2, 4), stride=(4, 1))
    tcase("view_stride_past.pt", "size (2,3) stride (4,1) reaches element 6", stride=(4, 1))
    tcase("view_offset_far.pt", "storage_offset 1000000", offset=1000000)
    tcase("view_offset_negative.pt", "storage_offset -1", offset=-1)
    tcase("view_negative_stride.pt", "stride (3,-1) (torch never writes negative strides)",
          stride=(3, -1))
    tcase("view_negative_size.pt", "size (2,-3)", size=(2, -3))
    tcase("view_offset_overflow.pt", "storage_offset 2^62 (x 4 bytes overflows)", offset=2**62)
    tcase("view_huge_dim.pt", "size (2^62,) stride (1,): numel x 4 overflows 64 bits",
          size=(2**62,), stride=(1,))
    tcase("view_numel_overflow.pt", "size (2^62, 2^62) stride (0, 0): numel overflows int64 even "
          "though every element maps to element 0", size=(2**62, 2**62), stride=(0, 0))
    tcase("view_numel_wraps_zero.pt", "size (2^32, 2^32) stride (0, 0): numel wraps to 0 in 64 bits "
          "(a wrapped numel would pass as an empty tensor)", size=(2**32, 2**32), stride=(0, 0))
    tcase("view_extent_overflow.pt", "storage_offset 2^63-1, size (2,) stride (1,): offset + extent "
          "overflows int64", offset=2**63 - 1, size=(2,), stride=(1,))
    tcase("view_stride_overflow.pt", "size (2,2) stride (2^62, 2^62): offset arithmetic overflows",
          size=(2, 2), stride=(2**62, 2**62))
    tcase("view_rank_mismatch.pt", "size has 2 dims, stride has 1", size=(2, 3), stride=(1,))
    tcase("view_size_not_int.pt", "size ('2', 3): a str where an int belongs",
          size_bytes=ptuple([ustr("2"), pint(3)]))
    tcase("view_size_not_tuple.pt", "size is None", size_bytes=NONE)
    tcase("view_offset_not_int.pt", "storage_offset is None", offset_bytes=NONE)
    tcase("view_offset_bigint.pt", "storage_offset 2^100 (LONG1 of 16 bytes)",
          offset_bytes=b"\x8a\x10" + (2**100).to_bytes(16, "little"))
    case("param_of_none.pt", "any", "",
         "_rebuild_parameter(None, False, {}): torch makes an empty Parameter of it; ptio may "
         "refuse it (bad_tensor) or keep it",
         zip_with_pickle(state_dict([("w", glob("torch._utils", "_rebuild_parameter")
                                      + ptuple([NONE, NEWFALSE, EMPTY_DICT]) + REDUCE)])))

    def v3(dtype_bytes, size=(2, 3), stride=(3, 1)):
        return (glob("torch._utils", "_rebuild_tensor_v3") + MARK
                + storage_pid("UntypedStorage", numel=24, module="torch.storage") + BINPERSID
                + pint(0) + ints(size) + ints(stride) + NEWFALSE + EMPTY_DICT + dtype_bytes + TUPLE
                + REDUCE)

    case("v3_past.pt", "bad_tensor", "data/0|data.pkl",
         "_rebuild_tensor_v3 over a 24-byte UntypedStorage with dtype float64 and size (2,3): "
         "needs 48 bytes", zip_with_pickle(state_dict([("w", v3(glob("torch", "float64")))])))
    case("v3_no_dtype.pt", "bad_tensor", "data.pkl",
         "_rebuild_tensor_v3 whose dtype argument is None",
         zip_with_pickle(state_dict([("w", v3(NONE))])))
    case("qtensor_past.pt", "bad_tensor", "data/0|data.pkl",
         "_rebuild_qtensor, QInt8Storage of 6, size (2,4) stride (4,1): reaches element 7",
         zip_with_pickle(state_dict([("w", glob("torch._utils", "_rebuild_qtensor") + MARK
                                      + storage_pid("QInt8Storage", numel=6) + BINPERSID + pint(0)
                                      + ints((2, 4)) + ints((4, 1))
                                      + ptuple([glob("torch", "per_tensor_affine"),
                                                b"G" + struct.pack(">d", 0.1), pint(0)])
                                      + NEWFALSE + EMPTY_DICT + TUPLE + REDUCE)])))

    def meta(size, stride):
        return (glob("torch._utils", "_rebuild_meta_tensor_no_storage")
                + ptuple([glob("torch", "float32"), ints(size), ints(stride), NEWFALSE]) + REDUCE)

    case("meta_numel_overflow.pt", "bad_tensor", "data.pkl",
         "a meta tensor (no storage) of size (2^62, 2^62): numel overflows int64",
         zip_with_pickle(state_dict([("w", meta((2**62, 2**62), (2**62, 1)))])))
    case("meta_numel_wraps_zero.pt", "bad_tensor", "data.pkl",
         "a meta tensor of size (2^32, 2^32): numel wraps to 0 in 64 bits",
         zip_with_pickle(state_dict([("w", meta((2**32, 2**32), (2**32, 1)))])))
    case("meta_negative_size.pt", "bad_tensor", "data.pkl", "a meta tensor of size (2, -3)",
         zip_with_pickle(state_dict([("w", meta((2, -3), (3, 1)))])))
    case("meta_too_many_dims.pt", "limit_exceeded", "data.pkl",
         "a 100-dimensional meta tensor: passes max_dims",
         zip_with_pickle(state_dict([("w", meta((1,) * 100, (1,) * 100))])))
    case("view_too_many_dims.pt", "limit_exceeded", "data.pkl",
         "a 100-dimensional tensor (all sizes 1): passes max_dims (64)",
         zip_with_pickle(state_dict([("w", tensor_v2(size=(1,) * 100, stride=(1,) * 100))])))
    case("rebuild_too_few_args.pt", "bad_tensor", "data.pkl",
         "_rebuild_tensor_v2 called with (storage, 0) only (bad_pickle would fit less: the "
         "pickle is well-formed, the tensor call is not)",
         zip_with_pickle(state_dict([("w", glob("torch._utils", "_rebuild_tensor_v2") + MARK
                                      + storage_pid() + BINPERSID + pint(0) + TUPLE + REDUCE)])))

    # ---- pickle stream ---------------------------------------------------------------------------
    def pcase(name, errc, description, pickle_bytes, substring="data.pkl: at offset"):
        case(name, errc, substring, description, zip_with_pickle(pickle_bytes))

    pcase("pickle_no_stop.pt", "truncated",
          "the good pickle without its final STOP (bad_pickle would fit too; the stream runs past "
          "the end of its record)", good_pickle()[:-1])
    pcase("pickle_proto_only.pt", "truncated", "data.pkl is PROTO 2 and nothing else", PROTO2)
    pcase("pickle_binunicode_4g.pt", "truncated",
          "BINUNICODE with length 0xFFFFFFFF and 3 bytes left (limit_exceeded would fit too; the "
          "string runs past the end of data.pkl)", PROTO2 + b"X" + u32(0xFFFFFFFF) + b"abc" + STOP)
    pcase("pickle_binunicode8_huge.pt", "truncated",
          "BINUNICODE8 with length 2^64-1 (position + length wraps)",
          PROTO2 + b"\x8d" + u64(2**64 - 1) + b"abc" + STOP)
    pcase("pickle_binbytes8_huge.pt", "truncated", "BINBYTES8 with length 2^63",
          b"\x80\x04" + b"\x8e" + u64(2**63) + b"abc" + STOP)
    pcase("pickle_long4_huge.pt", "truncated",
          "LONG4 with length 0x7FFFFFFF and 4 bytes left (limit_exceeded would fit too)",
          PROTO2 + b"\x8b" + i32(0x7FFFFFFF) + b"\x01\x02\x03\x04" + STOP)
    pcase("pickle_long4_negative.pt", "bad_pickle", "LONG4 with a negative length (-1)",
          PROTO2 + b"\x8b" + i32(-1) + b"\x01\x02\x03\x04" + STOP)
    pcase("pickle_binstring_negative.pt", "bad_pickle", "BINSTRING with a negative length (-5)",
          PROTO2 + b"T" + i32(-5) + b"abcde" + STOP)
    pcase("pickle_global_no_newline.pt", "truncated",
          "GLOBAL 'collections' with no newline before the end of data.pkl",
          PROTO2 + b"ccollections")
    pcase("pickle_binfloat_cut.pt", "truncated", "BINFLOAT with 3 of its 8 bytes",
          PROTO2 + b"G\x3f\xf0\x00")
    pcase("pickle_unknown_opcode.pt", "unknown_opcode", "opcode byte 0xFF after PROTO 2",
          PROTO2 + b"\xff" + STOP)
    pcase("pickle_opcode_zero.pt", "unknown_opcode", "opcode byte 0x00 after PROTO 2",
          PROTO2 + b"\x00" + STOP)
    pcase("pickle_ext1.pt", "unknown_opcode", "EXT1 1 (extension registry)",
          PROTO2 + b"\x82\x01" + STOP)
    pcase("pickle_ext2.pt", "unknown_opcode", "EXT2 0x0102", PROTO2 + b"\x83\x02\x01" + STOP)
    pcase("pickle_ext4.pt", "unknown_opcode", "EXT4 0x01020304",
          PROTO2 + b"\x84\x04\x03\x02\x01" + STOP)
    pcase("pickle_next_buffer.pt", "unknown_opcode", "protocol 5 NEXT_BUFFER (out-of-band data)",
          b"\x80\x05" + b"\x97" + STOP)
    pcase("pickle_readonly_buffer.pt", "unknown_opcode", "protocol 5 READONLY_BUFFER",
          b"\x80\x05" + b"C\x01a" + b"\x98" + STOP)
    pcase("pickle_bad_proto.pt", "bad_pickle", "PROTO 9 (no such protocol)",
          b"\x80\x09" + NONE + STOP)
    pcase("pickle_append_empty.pt", "bad_pickle", "APPEND on an empty stack", PROTO2 + APPEND + STOP)
    pcase("pickle_append_one.pt", "bad_pickle", "APPEND with only the list on the stack",
          PROTO2 + EMPTY_LIST + APPEND + STOP)
    pcase("pickle_stop_empty.pt", "bad_pickle", "STOP with an empty stack", PROTO2 + STOP)
    pcase("pickle_stop_mark_only.pt", "bad_pickle", "MARK then STOP (no value above the mark)",
          PROTO2 + MARK + STOP)
    pcase("pickle_tuple_no_mark.pt", "bad_pickle", "TUPLE without a MARK",
          PROTO2 + NONE + TUPLE + STOP)
    pcase("pickle_tuple2_underflow.pt", "bad_pickle", "TUPLE2 with one value on the stack",
          PROTO2 + NONE + b"\x86" + STOP)
    pcase("pickle_reduce_underflow.pt", "bad_pickle", "REDUCE with only the args on the stack",
          PROTO2 + EMPTY_TUPLE + REDUCE + STOP)
    pcase("pickle_reduce_args_not_tuple.pt", "bad_pickle",
          "REDUCE of collections.OrderedDict with args None (not a tuple)",
          PROTO2 + glob("collections", "OrderedDict") + NONE + REDUCE + STOP)
    pcase("pickle_append_to_int.pt", "bad_pickle", "APPEND onto an int",
          PROTO2 + pint(5) + NONE + APPEND + STOP)
    pcase("pickle_setitem_on_list.pt", "bad_pickle", "SETITEM onto a list",
          PROTO2 + EMPTY_LIST + ustr("k") + NONE + SETITEM + STOP)
    pcase("pickle_setitems_odd.pt", "bad_pickle", "SETITEMS with 3 values above the mark",
          PROTO2 + EMPTY_DICT + MARK + ustr("a") + NONE + ustr("b") + SETITEMS + STOP)
    pcase("pickle_binget_missing.pt", "bad_pickle", "BINGET 7 with an empty memo",
          PROTO2 + b"h\x07" + STOP)
    pcase("pickle_long_binget_missing.pt", "bad_pickle", "LONG_BINGET 0xFFFFFFFF, never PUT",
          PROTO2 + NONE + b"q\x00" + b"j" + u32(0xFFFFFFFF) + STOP)
    pcase("pickle_binput_empty.pt", "bad_pickle", "BINPUT on an empty stack",
          PROTO2 + b"q\x00" + NONE + STOP)
    pcase("pickle_memoize_empty.pt", "bad_pickle", "MEMOIZE on an empty stack (protocol 4)",
          b"\x80\x04" + b"\x94" + NONE + STOP)
    pcase("pickle_pop_mark_none.pt", "bad_pickle", "POP_MARK without a MARK",
          PROTO2 + NONE + b"1" + NONE + STOP)
    pcase("pickle_binpersid_empty.pt", "bad_pickle", "BINPERSID on an empty stack",
          PROTO2 + BINPERSID + STOP)
    pcase("pickle_stack_global_not_str.pt", "bad_pickle",
          "STACK_GLOBAL whose module and name are ints", b"\x80\x04" + pint(1) + pint(2)
          + b"\x93" + STOP)
    pcase("pickle_binunicode_bad_utf8.pt", "bad_pickle",
          "BINUNICODE b'\\xff\\xfe' (not UTF-8) as a dict key",
          PROTO2 + EMPTY_DICT + b"X\x02\x00\x00\x00\xff\xfe" + NONE + SETITEM + STOP)
    pcase("pickle_appends_on_tuple.pt", "bad_pickle", "APPENDS onto a tuple",
          PROTO2 + EMPTY_TUPLE + MARK + NONE + APPENDS + STOP)
    pcase("pickle_additems_on_list.pt", "bad_pickle", "ADDITEMS onto a list (protocol 4)",
          b"\x80\x04" + EMPTY_LIST + MARK + NONE + b"\x90" + STOP)
    pcase("pickle_dict_odd.pt", "bad_pickle", "DICT with one item above the mark",
          PROTO2 + MARK + NONE + b"d" + STOP)
    pcase("pickle_float_text_bad.pt", "bad_pickle", "FLOAT 'abc'", PROTO2 + b"Fabc\n" + STOP)
    pcase("pickle_string_bad_quote.pt", "bad_pickle", "STRING without its closing quote",
          PROTO2 + b"S'abc\n" + STOP)
    pcase("pickle_unicode_bad_escape.pt", "bad_pickle", "UNICODE with a cut \\u escape",
          PROTO2 + b"V\\u12\n" + STOP)
    pcase("pickle_get_text_huge.pt", "bad_pickle", "PUT/GET with a 23-digit memo index",
          PROTO2 + NONE + b"p99999999999999999999999\n" + b"g99999999999999999999999\n" + STOP)
    depth = 100000
    pcase("pickle_deep_lists.pt", "limit_exceeded",
          f"{depth} nested lists (EMPTY_LIST x {depth}, then APPEND x {depth - 1}): passes "
          "max_depth", PROTO2 + EMPTY_LIST * depth + APPEND * (depth - 1) + STOP)
    pcase("pickle_deep_tuples.pt", "limit_exceeded",
          f"{depth} nested tuples (MARK x {depth}, then TUPLE x {depth}): passes max_depth",
          PROTO2 + MARK * depth + TUPLE * depth + STOP)
    pcase("pickle_deep_dicts.pt", "limit_exceeded",
          f"{depth} nested dicts built with EMPTY_DICT + key and SETITEM from the inside out",
          PROTO2 + (EMPTY_DICT + ustr("k")) * depth + NONE + SETITEM * depth + STOP)
    pcase("pickle_deep_tuple1.pt", "limit_exceeded",
          f"{depth} nested 1-tuples (NONE then TUPLE1 x {depth})",
          PROTO2 + NONE + b"\x85" * depth + STOP)
    pcase("pickle_memo_put_huge.pt", "any",
          "LONG_BINPUT 0xFFFFFFFF: a sparse memo key; a vector memo must not resize to 2^32 "
          "(limit_exceeded or success are both fine)",
          PROTO2 + NONE + b"r" + u32(0xFFFFFFFF) + STOP, substring="")

    # ---- code a pickle would run --------------------------------------------------------------
    def unsafe(name, module, fn, body=None, description=None):
        body = (glob(module, fn) + ustr("echo pwned") + b"\x85" + REDUCE) if body is None else body
        pcase(name, "unsafe_global",
              description or f"GLOBAL '{module} {fn}' + ('echo pwned',) + REDUCE", PROTO2 + body + STOP,
              substring=f"{module}|{fn}")

    unsafe("unsafe_os_system.pt", "os", "system")
    unsafe("unsafe_posix_system.pt", "posix", "system")
    unsafe("unsafe_nt_system.pt", "nt", "system")
    unsafe("unsafe_builtins_eval.pt", "builtins", "eval")
    unsafe("unsafe_builtin_eval_py2.pt", "__builtin__", "eval",
           description="GLOBAL '__builtin__ eval' (py2 name of builtins.eval) + REDUCE")
    unsafe("unsafe_builtins_exec.pt", "builtins", "exec")
    unsafe("unsafe_subprocess_popen.pt", "subprocess", "Popen",
           body=glob("subprocess", "Popen") + MARK + ustr("echo") + ustr("pwned") + b"l"
           + b"\x85" + REDUCE,
           description="GLOBAL 'subprocess Popen' + (['echo', 'pwned'],) + REDUCE")
    unsafe("unsafe_os_system_stack_global.pt", "os", "system",
           body=ustr("os") + ustr("system") + b"\x93" + ustr("echo pwned") + b"\x85" + REDUCE,
           description="'os' 'system' STACK_GLOBAL + ('echo pwned',) + REDUCE (protocol 4 form)")
    unsafe("unsafe_os_system_inst.pt", "os", "system",
           body=MARK + ustr("echo pwned") + b"i" + b"os\nsystem\n",
           description="INST 'os system' with ('echo pwned') (protocol 0 form)")
    unsafe("unsafe_os_system_in_tensor.pt", "os", "system",
           body=glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK + ustr("w")
           + glob("os", "system") + ustr("echo pwned") + b"\x85" + REDUCE + SETITEMS,
           description="a state dict whose value is os.system('echo pwned')")

    unsafe("unsafe_os_system_newobj.pt", "os", "system",
           body=glob("os", "system") + ptuple([ustr("echo pwned")]) + b"\x81",
           description="NEWOBJ of os.system")
    unsafe("unsafe_os_system_obj.pt", "os", "system",
           body=MARK + glob("os", "system") + ustr("echo pwned") + b"o",
           description="OBJ of os.system (protocol 1 form)")
    unsafe("unsafe_os_system_newobj_ex.pt", "os", "system",
           body=glob("os", "system") + ptuple([ustr("echo pwned")]) + EMPTY_DICT + b"\x92",
           description="NEWOBJ_EX of os.system (protocol 4 form)")
    unsafe("unsafe_os_system_from_type.pt", "os", "system",
           body=glob("torch._tensor", "_rebuild_from_type_v2") + ptuple([
               glob("os", "system"), glob("torch", "Tensor"), ptuple([ustr("echo pwned")]),
               EMPTY_DICT]) + REDUCE,
           description="_rebuild_from_type_v2(os.system, Tensor, ('echo pwned',), {}): the "
                       "inner function of an allowed rebuild is os.system")

    # ---- compression ------------------------------------------------------------------------
    b = patch(deflated, dpkl.payload, b"\xff" * min(8, dpkl.csize))
    case("deflate_corrupt.pt", "compression_error", "data.pkl",
         "valid_deflated.pt with the first bytes of the deflate stream set to 0xFF (reserved "
         "block type 3)", b)
    case("deflate_short.pt", "compression_error", "data.pkl",
         "deflated data.pkl whose CD uncompressed size is 1000 bytes more than it inflates to "
         "(truncated would fit less: the compressed data is complete)",
         patch(deflated, dpkl.cd + 24, u32(dpkl.usize + 1000)))
    case("deflate_long.pt", "compression_error", "data.pkl",
         "deflated data.pkl whose CD uncompressed size is 10 bytes less than it inflates to",
         patch(deflated, dpkl.cd + 24, u32(dpkl.usize - 10)))
    case("deflate_size_4g.pt", "compression_error", "data.pkl",
         "deflated data.pkl (a few hundred bytes) whose CD uncompressed size is 0xFFFFFFFF: it "
         "inflates to far less (must not allocate 4 GiB up front; limit_exceeded would also be "
         "acceptable)", patch(deflated, dpkl.cd + 24, u32(0xFFFFFFFF)))
    all_deflated = make_zip([(i.filename[len("archive/"):], zin.read(i.filename),
                              zipfile.ZIP_DEFLATED) for i in zin.infolist()])
    ad0 = Zip(all_deflated).entry("data/0")
    case("deflate_storage_corrupt.pt", "compression_error", "data/0",
         "valid_deflated_all.pt with data/0's deflate stream starting 0xFF (found when the bytes "
         "are first read)", patch(all_deflated, ad0.payload, b"\xff" * 4))
    case("deflate_storage_short.pt", "compression_error", "data/0",
         "valid_deflated_all.pt with data/0's CD uncompressed size 100 bytes too large",
         patch(all_deflated, ad0.cd + 24, u32(ad0.usize + 100)))
    b = patch(deflated, dpkl.cd + 10, u16(12))
    b = patch(b, dpkl.lho + 8, u16(12))
    case("method_bzip2.pt", "compression_error", "data.pkl",
         "data.pkl with compression method 12 (bzip2) in its local and CD headers", b)
    b = patch(base, d0.cd + 10, u16(14))
    case("method_lzma_storage.pt", "compression_error", "data/0",
         "data/0 with compression method 14 (LZMA) in its CD entry (may surface when the tensor's "
         "bytes are first read)", b)

    # ---- files the C++ test uses by name --------------------------------------------------------
    write("crc_payload.pt", patch(base, d0.payload + 1, bytes([base[d0.payload + 1] ^ 0x40])))
    i = base.index(b"X\x01\x00\x00\x00w", pkl.payload, pkl.end)
    write("crc_datapkl.pt", patch(base, i + 5, b"x"))
    t_item = tensor_v2()
    write("cycle_list.pt", zip_with_pickle(
        PROTO2 + EMPTY_LIST + b"q\x00" + t_item + APPEND + b"h\x00" + APPEND + STOP))
    write("cycle_dict.pt", zip_with_pickle(
        PROTO2 + EMPTY_DICT + b"q\x00" + MARK + ustr("t") + t_item + ustr("self") + b"h\x00"
        + SETITEMS + STOP))
    # T0 = t; T(k+1) = (Tk, Tk) through the memo: 2^40 paths end at the one tensor.
    lv = 40
    body = t_item + b"r" + u32(0)
    for k in range(1, lv + 1):
        body += b"j" + u32(k - 1) + b"\x86" + b"r" + u32(k)
    write("exponential.pt", zip_with_pickle(PROTO2 + body + STOP))

    write("valid_deflated_all.pt", all_deflated)
    assert list(torch.load(io.BytesIO(all_deflated)).keys()) == ["w", "b"]

    # Hostile files whose failure mode is a crash or exhausted memory; each has its own
    # TEST_CASE so one crash does not hide the others.
    deep = 100000
    # A dict key that is a 1-tuple nested 100000 deep, mapping to a tensor.
    write("deep_dict_key.pt", zip_with_pickle(
        PROTO2 + EMPTY_DICT + NONE + b"\x85" * deep + t_item + SETITEM + STOP))
    # A dict key that is a 40-level DAG of 2-tuples (T0 = None, Tk = (Tk-1, Tk-1)): its repr has
    # 2^40 parts.
    body = NONE + b"r" + u32(0)
    for k in range(1, 41):
        body += b"j" + u32(k - 1) + b"\x86" + b"r" + u32(k)
    write("exponential_dict_key.pt", zip_with_pickle(
        PROTO2 + EMPTY_DICT + body + t_item + SETITEM + STOP))
    # _rebuild_from_type_v2(F, Tensor, (F, Tensor, (... (_rebuild_tensor_v2, Tensor, args, {})
    # ...), {}), {}) nested 100000 deep; 3 deep loads in torch.
    F = glob("torch._tensor", "_rebuild_from_type_v2")
    targs = (MARK + storage_pid() + BINPERSID + pint(0) + ints((2, 3)) + ints((3, 1)) + NEWFALSE
             + EMPTY_DICT + TUPLE)

    def from_type_chain(levels):
        s = PROTO2 + F + b"q\x00" + MARK + b"h\x00" + glob("torch", "Tensor") + b"q\x01"
        s += (MARK + b"h\x00" + b"h\x01") * (levels - 1)
        s += MARK + glob("torch._utils", "_rebuild_tensor_v2") + b"h\x01" + targs + EMPTY_DICT + TUPLE
        s += (EMPTY_DICT + TUPLE) * levels
        return zip_with_pickle(s + REDUCE + STOP)

    chain3 = from_type_chain(3)
    assert torch.load(io.BytesIO(chain3)).shape == (2, 3)
    write("from_type_chain_3.pt", chain3)
    write("from_type_chain_deep.pt", from_type_chain(deep))

    names = set()
    with open(os.path.join(out, "cases.tsv"), "w") as f:
        f.write("# file\terrc\tsubstring\tdescription\n")
        for row in rows:
            assert row[0] not in names, row[0]
            names.add(row[0])
            f.write("\t".join(row) + "\n")
    print(f"make_malformed: {len(rows)} cases in {out}")


if __name__ == "__main__":
    main()
