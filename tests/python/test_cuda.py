"""ptio.load onto cuda:0 against torch.load(map_location="cuda:0"), and ptio's device memory.

Skipped unless torch sees a CUDA device and ptio was built with CUDA and sees one too (the ctest
entry carries the gpu label). What is checked:

- every torch-written fixture (zip, legacy, tar, numpy) loaded with map_location="cuda:0" equals
  torch.load(map_location="cuda:0", weights_only=True) type for type, key for key, byte for
  byte, storage sharing included; where that torch.load refuses the file (a pickled module, a
  global outside its allowlist) the cuda answer must equal ptio's own CPU answer (the CPU path
  is checked against torch by test_load.py) with every tensor moved to cuda:0;
- map_location's str, torch.device, dict and callable forms reach cuda:0, and dicts that keep
  some storages on the CPU agree with torch's;
- tensors sharing a storage in the file share one device allocation (a write through one shows
  through the others), and they outlive the file's deletion;
- the device memory belongs to the returned tensors: cudaMemGetInfo (torch.cuda.mem_get_info)
  shows it taken while any of them lives and given back when the last dies, over many loads.
"""

import collections
import gc
import math
import os

import pytest
import torch

import ptio
from ptio import _ptio

CUDA = "cuda:0"
pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and _ptio.cuda_device_count() > 0),
    reason="needs torch with a CUDA device and ptio built with CUDA")

MiB = 1 << 20


def fixture_files():
    """The fixtures' paths, listed when the module is collected (ctest has made them by then)."""
    root = os.environ.get("PTIO_FIXTURE_DIR", "")
    if not os.path.isdir(root):
        return []
    found = []
    for sub, ends in (("", (".pt",)), ("legacy", (".pt",)), ("tar", (".tar", ".pt")),
                      ("numpy", (".pt",))):
        folder = os.path.join(root, sub)
        if os.path.isdir(folder):
            found += [os.path.join(sub, n) for n in sorted(os.listdir(folder)) if n.endswith(ends)]
    return found


# --- comparing trees --------------------------------------------------------------------------

def storage_key(t):
    s = t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()
    return (str(t.device), s.data_ptr()) if s.nbytes() > 0 else None


def tensor_bytes(t):
    if t.is_quantized:
        t = t.int_repr()
    t = t.detach().resolve_conj().resolve_neg()
    return t.cpu().contiguous().reshape(-1).view(torch.uint8)


def same_tensor(got, want, where, device):
    assert type(got) is type(want), f"{where}: {type(got).__name__} vs {type(want).__name__}"
    assert str(got.device) == device, f"{where}: on {got.device}, wanted {device}"
    assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} vs {want.dtype}"
    assert tuple(got.shape) == tuple(want.shape), f"{where}: shape {got.shape} vs {want.shape}"
    assert got.stride() == want.stride(), f"{where}: stride {got.stride()} vs {want.stride()}"
    assert got.storage_offset() == want.storage_offset(), f"{where}: storage offset"
    assert got.requires_grad == want.requires_grad, f"{where}: requires_grad"
    if hasattr(got, "is_conj"):
        assert (got.is_conj(), got.is_neg()) == (want.is_conj(), want.is_neg()), f"{where}: conj/neg"
    if got.is_quantized:
        assert (got.q_scale(), got.q_zero_point()) == (want.q_scale(), want.q_zero_point()), where
    assert torch.equal(tensor_bytes(got), tensor_bytes(want)), f"{where}: bytes differ"


def same(got, want, where, devices, pairs):
    """Assert got (ptio's) equals want; devices(want_tensor) is where got's tensor must be."""
    if isinstance(want, torch.Tensor):
        same_tensor(got, want, where, devices(want))
        pairs.append((got, want, where))
        return
    assert type(got) is type(want), f"{where}: {type(got).__name__} vs {type(want).__name__}"
    if isinstance(want, dict):
        assert list(got.keys()) == list(want.keys()), f"{where}: keys differ"
        assert getattr(got, "_metadata", None) == getattr(want, "_metadata", None), f"{where}: _metadata"
        for k in want:
            same(got[k], want[k], f"{where}[{k!r}]", devices, pairs)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{where}: length {len(got)} vs {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{where}[{i}]", devices, pairs)
    elif isinstance(want, ptio.Opaque):
        assert (got.name, got.origin) == (want.name, want.origin), where
        for part in ("args", "state", "items", "entries"):
            same(getattr(got, part), getattr(want, part), f"{where}.{part}", devices, pairs)
    elif type(want).__module__ == "numpy" and hasattr(want, "dtype"):  # arrays and scalars
        import numpy  # noqa: PLC0415 - only the numpy fixtures need it
        assert got.dtype == want.dtype and numpy.array_equal(got, want, equal_nan=True), where
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), where
    else:
        assert got == want, f"{where}: {got!r} vs {want!r}"


def same_sharing(pairs):
    """Two of ptio's tensors share a storage exactly when the reference's two do."""
    ours, theirs = {}, {}
    for got, want, where in pairs:
        k_got, k_want = storage_key(got), storage_key(want)
        if k_got is None or k_want is None:
            continue
        ours.setdefault(k_got, set()).add(where)
        theirs.setdefault(k_want, set()).add(where)
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, theirs.values()))


def check(got, want, devices):
    pairs = []
    same(got, want, "root", devices, pairs)
    same_sharing(pairs)


def on_cuda(_):
    return CUDA


def torch_cuda_load(path, map_location=CUDA):
    """torch.load(weights_only=True) onto the GPU, or None where torch refuses the file."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - any refusal sends the test to ptio's own CPU answer
        return None


# --- the fixtures -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", fixture_files())
def test_fixture_onto_cuda_equals_torch(name):
    path = os.path.join(os.environ["PTIO_FIXTURE_DIR"], name)
    want = torch_cuda_load(path)
    if want is None and os.path.basename(path) == "cuda_tags.pt":
        pytest.skip("cuda_tags.pt names cuda:1: see test_dict_keeps_storages_where_torch_does")
    try:
        got = ptio.load(path, map_location=CUDA)
    except ptio.Error as e:
        # ptio may refuse what cannot live on a GPU (e.g. some quantized schemes) only where
        # torch cannot put it there either
        assert want is None, f"ptio refused what torch loads onto {CUDA}: {e}"
        return
    if want is not None:
        check(got, want, on_cuda)
    else:
        check(got, ptio.load(path), lambda t: CUDA if t.device.type == "cpu" else str(t.device))


# --- map_location forms -----------------------------------------------------------------------

def write(tmp_path, obj, name="sd.pt"):
    path = os.fspath(tmp_path / name)
    torch.save(obj, path)
    return path


def views_dict():
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd = collections.OrderedDict(a=a, a_t=a.t(), a_row=a[1], b=torch.arange(5, dtype=torch.int64))
    sd["h"] = torch.randn(7, 3, generator=torch.Generator().manual_seed(0)).half()
    return sd


@pytest.mark.parametrize("form", [
    "cuda:0", "cuda", torch.device("cuda:0"), {"cpu": "cuda:0"},
    lambda s, loc: s.cuda(0), lambda s, loc: s.cuda(), lambda s, loc: s.to("cuda:0"),
    lambda s, loc: "cuda:0", lambda s, loc: torch.device("cuda", 0),
], ids=["str", "str-bare", "device", "dict", "cuda(0)", "cuda()", "to", "returns-str",
        "returns-device"])
def test_every_form_reaches_cuda(tmp_path, form):
    path = write(tmp_path, views_dict())
    want = torch.load(path, map_location=CUDA, weights_only=True)
    check(ptio.load(path, map_location=form), want, on_cuda)


@pytest.mark.parametrize("where", [{"cuda:1": "cuda:0"}, {"cuda:1": "cuda:0", "cuda:0": "cpu"},
                                   {"cuda:1": "cuda:0", "cpu": "cuda:0"}],
                         ids=["cuda1-to-0", "swap", "all-on-0"])
def test_dict_keeps_storages_where_torch_does(where):
    path = os.path.join(os.environ.get("PTIO_FIXTURE_DIR", ""), "cuda_tags.pt")
    if not os.path.isfile(path):
        pytest.skip("no cuda_tags.pt fixture")
    want = torch.load(path, map_location=where, weights_only=True)
    check(ptio.load(path, map_location=where), want, lambda t: str(t.device))


# --- sharing, lifetime, memory ----------------------------------------------------------------

def test_views_share_one_device_storage(tmp_path):
    path = write(tmp_path, views_dict())
    sd = ptio.load(path, map_location=CUDA)
    keys = {k: storage_key(sd[k]) for k in ("a", "a_t", "a_row", "b")}
    assert keys["a"] == keys["a_t"] == keys["a_row"] and keys["b"] != keys["a"]
    sd["a"][1, 2] = -7.0  # one allocation: a write through a shows through its views
    assert sd["a_t"][2, 1].item() == -7.0 and sd["a_row"][2].item() == -7.0
    assert torch.equal(torch.load(path, weights_only=True)["a"][1], torch.tensor([4.0, 5.0, 6.0, 7.0]))  # file kept


def test_tensors_outlive_the_file(tmp_path):
    sd_in = views_dict()
    path = write(tmp_path, sd_in)
    sd = ptio.load(path, map_location=CUDA)
    row = sd["a_row"]
    os.remove(path)
    del sd
    gc.collect()
    torch.cuda.synchronize()
    assert torch.equal(row.cpu(), sd_in["a_row"])
    assert torch.equal((row * 2).cpu(), sd_in["a_row"] * 2)


def device_free():
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()  # what torch's own caching allocator holds is not ptio's
    return torch.cuda.mem_get_info(0)[0]


def test_device_memory_is_released_when_the_tensors_die(tmp_path):
    nbytes = 256 * MiB
    big = torch.arange(nbytes // 4, dtype=torch.int32)
    path = write(tmp_path, collections.OrderedDict(big=big, tail=big[-1024:]))
    del big
    slack = 64 * MiB  # allocation granularity, ptio's per-load bookkeeping
    ptio.load(path, map_location=CUDA)  # a first load sets up ptio's stager and CUDA context
    before = device_free()

    sd = ptio.load(path, map_location=CUDA)
    assert before - device_free() >= nbytes - slack, "the load took less than its tensors"
    tail = sd["tail"]
    del sd
    assert before - device_free() >= nbytes - slack, "freed while a view still lives"
    assert tail[-1].item() == nbytes // 4 - 1
    del tail
    assert before - device_free() <= slack, "not given back when the last tensor died"

    for _ in range(20):  # many loads do not accumulate device memory
        sd = ptio.load(path, map_location=CUDA)
        del sd
    assert before - device_free() <= slack, "device memory grows over repeated loads"
