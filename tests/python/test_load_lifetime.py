"""ptio.load's memory: writable views that never reach the file, tensors that outlive the file,
owned copies, no growth over a thousand loads, and eight threads loading at once.

The mapping is observed through /proc/self/maps (a line naming the file while any tensor over
it lives) and memory through /proc/self/statm; nothing here is timed.
"""

import gc
import os
import sys
import threading
import time

import pytest
import torch

import ptio
from load_support import copied, fixture, in_mapping, mapped_ranges
from real_load import torch_load
from tree_oracle import same_tree, tensor_bytes, tensors_in

FIXTURES = ("views.pt", "dtypes.pt", "big.pt", "training.pt", "list_root.pt", "parameters.pt")


def nonempty_tensors(tree):
    return [(n, t) for n, t in tensors_in(tree) if tensor_bytes(t).numel() > 0]


@pytest.mark.parametrize("name", FIXTURES)
def test_writes_never_reach_the_file(tmp_path, name):
    path = copied(tmp_path, name)
    with open(path, "rb") as f:
        before = f.read()
    got = ptio.load(path)
    tensors = nonempty_tensors(got)
    assert tensors
    ranges = mapped_ranges(path)
    assert ranges, "ptio.load(mmap=True) of a path maps the file"
    for _, t in tensors:
        assert in_mapping(t, ranges), "a CPU tensor of a stored record is a view of the mapping"
        tensor_bytes(t).fill_(0xA5)  # every byte of its storage, through the view
    for n, t in tensors:
        assert bool((tensor_bytes(t) == 0xA5).all()), f"{n}: the write did not land"
    with open(path, "rb") as f:
        assert f.read() == before, "a write through a view reached the file"
    again = ptio.load(path)  # a second mapping sees the file, not the first one's writes
    for n, t in nonempty_tensors(again):
        assert not bool((tensor_bytes(t) == 0xA5).all()), n


def test_tensors_outlive_the_file_and_the_tree(tmp_path):
    path = copied(tmp_path, "views.pt")
    want, _, why = torch_load(path, "zip")
    assert why is None
    got = ptio.load(path)
    os.remove(path)
    gc.collect()
    assert same_tree(got, want) == [], "after the file was deleted"
    keep = got["strided"]
    del got
    gc.collect()
    assert mapped_ranges(path), "the mapping lives while a tensor over it does"
    assert torch.equal(keep, want["strided"])
    del keep
    gc.collect()
    assert mapped_ranges(path) == [], "the mapping outlived the last tensor over it"


def test_mmap_false_gives_owned_copies(tmp_path):
    path = copied(tmp_path, "big.pt")
    want, _, why = torch_load(path, "zip")
    assert why is None
    got = ptio.load(path, mmap=False)
    ranges = mapped_ranges(path)
    assert same_tree(got, want) == []
    for n, t in nonempty_tensors(got):
        assert not in_mapping(t, ranges), f"{n}: mmap=False gave a view of the file"
    for _, t in nonempty_tensors(got):
        tensor_bytes(t).fill_(0)
    assert same_tree(ptio.load(path, mmap=False), want) == [], "copies are independent"
    os.remove(path)
    assert all(not bool(tensor_bytes(t).any()) for _, t in nonempty_tensors(got))


def resident_bytes():
    with open("/proc/self/statm", encoding="utf-8") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("how", ["mmap", "copy", "bytes"])
def test_a_thousand_loads_do_not_grow_memory(how):
    path = fixture("training.pt")
    with open(path, "rb") as f:
        data = f.read()

    def once():
        if how == "bytes":
            tree = ptio.load(data)
        else:
            tree = ptio.load(path, mmap=(how == "mmap"))
        assert tree["epoch"] == 3
        del tree

    for _ in range(100):  # allocator pools, torch's caches and pybind's type tables settle
        once()
    gc.collect()
    rss, fds = resident_bytes(), open_fds()
    for _ in range(1000):
        once()
    gc.collect()
    grown = resident_bytes() - rss
    # training.pt is ~20 KiB: a leak of one file's worth per load would be 20 MB.
    assert grown < 4 << 20, f"resident memory grew {grown} bytes over 1000 loads"
    assert open_fds() == fds, "file descriptors leaked"
    assert mapped_ranges(path) == []


def test_eight_threads_load_at_once():
    path = fixture("big.pt")
    want, _, why = torch_load(path, "zip")
    assert why is None
    barrier = threading.Barrier(8)
    results, errors = [None] * 8, []

    def work(i):
        try:
            barrier.wait()
            trees = [ptio.load(path, mmap=(i % 2 == 0)) for _ in range(4)]
            results[i] = [same_tree(t, want) for t in trees]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [[[]] * 4] * 8


def test_the_gil_is_released_while_loading(tmp_path):
    """With a switch interval of minutes, another thread runs during ptio.load only if ptio
    lets go of the GIL. The other thread sleeps between counts (giving the GIL straight back),
    so the count moves during a load exactly when the load released the GIL."""
    path = os.fspath(tmp_path / "large.pt")
    torch.save({"w": torch.ones(16 << 20)}, path)  # 64 MiB, copied by mmap=False
    stop, count = threading.Event(), [0]

    def counter():
        while not stop.is_set():
            count[0] += 1
            time.sleep(0.0001)

    interval = sys.getswitchinterval()
    worker = threading.Thread(target=counter)
    worker.start()
    moved = []
    try:
        sys.setswitchinterval(300)
        for _ in range(5):
            before = count[0]
            tree = ptio.load(path, mmap=False)
            moved.append(count[0] - before)
            del tree
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        worker.join()
    assert any(m > 0 for m in moved), f"no other thread ran during any load: {moved}"
