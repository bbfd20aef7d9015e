"""What the ptio.load tests share besides the tree comparison: where the fixtures are, how the
process maps a file, and the table of bugs the tests know of.

KNOWN maps a fixture's file name to the bug that makes ptio.load get it wrong today; the tests
mark those files xfail(strict=True), so the mark must go when the bug is fixed.
"""

import contextlib
import os
import shutil
import sys

import pytest

from tree_oracle import tensor_bytes

# (the bug, the exception it makes the test fail with): a failure of another kind is not
# this bug, so it fails the run.
QUANTIZED = ("not supported: ptio.load refuses a quantized tensor (qint8, quint8, qint32) with "
             "ptio.Error (unsupported_format): the public ptio::tensor has no quantizer "
             "parameters to rebuild it with. (The oracle's stub loader cannot read the zip and "
             "legacy quantized.pt either: it stubs torch.per_tensor_affine.)", RuntimeError)
KNOWN = {
    "quantized.pt": QUANTIZED,
    # Torch 1.13 loads it and ptio refuses it (the quantized limitation above): the real-file
    # test's "ptio refuses what torch loads" assertion.
    "pytorch__android-demo-app/ViT4MNIST__app__src__main__assets__vit4mnist@2021-11.pth":
        (QUANTIZED[0], AssertionError),
}


def known_bug(name):
    """pytest marks for a file ptio.load gets wrong today (KNOWN), else none."""
    if name not in KNOWN:
        return []
    reason, raises = KNOWN[name]
    return [pytest.mark.xfail(reason=reason, raises=raises, strict=True)]


def fixture(name):
    base = os.environ.get("PTIO_FIXTURE_DIR", "")
    path = os.path.join(base, name)
    if not base or not os.path.isfile(path):
        pytest.skip(f"no fixture {name}")
    return path


def copied(tmp_path, name):
    target = tmp_path / name
    shutil.copyfile(fixture(name), target)
    return os.fspath(target)


def mapped_ranges(path):
    """(start, end) of each mapping of the file in this process (deleted or not)."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/maps", encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip().removesuffix(" (deleted)") == real:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                out.append((start, end))
    return out


def in_mapping(t, ranges):
    p = tensor_bytes(t).data_ptr()
    return any(start <= p < end for start, end in ranges)


# Audit events that mean code ran that a file could have asked for: a process, a shell, code
# compiled or executed, a connection, Python's own unpickler looking up a class, or a module
# imported that ptio itself does not use.
_RUNS = {"os.system", "subprocess.Popen", "os.posix_spawn", "os.spawn", "os.fork", "os.startfile",
         "exec", "compile", "socket.connect", "socket.getaddrinfo", "pickle.find_class",
         "ctypes.dlopen", "builtins.input", "webbrowser.open", "shutil.rmtree", "os.remove"}
_OWN_MODULES = ("numpy", "torch", "ptio", "tqdm", "encodings")
_audit = {"on": False, "seen": []}


def _hook(event, args):
    if not _audit["on"]:
        return
    if event in _RUNS or event.startswith("os.exec"):
        _audit["seen"].append((event, repr(args)[:120]))
    elif event == "import" and not str(args[0]).split(".")[0] in _OWN_MODULES:
        _audit["seen"].append((event, str(args[0])))


sys.addaudithook(_hook)  # hooks cannot be removed; this one records only inside nothing_runs()


@contextlib.contextmanager
def nothing_runs():
    """Fails the test if, inside the block, Python ran anything a file could have named."""
    _audit["seen"] = []
    _audit["on"] = True
    try:
        yield
    finally:  # also when the load raised: what ran matters more than how it ended
        _audit["on"] = False
        assert _audit["seen"] == [], f"code ran while loading: {_audit['seen'][:5]}"
