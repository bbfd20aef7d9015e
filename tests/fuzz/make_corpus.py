#!/usr/bin/env python3
"""Write the fuzzers' seed corpora: tests/fuzz/corpus/<target>/, a few kB each.

usage: /usr/bin/python3 tests/fuzz/make_corpus.py [OUTDIR]   (default: tests/fuzz/corpus)

Every seed comes from real torch.save output (the oracle), or for the formats no torch
writes any more (the tar of torch <= 0.1.9) from tests/fixtures/make_tar.py, so libFuzzer
starts from files that open and mutates towards the edges. The zip seeds come out the same
on every run; the legacy ones do not (torch names their storages by address), which is why
the corpus is committed rather than made at build time.
"""

import collections
import importlib.util
import io
import json
import os
import pickle
import struct
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def torch_files(torch):
    """name -> bytes of small torch.save outputs, zip format, covering what checkpoints hold."""
    torch.manual_seed(0)
    out = {}

    def save(name, obj, **kw):
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        out[name] = buf.getvalue()

    sd = collections.OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3),
                                 b=torch.tensor([1, 2, 3], dtype=torch.int64))
    save("state_dict.pt", sd)
    base = torch.arange(24, dtype=torch.float16).reshape(4, 6)
    save("views.pt", {"t": base.t(), "row": base[1], "step": base[:, ::2], "same": base,
                      "expand": torch.ones(1, 3).expand(4, 3)})
    save("dtypes.pt", [torch.zeros(2, dtype=d) for d in
                       (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.bfloat16,
                        torch.float64, torch.complex64)])
    lin = torch.nn.Linear(3, 2)
    save("nested.pt", {"model": lin.state_dict(), "epoch": 3, "lr": 0.5, "name": "run",
                       "ids": (1, 2, 2 ** 70), "flags": {True, False}, "none": None, "raw": b"\x00\x01",
                       "param": torch.nn.Parameter(torch.ones(2)), "scalar": torch.tensor(7.0)})
    opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    lin(torch.ones(1, 3)).sum().backward()
    opt.step()
    save("optimizer.pt", {"optimizer": opt.state_dict(), "step": 1})
    save("module.pt", lin)  # a whole module: opaque classes with __dict__ state
    save("proto4.pt", sd, pickle_protocol=4)
    return out


def legacy_files(torch):
    out = {}
    for name, obj in (("legacy_state_dict.pt", collections.OrderedDict(w=torch.ones(2, 2), i=torch.arange(3))),
                      ("legacy_views.pt", {"a": torch.arange(8.0)[2:6], "b": torch.zeros(3, dtype=torch.int16)})):
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=False)
        out[name] = buf.getvalue()
    spec = importlib.util.spec_from_file_location("make_tar", os.path.join(HERE, "..", "fixtures", "make_tar.py"))
    mt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mt)
    with tempfile.TemporaryDirectory() as d:
        for name, state in (("tar_state.tar", mt.case_state()), ("tar_views.tar", mt.case_views())):
            path = os.path.join(d, name)
            mt.write_tar(path, *state)
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def records(data):
    """The zip's records by name relative to its top folder."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}


def deflated(data):
    """The same archive with every record deflated (ptio reads those; zip tools write them)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


def rebuild_seed(data):
    """fuzz_rebuild's input: u8 n, n x u16 storage sizes, then data.pkl (see fuzz_rebuild.cpp)."""
    recs = records(data)
    sizes = []
    while "data/%d" % len(sizes) in recs:
        sizes.append(len(recs["data/%d" % len(sizes)]))
    if len(sizes) >= 8 or any(s > 0xFFFF for s in sizes):
        return None
    return bytes([len(sizes)]) + b"".join(struct.pack("<H", s) for s in sizes) + recs["data.pkl"]


def plain_pickles():
    """Pickles of plain Python values in every protocol: the unpickler's opcodes apart from torch."""
    value = {"list": [1, -1, 255, 65535, 2 ** 31, -2 ** 31, 2 ** 64, 1.5, None, True],
             "tuple": (), "t1": ("a",), "t3": (b"x", bytearray(b"y"), "é"), "set": {1, 2},
             "frozen": frozenset({3}), "nested": [[[]], {}], "od": collections.OrderedDict(a=1)}
    shared = [1, 2]
    value["shared"] = (shared, shared)
    return {"plain_p%d.pkl" % p: pickle.dumps(value, protocol=p) for p in range(0, 6)}


def index_seeds():
    """Hugging Face indexes over fuzz_index's two shards: a.bin holds w and v, b.bin holds x."""
    full = {"metadata": {"total_size": 52}, "weight_map": {"w": "a.bin", "v": "a.bin", "x": "b.bin"}}
    return {
        "full.json": json.dumps(full, indent=2),
        "one_shard.json": json.dumps({"weight_map": {"w": "a.bin"}}),
        "missing_name.json": json.dumps({"metadata": {}, "weight_map": {"w": "a.bin", "y": "b.bin"}}),
        "numbers.json": '{"metadata": {"total_size": 1.5e3, "format": "pt"}, "weight_map": {"x": "b.bin"}}',
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    import torch  # the oracle: only writing, never loading anything
    zips = torch_files(torch)
    seeds = {
        "open": dict(zips, **legacy_files(torch)),
        "zip": dict(zips, **{"deflated_" + k: deflated(v) for k, v in list(zips.items())[:2]}),
        "pickle": dict({k.replace(".pt", ".pkl"): records(v)["data.pkl"] for k, v in zips.items()},
                       **plain_pickles()),
        "rebuild": {k.replace(".pt", ".bin"): s for k, s in ((k, rebuild_seed(v)) for k, v in zips.items()) if s},
        "legacy": legacy_files(torch),
        "index": index_seeds(),
        "roundtrip": {k: v for k, v in zips.items() if k != "module.pt"},
    }
    for target, files in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(files.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
        print("%-10s %2d seeds, %6d bytes" % (target, len(files), sum(len(v) for v in files.values())))


if __name__ == "__main__":
    main()
