"""ptio.open against torch and the CLI: names, tensors, slices, metadata, lifetimes."""

import collections
import ctypes
import glob
import json
import mmap
import os
import subprocess

import pytest
import torch

import ptio
from conftest import fixture_dir
from real_load import torch_load

CLI = os.environ.get("PTIO_CLI", "")


def zip_fixtures():
    root = fixture_dir("PTIO_FIXTURE_DIR")
    files = sorted(glob.glob(os.path.join(root, "*.pt")))
    assert files, f"no fixtures in {root}"
    return files


def ls_names(path):
    if not os.path.isfile(CLI):
        pytest.skip("PTIO_CLI is not set")
    out = subprocess.run([CLI, "ls", "--json", path], check=True, capture_output=True, text=True)
    return [t["name"] for t in json.loads(out.stdout)["tensors"]]


def walk_tensors(obj, path=""):
    """(name, tensor) in ptio's order for plain containers (what tensors() lists)."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk_tensors(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from walk_tensors(v, f"{path}.{i}" if path else str(i))


@pytest.mark.parametrize("path", zip_fixtures(), ids=os.path.basename)
def test_keys_and_tensors_match_cli_and_torch(path):
    expected, how, failure = torch_load(path, "zip")
    if expected is None:
        pytest.skip(f"torch cannot load it: {failure}")
    with ptio.open(path) as f:
        keys = f.keys()
        assert keys == ls_names(path)
        by_name = dict(walk_tensors(expected))
        for name in keys:
            if name in by_name:
                got = f.get_tensor(name)
                want = by_name[name]
                assert got.dtype == want.dtype and got.shape == want.shape
                assert got.stride() == want.stride() and got.storage_offset() == want.storage_offset()
                if got.numel():
                    assert torch.equal(got.detach().resolve_conj().resolve_neg(),
                                       want.detach().resolve_conj().resolve_neg()), name
                info = f.info(name)
                assert info.dtype == want.dtype and info.shape == tuple(want.shape)
                assert info.stride == want.stride() and info.storage_offset == want.storage_offset()
                assert info.nbytes == want.numel() * want.element_size() or want.dtype.is_quantized
        assert set(by_name) <= set(keys)
        assert len(f) == len(keys) and all(k in f for k in keys) and "no such name" not in f


def test_storage_sharing_and_slices(tmp_path):
    base = torch.arange(24.0).reshape(4, 6)
    sd = {"w": base, "row": base[1], "col": base[:, 2], "other": torch.ones(3)}
    path = os.fspath(tmp_path / "v.pt")
    torch.save(sd, path)
    with ptio.open(path) as f:
        w, row, col, other = (f.get_tensor(k) for k in ("w", "row", "col", "other"))
        assert w.untyped_storage().data_ptr() == row.untyped_storage().data_ptr() \
            if hasattr(w, "untyped_storage") else w.storage().data_ptr() == row.storage().data_ptr()
        assert w.storage().data_ptr() == col.storage().data_ptr() != other.storage().data_ptr()
        assert col.stride() == (6,) and col.storage_offset() == 2
        s = f.get_slice("w")
        assert s.get_shape() == [4, 6] and s.get_dtype() == torch.float32
        assert torch.equal(s[1:3], base[1:3]) and torch.equal(s[:, 4], base[:, 4])
        assert s[1:3].storage().data_ptr() != w.storage().data_ptr()  # a copy, as safetensors'


def test_metadata_state_dict_root(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    ckpt = {"model": model.state_dict(), "epoch": 7, "config": {"lr": 0.1, "name": "x"},
            "best": torch.tensor(0.5)}
    path = os.fspath(tmp_path / "ck.pt")
    torch.save(ckpt, path)
    with ptio.open(path) as f:
        assert f.metadata() == {"epoch": 7, "config": {"lr": 0.1, "name": "x"}}
        root = f.root()
        assert list(root) == list(ckpt) and root["epoch"] == 7
        assert list(f.state_dict()) == f.keys()
    whole = os.fspath(tmp_path / "module.pt")
    torch.save(model, whole)
    with ptio.open(whole) as f:
        sd = f.state_dict()
        assert list(sd) == list(model.state_dict())
        for k, v in model.state_dict().items():
            assert torch.equal(sd[k], v) and torch.equal(f.get_tensor(k), v)
        assert isinstance(f.root(), ptio.Opaque) and f.metadata() == {}


def test_tensors_outlive_handle_and_file(tmp_path):
    path = os.fspath(tmp_path / "gone.pt")
    torch.save({"t": torch.arange(1000.0)}, path)
    f = ptio.open(path)
    t = f.get_tensor("t")
    f.close()
    os.remove(path)
    assert f.closed and torch.equal(t, torch.arange(1000.0))
    with pytest.raises(ptio.Error, match="closed"):
        f.get_tensor("t")
    t[0] = 5  # writable: a private mapping
    assert t[0] == 5


def test_writes_never_reach_the_file(tmp_path):
    path = os.fspath(tmp_path / "w.pt")
    torch.save({"t": torch.zeros(4096)}, path)
    before = open(path, "rb").read()
    with ptio.open(path) as f:
        f.get_tensor("t").fill_(3.0)
        assert torch.all(f.get_tensor("t") == 3.0)  # the same storage within one handle
    assert open(path, "rb").read() == before
    with ptio.open(path) as f:
        assert torch.all(f.get_tensor("t") == 0.0)


def resident_fraction(path):
    """Fraction of the file's pages in the page cache (mincore(2) on a fresh mapping)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    size = os.path.getsize(path)
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    with open(path, "rb") as fh:
        # ACCESS_COPY: a private mapping, whose buffer ctypes can take the address of.
        m = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY)
    first = ctypes.c_char.from_buffer(m)
    try:
        if libc.mincore(ctypes.c_void_p(ctypes.addressof(first)), size, vec) != 0:
            pytest.skip("mincore is not available here")
        return sum(v & 1 for v in vec) / pages
    finally:
        del first
        m.close()


def test_get_slice_reads_only_the_rows(tmp_path):
    path = os.fspath(tmp_path / "big.pt")
    rows, cols = 4096, 4096  # 64 MiB of float32
    torch.save({"w": torch.ones(rows, cols)}, path)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    if resident_fraction(path) > 0.2:
        pytest.skip("the page cache kept the file (cannot evict here)")
    with ptio.open(path) as f:
        part = f.get_slice("w")[10:12]
        assert torch.equal(part, torch.ones(2, cols))
        assert resident_fraction(path) < 0.1, "reading 2 rows paged in most of the file"


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ptio.open(os.fspath(tmp_path / "missing.pt"))
    with pytest.raises(IsADirectoryError):
        ptio.open(os.fspath(tmp_path))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"<html>not a checkpoint</html>")
    with pytest.raises(ptio.Error) as e:
        ptio.open(os.fspath(bad))
    assert e.value.code == "not_a_checkpoint" and e.value.file == os.fspath(bad)
    module = os.fspath(tmp_path / "m.pt")
    torch.save(torch.nn.Linear(2, 2), module)
    with pytest.raises(ptio.Error, match="torch.nn.modules.linear.Linear") as e:
        ptio.open(module, weights_only=True)
    assert e.value.code == "forbidden_global"
    with ptio.open(module) as f, pytest.raises(KeyError):
        f.get_tensor("nope")


def test_bytes_and_file_objects(tmp_path):
    path = os.fspath(tmp_path / "b.pt")
    torch.save(collections.OrderedDict(a=torch.arange(5)), path)
    data = open(path, "rb").read()
    for source in (data, bytearray(data), memoryview(data), open(path, "rb")):
        with ptio.open(source) as f:
            assert f.keys() == ["a"] and torch.equal(f.get_tensor("a"), torch.arange(5))


def test_sharded_get_tensor_opens_only_its_shard(tmp_path):
    import shutil  # noqa: PLC0415
    source = os.path.join(fixture_dir("PTIO_SHARDED_DIR"), "hf")
    folder = tmp_path / "hf"
    shutil.copytree(source, folder)
    index = os.fspath(folder / "pytorch_model.bin.index.json")
    weight_map = json.load(open(index))["weight_map"]
    name, shard = next(iter(weight_map.items()))
    expected = torch_load(os.fspath(folder / shard), "zip")[0][name]
    with ptio.open(index) as f:
        for other in set(weight_map.values()) - {shard}:
            os.remove(folder / other)  # a shard that is never needed may go
        assert torch.equal(f.get_tensor(name), expected)
        assert f.info(name).shape == tuple(expected.shape)
        with pytest.raises(ptio.Error) as e:
            f.keys()  # lists every shard's tensors: the missing ones are needed now
        assert e.value.code == "missing_record"
