"""ptio.open: one checkpoint, read a tensor at a time, in the manner of safetensors' safe_open."""

import collections

from . import _ptio
from ._load import _source

__all__ = ["open", "Checkpoint", "TensorInfo"]

TensorInfo = collections.namedtuple(
    "TensorInfo", ["dtype", "shape", "stride", "storage_offset", "nbytes", "location",
                   "requires_grad", "parameter", "storage"])
TensorInfo.__doc__ = """What the file says of a tensor, read without touching its data.

dtype (torch.dtype), shape (tuple), stride (tuple, in elements), storage_offset (elements),
nbytes (of the elements the tensor shows), location (the saved tag, "cpu", "cuda:0"),
requires_grad, parameter (saved as an nn.Parameter), storage (its key: record data/<key>)."""


class Slice:
    """A tensor not yet read: ``[...]`` reads only the elements asked for."""

    def __init__(self, checkpoint, name):
        self._checkpoint, self._name = checkpoint, name
        self._info = checkpoint.info(name)

    def get_shape(self):
        return list(self._info.shape)

    def get_dtype(self):
        return self._info.dtype

    def __getitem__(self, index):
        # The view costs no read; clone() reads only the pages holding the chosen elements.
        return self._checkpoint.get_tensor(self._name)[index].clone()


class Checkpoint:
    """An open checkpoint; what ``ptio.open`` returns. Use it as a context manager.

    Tensors come back as CPU views of a private copy-on-write mapping (writable; no write
    reaches the file), whatever device they were saved from; two tensors over one storage of
    the file share one torch storage. Every tensor outlives the handle and the file's deletion.
    """

    def __init__(self, f, weights_only=False):
        self._handle = _ptio._Handle(_source(f), bool(weights_only))
        self._file = self._handle.file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self._handle.close()

    @property
    def closed(self):
        return self._handle.closed

    @property
    def file(self):
        return self._file

    @property
    def format(self):
        """"zip", "legacy", "tar", "torchscript" or "sharded"."""
        return self._handle.format

    def keys(self):
        """Tensor names as ``ptio ls`` gives them, in its order (depth-first, pickle order)."""
        return self._handle.keys()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __contains__(self, name):
        return isinstance(name, str) and self._handle.contains(name)

    def get_tensor(self, name):
        """The tensor with this name (a tree path, or a ``state_dict()`` name)."""
        return self._handle.get(name)

    def get_slice(self, name):
        return Slice(self, name)

    def export(self, name):
        """The tensor as a ptio.TensorExport: numpy.from_dlpack, cupy, jax or torch take it
        through __dlpack__ with no copy (writable: the mapping is private)."""
        return self._handle.export(name)

    def info(self, name):
        return TensorInfo(*self._handle.info(name))

    def metadata(self):
        """The root's entries that hold no tensor (a checkpoint's epoch, config, ...)."""
        return self._handle.metadata()

    def state_dict(self):
        """An OrderedDict of the tensors named as ``model.state_dict()`` names them, for files
        that pickle whole modules or optimizers; for plain state_dicts the same as ``keys()``."""
        return collections.OrderedDict(self._handle.state_dict())

    def root(self):
        """The whole object, as ``ptio.load`` returns it."""
        return self._handle.root()

    def __repr__(self):
        state = "closed" if self.closed else self.format
        return f"<ptio.Checkpoint {self._file!r} ({state})>"


def open(f, *, weights_only=False):  # noqa: A001 - the name safetensors users expect
    """Open a torch.save file for reading tensor by tensor (see Checkpoint)."""
    return Checkpoint(f, weights_only)
