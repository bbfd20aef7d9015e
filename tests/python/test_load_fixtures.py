"""ptio.load of every torch-written fixture the C++ tests use, against torch's own answer.

The oracle is tests/real_load.py's torch_load: torch.load(weights_only=True), else torch's
readers behind a stub unpickler that runs nothing (a class the file names becomes a Stub, which
must match a ptio.Opaque). tree_oracle.same_tree compares type for type, key for key, byte for
byte, with storage sharing and object identity. Files torch 1.13 cannot read (some torch 2.x
files) are compared with the manifest torch 2.x wrote beside them; TorchScript roots with
torch.jit.load's state_dict(); sharded checkpoints with torch's load of each shard.

Each comparison loads with map_location="cpu", as the oracle does; a file whose storages are all
tagged "cpu" must also give the same tree with map_location=None.
"""

import collections
import csv
import glob
import json
import os

import pytest
import torch

import ptio
from real_load import torch_load
from fixtures.make_fixtures import describe, storage_identity
from load_support import known_bug, nothing_runs
from tree_oracle import same_tree, sha256_of, tensors_in

def folder(var, *sub):
    path = os.environ.get(var, "")
    return os.path.join(path, *sub) if path else ""


def params(paths, kind):
    out = []
    for p in sorted(paths):
        out.append(pytest.param(p, kind, marks=known_bug(os.path.basename(p)), id=os.path.relpath(p, os.path.dirname(
            os.path.dirname(p)))))
    return out or [pytest.param("", kind, marks=pytest.mark.skip(reason=f"no {kind} fixtures"))]


def matching(var, patterns, *sub):
    base = folder(var, *sub)
    if not base or not os.path.isdir(base):
        return []
    return [p for pattern in patterns for p in glob.glob(os.path.join(base, pattern))]


TORCH_FILES = (
    params(matching("PTIO_FIXTURE_DIR", ["*.pt"]), "zip")
    + params(matching("PTIO_FIXTURE_DIR", ["*.pt"], "legacy"), "legacy")
    + params(matching("PTIO_FIXTURE_DIR", ["*.tar"], "tar"), "tar")
    + params(matching("PTIO_FIXTURE_DIR", ["*.pt"], "numpy"), "zip")
    + params(matching("PTIO_FIXTURE_DIR", ["*.pt"], "formats"), "zip")
    + params(matching("PTIO_STATE_DICT_DIR", ["*.pt"]), "zip")
)


def only_cpu_tags(path):
    return os.path.basename(path) != "cuda_tags.pt"


def check_against_torch(path, kind):
    got = ptio.load(path, map_location="cpu")  # first: a known bug shows as its own exception
    want, how, why = torch_load(path, kind)
    assert why is None, f"torch cannot load the fixture: {why}"
    assert same_tree(got, want) == [], f"against torch ({how})"
    if only_cpu_tags(path):
        assert same_tree(ptio.load(path), want) == [], "map_location=None"
    return got, want


@pytest.mark.parametrize("path,kind", TORCH_FILES)
def test_fixture_equals_torch(path, kind):
    check_against_torch(path, kind)


# ---------------------------------------------------------------------------------------------
# torch 2.x files: torch 1.13 reads most; the rest are compared with torch 2.x's manifest.

def manifest_entries(base, what):
    """One pytest param per manifest.json fixture in base, its path added; a skip if none."""
    if not base or not os.path.isfile(os.path.join(base, "manifest.json")):
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {what}"))]
    with open(os.path.join(base, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    return [pytest.param(dict(entry, path=os.path.join(base, entry["file"])),
                         marks=known_bug(entry["file"]), id=entry["file"])
            for entry in manifest["fixtures"]]


def torch2_entries():
    return manifest_entries(folder("PTIO_TORCH2_DIR"), "torch 2.x fixtures")


def resolved_sha256(t):
    # torch 2.x's manifest hashes what torch shows for lazily conjugated or negated views; a
    # meta tensor has no elements (the manifests say None)
    return None if t.is_meta else sha256_of(t.detach().resolve_conj().resolve_neg())


def described(obj):
    """ptio's tensors described as the manifests describe torch's (make_fixtures.describe)."""
    def walker(tree, path, found):
        found.extend((path + name.split("."), t) for name, t in tensors_in(tree))
    return describe(obj, sha256=resolved_sha256, walker=walker)


def manifest_view(tensors):
    keys = ("name", "dtype", "shape", "stride", "storage_offset", "requires_grad", "sha256",
            "storage_group")
    return [{k: t[k] for k in keys} for t in tensors]


@pytest.mark.parametrize("entry", torch2_entries())
def test_torch2_fixture(entry):
    path = entry["path"]
    want, how, why = torch_load(path, "zip")
    missing_dtypes = sorted({t["dtype"] for t in entry["tensors"]
                             if not isinstance(getattr(torch, t["dtype"], None), torch.dtype)})
    if missing_dtypes:
        # This torch cannot hold the file's tensors: ptio.load must say which dtype it lacks.
        with pytest.raises(ptio.Error) as caught:
            ptio.load(path)
        assert caught.value.code == "invalid_argument"
        assert any(d in str(caught.value) for d in missing_dtypes), str(caught.value)
        return
    got = ptio.load(path)
    if why is None:
        assert same_tree(got, want) == [], f"against torch ({how})"
    # Always against torch 2.x's own description too: conj/neg bits and resolved values.
    assert manifest_view(described(got)) == manifest_view(entry["tensors"])


def test_torch2_conj_bits():
    path = os.path.join(folder("PTIO_TORCH2_DIR"), "conj.pt")
    if not os.path.isfile(path):
        pytest.skip("no torch 2.x conj.pt")
    got = ptio.load(path)
    z, zc = got["z"], got["z_conj"]
    assert not z.is_conj() and zc.is_conj()
    assert storage_identity(zc) == storage_identity(z)
    assert torch.equal(zc.resolve_conj(), z.conj().resolve_conj())


# ---------------------------------------------------------------------------------------------
# TorchScript: an Opaque root whose tensors are torch.jit.load's state_dict().

def torchscript_entries():
    return manifest_entries(folder("PTIO_FIXTURE_DIR", "torchscript"), "TorchScript fixtures")


def check_torchscript(path, module):
    got = ptio.load(path)
    assert isinstance(got, ptio.Opaque) and got.name.startswith("__torch__."), repr(got)
    names = dict(tensors_in(got))
    state = module.state_dict(keep_vars=True)  # jit state keeps requires_grad
    for name, want in state.items():
        assert name in names, f"{name} is not in ptio's tree (it has {sorted(names)[:10]})"
        assert same_tree(names[name], want) == [], name
    # Sharing across attributes, as torch keeps it.
    pairs = {}
    for name, want in state.items():
        w, g = storage_identity(want), storage_identity(names[name])
        if want.numel():
            assert pairs.setdefault(w, g) == g, f"{name}: storage sharing differs from torch's"
    assert len(set(pairs.values())) == len(pairs)
    return got, names


@pytest.mark.parametrize("entry", torchscript_entries())
def test_torchscript_fixture(entry):
    # A module saved on the meta device stays there; torch.jit.load(map_location="cpu") would
    # give CPU tensors over no memory (printing one crashes torch 1.13).
    where = None if entry["file"] == "meta.pt" else "cpu"
    _, names = check_torchscript(entry["path"], torch.jit.load(entry["path"], map_location=where))
    for attribute in entry["attributes"]:  # tensors that are module attributes, not state
        assert attribute["name"] in names, attribute["name"]
        assert resolved_sha256(names[attribute["name"]]) == attribute["sha256"]


# ---------------------------------------------------------------------------------------------
# Sharded checkpoints: one dict of every shard's tensors, in the index's order.

def sharded_entries():
    return manifest_entries(folder("PTIO_SHARDED_DIR"), "sharded fixtures")


@pytest.mark.parametrize("entry", sharded_entries())
def test_sharded_fixture(entry):
    path = entry["path"]
    index = path if os.path.isfile(path) else glob.glob(os.path.join(path, "*.index.json"))[0]
    with open(index, encoding="utf-8") as f:
        weight_map = json.load(f)["weight_map"]
    shards = {}
    for shard in dict.fromkeys(weight_map.values()):
        want, how, why = torch_load(os.path.join(os.path.dirname(index), shard), "zip")
        assert why is None, why
        shards[shard] = want
    got = ptio.load(path)
    names = [t["name"] for t in entry["tensors"]]
    assert list(got.keys()) == names
    want = {name: shards[weight_map[name]][name] for name in names}
    assert same_tree(got, want) == []


# ---------------------------------------------------------------------------------------------
# Real files from other projects (PTIO_REAL_DIR/MANIFEST.tsv). Some are hostile pickle samples:
# torch sees them only through torch_load (weights_only, or the stub unpickler), and ptio.load
# must either refuse them with ptio.Error or give torch's tree, never run what they name.

def real_entries():
    base = folder("PTIO_REAL_DIR")
    manifest = os.path.join(base, "MANIFEST.tsv") if base else ""
    if not manifest or not os.path.isfile(manifest):
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="no PTIO_REAL_DIR"))]
    with open(manifest, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        out.append(pytest.param(base, row, marks=known_bug(row["file"]), id=row["file"]))
    return out


@pytest.mark.parametrize("base,row", real_entries())
def test_real_file(base, row):
    from real_files import ALLOWLIST  # noqa: PLC0415 - imports the whole real-file oracle
    path = os.path.join(base, row["file"])
    want, how, why = torch_load(path, row["kind"])
    try:
        with nothing_runs():
            got = ptio.load(path, map_location="cpu")
    except ptio.Error as e:
        assert e.file == path and path in str(e), e
        assert why is not None, f"ptio refuses a file torch loads ({how}): {e.code}: {e}"
        return
    if why is not None:
        return  # torch 1.13 cannot read it; ptio reading it without a crash is the test
    if how == "jit.load":
        assert isinstance(got, ptio.Opaque), repr(got)
        names = dict(tensors_in(got))
        for name, t in want.state_dict(keep_vars=True).items():
            assert name in names, name
            assert same_tree(names[name], t) == [], name
        return
    if row["file"] in ALLOWLIST:
        pytest.skip(ALLOWLIST[row["file"]])
    assert same_tree(got, want) == [], f"against torch ({how})"


def test_cuda_tags_to_cpu_keeps_sharing():
    """cuda_tags.pt's storages are tagged cuda:0 and cuda:1: a dict of tags sends them home."""
    path = os.path.join(folder("PTIO_FIXTURE_DIR"), "cuda_tags.pt")
    if not os.path.isfile(path):
        pytest.skip("no cuda_tags.pt")
    want, _, why = torch_load(path, "zip")
    assert why is None
    got = ptio.load(path, map_location={"cuda:0": "cpu", "cuda:1": "cpu"})
    assert same_tree(got, want) == []
    assert isinstance(got, collections.OrderedDict)


def test_the_comparison_sees_each_difference():
    """same_tree must fail where ptio's answer would differ from torch's in any one way."""
    base = torch.arange(6.0).reshape(2, 3)
    want = collections.OrderedDict(a=base, b=base[1], n=-0.0)
    assert same_tree(collections.OrderedDict(a=base, b=base[1], n=-0.0), want) == []
    other = base.clone()
    changed = other.clone()
    changed[0, 0] = 9
    wrong = [
        dict(want),                                                   # dict, not OrderedDict
        collections.OrderedDict(a=base, b=other[1], n=-0.0),          # sharing lost
        collections.OrderedDict(a=changed, b=changed[1], n=-0.0),     # a byte differs
        collections.OrderedDict(a=base.t().contiguous().t(), b=base[1], n=-0.0),  # strides
        collections.OrderedDict(a=torch.nn.Parameter(base), b=base[1], n=-0.0),   # Parameter
        collections.OrderedDict(a=base, b=base[1], n=0.0),            # -0.0 is not 0.0
        collections.OrderedDict(b=base[1], a=base, n=-0.0),           # key order
    ]
    for got in wrong:
        assert same_tree(got, want) != [], got
