"""Cases whose container is not a torch zip: not a checkpoint at all, the legacy
magic-number format, the tar format.

Part of make_malformed.py: each function adds its rows to run's table (mal_bases.Run), in the
order make_malformed.py calls them.
"""

import gzip
import importlib.util
import io
import os
import pickle
import random
import struct
import tarfile

from mal_pickle import (B_BYTES, EMPTY_LIST, MARK, PROTO2, STOP, W_BYTES, glob, pint, ptuple, u64,
                        ustr)
from mal_zip import fix_tar_checksum, patch


def p2(v):
    return pickle.dumps(v, protocol=2)


def numpy_npy():
    import numpy  # noqa: PLC0415 - Debian's python3-torch brings it
    out = io.BytesIO()
    numpy.save(out, numpy.arange(4, dtype=numpy.float32))
    return out.getvalue()


def not_a_checkpoint(run):
    """Files that are no checkpoint at all."""
    case, base = run.case, run.base
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
    case("plain_pickle.pt", "not_a_checkpoint", "plain pickle (protocol 4)",
         "pickle.dumps of a dict (protocol 4), not torch.save", pickle.dumps({"a": 1}, protocol=4))
    case("gzip_file.pt", "not_a_checkpoint", "gzip",
         "valid_torch.pt compressed with gzip (a .pt.gz saved as .pt)", gzip.compress(base))
    case("numpy_npy.pt", "not_a_checkpoint", "numpy .npy",
         "a numpy.save file (magic \\x93NUMPY)", numpy_npy())
    case("first_signature_broken.pt", "not_a_checkpoint", "",
         "valid_torch.pt with its first local header signature PK\\3\\4 changed to PK\\3\\5; torch "
         "decides zip by the first 4 bytes and would not read it as zip",
         patch(base, 3, b"\x05"))


def legacy_format(run):
    """torch's legacy magic-number format, cut and patched."""
    case, write, torch, sd = run.case, run.write, run.torch, run.sd
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


def tar(run):
    """The tar format (written as tests/fixtures/make_tar.py does); members of the wrong kind."""
    case, write, torch, out = run.case, run.write, run.torch, run.out
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


def legacy_layouts(run):
    """Hand-made legacy layouts: view metadata of the wrong kind; many views of one root."""
    case, write, torch = run.case, run.write, run.torch
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
