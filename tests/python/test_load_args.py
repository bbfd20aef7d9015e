"""ptio.load's arguments: every map_location form, every kind of f, progress, weights_only, and
the errors (every file of the malformed table, missing files and folders).

Results are compared with torch's (tests/real_load.py's torch_load) through tree_oracle; the
malformed table is tests/malformed/make_malformed.py's cases.tsv (file, errc, substring).
"""

import collections
import csv
import errno
import io
import os
import pathlib
import pickle

import pytest
import torch

import ptio
from real_load import torch_load
from load_support import fixture, known_bug, mapped_ranges, nothing_runs
from tree_oracle import same_tree, tensors_in


def torch_answer(name):
    want, _, why = torch_load(fixture(name), "zip")
    assert why is None, why
    return want


# ---------------------------------------------------------------------------------------------
# map_location

@pytest.mark.parametrize("where", [
    None, "cpu", torch.device("cpu"), {"cpu": "cpu"}, {"cuda:0": "cpu"},
    lambda s, loc: s, lambda s, loc: s.cpu(), lambda s, loc: "cpu", lambda s, loc: None,
    lambda s, loc: torch.device("cpu"), lambda s, loc: s.to("cpu"),
], ids=["none", "str", "device", "dict_cpu", "dict_other", "callable_self", "callable_cpu",
        "callable_str", "callable_none", "callable_device", "callable_to"])
def test_map_location_to_cpu(where):
    assert same_tree(ptio.load(fixture("views.pt"), map_location=where),
                     torch_answer("views.pt")) == []


CUDA_TAGS = {"w1": "cuda:1", "w1_t": "cuda:1", "w1_row": "cuda:1", "w0": "cuda:0", "c": "cpu",
             "w1b": "cuda:1"}


@pytest.mark.parametrize("where", [
    {"cuda:0": "cpu", "cuda:1": "cpu"}, "cpu", lambda s, loc: "cpu", lambda s, loc: s.cpu(),
], ids=["dict", "str", "callable_str", "callable_cpu"])
def test_cuda_tags_sent_to_cpu(where):
    assert same_tree(ptio.load(fixture("cuda_tags.pt"), map_location=where),
                     torch_answer("cuda_tags.pt")) == []


def test_map_location_callable_is_told_each_storage():
    calls = []

    def where(storage, location):
        calls.append((storage.key, storage.nbytes, storage.dtype, storage.location, location))
        return "cpu"

    got = ptio.load(fixture("cuda_tags.pt"), map_location=where)
    assert isinstance(got, collections.OrderedDict)
    # One call per storage: w1 and its two views share one; each tag is the saved one.
    assert len(calls) == 4
    assert len({c[0] for c in calls}) == 4
    for key, nbytes, dtype, saved, location in calls:
        assert saved == location and isinstance(dtype, torch.dtype)
        assert key.startswith("data/") or key.isdigit() or "/" in key, key
    by_tag = sorted((c[4], c[1]) for c in calls)
    assert by_tag == sorted([("cuda:1", 48), ("cuda:0", 40), ("cpu", 16), ("cuda:1", 24)])
    assert {CUDA_TAGS[k] for k in CUDA_TAGS} == {c[4] for c in calls}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("where", [
    "cuda:0", "cuda", torch.device("cuda:0"), None, {"cuda:0": "cpu"}, lambda s, loc: s,
    lambda s, loc: s.cuda(0), lambda s, loc: "cuda:0",
], ids=["str", "bare_cuda", "device", "none_on_cuda_tags", "dict_missing_cuda1",
        "callable_keeps_tags", "callable_cuda", "callable_str"])
def test_cuda_without_cuda(where):
    path = fixture("cuda_tags.pt")
    with pytest.raises(ptio.Error) as caught:
        ptio.load(path, map_location=where)
    assert caught.value.code == "cuda_unavailable", caught.value
    assert os.path.basename(path) in str(caught.value)
    assert mapped_ranges(path) == [], "a failed load keeps its mapping"


class Mine(Exception):
    pass


def test_map_location_callable_raising():
    path = fixture("views.pt")
    seen = []

    def where(storage, location):
        seen.append(storage.key)
        raise Mine("the callable's own")

    with pytest.raises(Mine, match="the callable's own"):
        ptio.load(path, map_location=where)
    assert seen
    assert mapped_ranges(path) == []


def test_map_location_meta():
    want = torch_answer("views.pt")
    got = ptio.load(fixture("views.pt"), map_location="meta")
    found, expected = tensors_in(got), tensors_in(want)
    assert [n for n, _ in found] == [n for n, _ in expected]
    for (name, g), (_, w) in zip(found, expected):
        assert g.is_meta, name
        assert (g.dtype, g.shape, g.stride(), g.storage_offset()) == \
            (w.dtype, w.shape, w.stride(), w.storage_offset()), name
    assert got["base"] is got["base_again"]


@pytest.mark.parametrize("where", [3, ["cpu"], object()], ids=["int", "list", "object"])
def test_map_location_of_a_wrong_type(where):
    with pytest.raises(TypeError):
        ptio.load(fixture("views.pt"), map_location=where)


def test_map_location_callable_returning_a_wrong_type():
    with pytest.raises(TypeError):
        ptio.load(fixture("views.pt"), map_location=lambda s, loc: 42)


# ---------------------------------------------------------------------------------------------
# f

def sources(path):
    with open(path, "rb") as f:
        data = f.read()
    at_position = io.BytesIO(b"not this" + data)
    at_position.seek(len(b"not this"))
    return {
        "str": path, "path": pathlib.Path(path), "bytes": data, "bytearray": bytearray(data),
        "memoryview": memoryview(data), "bytesio": io.BytesIO(data), "bytesio_at": at_position,
    }


@pytest.mark.parametrize("kind", ["str", "path", "bytes", "bytearray", "memoryview", "bytesio",
                                  "bytesio_at", "file", "file_at"])
@pytest.mark.parametrize("name", ["views.pt", "training.pt"])
def test_every_kind_of_f(kind, name, tmp_path):
    want, path = torch_answer(name), fixture(name)
    if kind == "file":
        with open(path, "rb") as f:
            got = ptio.load(f)
    elif kind == "file_at":  # read from where the file object stands, as torch.load does
        with open(path, "rb") as f:
            (tmp_path / "at.pt").write_bytes(b"header" + f.read())
        with open(tmp_path / "at.pt", "rb") as f:
            f.seek(len(b"header"))
            got = ptio.load(f)
    else:
        got = ptio.load(sources(path)[kind])
    assert same_tree(got, want) == []


def test_bytes_sources_are_copied():
    data = bytearray(open(fixture("views.pt"), "rb").read())  # noqa: SIM115
    got = ptio.load(data)
    data[:] = bytes(len(data))  # the caller's buffer may change after load returns
    assert same_tree(got, torch_answer("views.pt")) == []


def test_a_text_file_is_refused():
    with open(fixture("views.pt"), encoding="latin-1") as f, pytest.raises(TypeError):
        ptio.load(f)
    with pytest.raises(TypeError):
        ptio.load(12)


# ---------------------------------------------------------------------------------------------
# progress

@pytest.mark.parametrize("mmap", [True, False])
def test_progress_callable(mmap):
    calls = []
    got = ptio.load(fixture("big.pt"), mmap=mmap, progress=lambda d, t: calls.append((d, t)))
    assert same_tree(got, torch_answer("big.pt")) == []
    assert calls, "progress was never called"
    totals = {t for _, t in calls}
    assert len(totals) == 1
    total = totals.pop()
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == total
    if not mmap:  # every byte of every storage is copied
        assert total >= 768 * 1024 * 4 + 200_000 * 8


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """64 MiB in 16 storages: a copying load of it is many pieces, so a cancel stops it."""
    path = os.fspath(tmp_path_factory.mktemp("large") / "large.pt")
    torch.save({f"w{i}": torch.full((1 << 20,), float(i)) for i in range(16)}, path)
    return path


@pytest.mark.parametrize("name", ["big.pt", "large"])
@pytest.mark.parametrize("source", ["path", "bytes"])
def test_progress_false_cancels(source, name, large):
    path = large if name == "large" else fixture(name)
    with open(path, "rb") as f:
        f = path if source == "path" else f.read()
    calls = []

    def stop(done, total):
        calls.append(done)
        return False

    # big.pt is two pieces: both may land before the cancel is seen; it raises all the same.
    with pytest.raises(ptio.Error) as caught:
        ptio.load(f, mmap=False, progress=stop)
    assert caught.value.code == "cancelled"
    assert calls
    assert mapped_ranges(path) == [], "a cancelled load keeps its mapping"


@pytest.mark.parametrize("name", ["big.pt", "large", "views.pt"])
@pytest.mark.parametrize("mmap", [True, False])
def test_progress_raising(name, mmap, large):
    path = large if name == "large" else fixture(name)

    def boom(done, total):
        raise Mine("from progress")

    with pytest.raises(Mine, match="from progress"):
        ptio.load(path, mmap=mmap, progress=boom)
    assert mapped_ranges(path) == []


def test_progress_false_on_a_load_of_views():
    with pytest.raises(ptio.Error) as caught:
        ptio.load(fixture("views.pt"), progress=lambda done, total: False)
    assert caught.value.code == "cancelled"


def test_progress_true_off_a_terminal(capfd):
    got = ptio.load(fixture("big.pt"), mmap=False, progress=True)
    assert same_tree(got, torch_answer("big.pt")) == []
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


class _Terminal(io.StringIO):
    """A stand-in for stderr that says it is a terminal, keeping what is written to it."""

    def isatty(self):
        return True


def test_progress_true_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    got = ptio.load(fixture("big.pt"), mmap=False, progress=True)
    assert same_tree(got, torch_answer("big.pt")) == []
    shown = terminal.getvalue()
    assert "ptio.load" in shown and "100%" in shown, shown


# ---------------------------------------------------------------------------------------------
# weights_only

def opaque_names(tree):
    names, seen = set(), set()

    def walk(o):
        if id(o) in seen:
            return
        seen.add(id(o))
        if isinstance(o, ptio.Opaque):
            names.add(o.name)
            for part in (o.args, o.state, o.items, o.entries):
                walk(part)
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(k)
                walk(v)
        elif isinstance(o, (list, tuple, set, frozenset)):
            for v in o:
                walk(v)
    walk(tree)
    return names


def weights_only_cases():
    out = []
    for var in ("PTIO_FIXTURE_DIR", "PTIO_STATE_DICT_DIR"):
        base = os.environ.get(var, "")
        if base and os.path.isdir(base):
            out += [pytest.param(os.path.join(base, n), marks=known_bug(n), id=n)
                    for n in sorted(os.listdir(base)) if n.endswith(".pt")]
    return out or [pytest.param("", marks=pytest.mark.skip(reason="no fixtures"))]


@pytest.mark.parametrize("path", weights_only_cases())
def test_weights_only(path):
    """What torch 1.13's weights_only loader accepts, ptio's accepts, equal; a tree with a class
    ptio does not run (an Opaque) is refused, naming a global, as a pickle.UnpicklingError.
    (Files that 1.13 refuses only for an opcode it lacks are checked against the full load,
    whichever way ptio's allowlist, torch 2.4's, decides.)"""
    full = ptio.load(path, map_location="cpu")
    classes = opaque_names(full)
    want, how, _ = torch_load(path, "zip")
    try:
        safe = ptio.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        assert isinstance(e, ptio.Error) and e.code == "forbidden_global", e
        assert how != "weights_only", f"torch's weights_only loader accepts what ptio refuses: {e}"
        named = str(e).split("weights_only: ", 1)[-1].split(" ", 1)[0]
        assert "." in named, f"the message names no global: {e}"
        return
    assert not classes, f"weights_only=True let {sorted(classes)} through"
    assert same_tree(safe, full) == []
    if how == "weights_only":
        assert same_tree(safe, want) == []


def test_weights_only_refuses_a_pickled_module(tmp_path):
    path = os.fspath(tmp_path / "module.pt")
    torch.save(torch.nn.Linear(2, 3), path)
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.linear.Linear") as caught:
        ptio.load(path, weights_only=True)
    assert isinstance(caught.value, ptio.Error) and caught.value.code == "forbidden_global"
    module = ptio.load(path)
    assert isinstance(module, ptio.Opaque) and module.name == "torch.nn.modules.linear.Linear"
    assert type(module._parameters["weight"]) is torch.nn.Parameter


# ---------------------------------------------------------------------------------------------
# errors

def test_missing_file(tmp_path):
    missing = os.fspath(tmp_path / "nowhere.pt")
    with pytest.raises(FileNotFoundError) as caught:
        ptio.load(missing)
    e = caught.value
    assert isinstance(e, ptio.Error) and isinstance(e, RuntimeError)
    assert e.errno == errno.ENOENT and e.filename == missing and e.code == "io_error"
    with pytest.raises(FileNotFoundError):
        ptio.load(pathlib.Path(missing))


def test_a_folder_that_is_no_checkpoint(tmp_path):
    with pytest.raises(IsADirectoryError) as caught:
        ptio.load(os.fspath(tmp_path))
    assert isinstance(caught.value, ptio.Error) and caught.value.errno == errno.EISDIR


def test_nothing_runs_sees_code_run():
    """The audit hook the malformed and real-file tests rely on fails on what a payload does."""
    for payload in (lambda: os.system("true"), lambda: exec("1"),  # noqa: S605, S102
                    lambda: __import__("xml.dom.minidom"), lambda: pickle.loads(
                        b"cos\nsystem\n(S'true'\ntR.")):
        with pytest.raises(AssertionError, match="code ran while loading"):
            with nothing_runs():
                try:
                    payload()
                except Exception:  # noqa: BLE001, S110 - only the audit event matters
                    pass
    with pytest.raises(AssertionError, match="code ran"), nothing_runs():
        os.system("true")  # noqa: S605
        raise ptio.Error("a load that failed after running something")


def malformed_rows():
    base = os.environ.get("PTIO_MALFORMED_DIR", "")
    table = os.path.join(base, "cases.tsv") if base else ""
    if not table or not os.path.isfile(table):
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="no malformed table"))]
    with open(table, encoding="utf-8", newline="") as f:
        lines = [line for line in f if not line.startswith("# ")]
    rows = list(csv.DictReader(lines, delimiter="\t",
                               fieldnames=["file", "errc", "substring", "description"]))
    return [pytest.param(base, r, id=r["file"]) for r in rows]


@pytest.mark.parametrize("how", ["path", "copy", "bytes"])
@pytest.mark.parametrize("base,row", malformed_rows())
def test_malformed(base, row, how):
    path = os.path.join(base, row["file"])
    if how == "bytes":
        with open(path, "rb") as f:
            source, named = f.read(), "<bytes>"
    else:
        source, named = path, path
    try:
        with nothing_runs():
            ptio.load(source, map_location="cpu", mmap=(how == "path"))
    except ptio.Error as e:
        if row["errc"] != "any":
            assert e.code == row["errc"], f"{row['description']}: {e}"
            assert named in str(e), e
            wanted = [s.lower() for s in row["substring"].split("|") if s]
            assert not wanted or any(s in str(e).lower() for s in wanted), \
                f"{str(e)!r} contains none of {wanted}"
        return
    assert row["errc"] == "any", f"loaded, but the table says {row['errc']}: {row['description']}"
