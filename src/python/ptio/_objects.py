"""What ptio makes of the globals a file names, and ptio.Opaque for the ones it does not run.

The C++ module calls these while it converts a checkpoint's object tree. Nothing here imports
a module or calls a callable that the file names: every global that becomes a real Python
object is in the fixed table below (what torch.load(weights_only=True) would build: devices,
dtypes, layouts, memory formats, complex numbers, numpy dtypes; also what torch's full loader
builds from a pre-1.0 Parameter and a numpy array of objects), built from arguments of the
expected types only. Every other global stays a ptio.Opaque.
"""

import collections
import math

import torch

__all__ = ["Opaque"]


class Opaque:
    """A global ptio did not run: a class, a call of it, or an instance (a pickled nn.Module,
    an optimizer, a dataclass, a TorchScript object).

    - ``name``: the qualified global, "module.name" ("torch.nn.modules.linear.Linear");
    - ``origin``: "global" (the bare class or function), "call" (REDUCE: called with ``args``)
      or "instance" (NEWOBJ/INST/OBJ: made with ``args``, then given ``state``), or
      "subclass" (a tensor of a subclass of torch.Tensor: ``args`` is the tensor alone,
      ``state`` the attributes torch sets on it);
    - ``args``: the tuple of arguments, or None for a bare global;
    - ``state``: what the pickle's BUILD gave it (an nn.Module's ``__dict__``), or None;
    - ``items`` / ``entries``: what APPEND and SETITEM added to it (lists and dict pairs).

    Every tensor inside is a real torch tensor. Attribute access falls through to a dict
    ``state``, so ``module._parameters["weight"]`` works on a pickled module.
    """

    __slots__ = ("name", "origin", "args", "state", "items", "entries", "__weakref__")

    def __init__(self, name, origin="instance", args=None, state=None, items=None, entries=None):
        self.name = name
        self.origin = origin
        self.args = args
        self.state = state
        self.items = [] if items is None else items
        self.entries = [] if entries is None else entries

    @property
    def module(self):
        return self.name.rpartition(".")[0]

    @property
    def qualname(self):
        return self.name.rpartition(".")[2]

    def __getattr__(self, attr):
        state = object.__getattribute__(self, "state")
        if isinstance(state, dict) and attr in state:
            return state[attr]
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict) \
                and attr in state[1]:  # (dict, slots) states
            return state[1][attr]
        raise AttributeError(f"{self.name} (a ptio.Opaque) has no attribute {attr!r}")

    def __repr__(self):
        return f"ptio.Opaque({self.name}, origin={self.origin})"

    def __eq__(self, other):
        if not isinstance(other, Opaque):
            return NotImplemented
        return (self.name, self.origin, self.args, self.items, self.entries) == \
            (other.name, other.origin, other.args, other.items, other.entries) and \
            _same_state(self.state, other.state)

    __hash__ = object.__hash__


def _same_state(a, b):
    if a is b:
        return True
    try:
        return bool(a == b)
    except RuntimeError:  # tensors inside: compare them with the tree helpers, not ==
        return False


_DICTS = {
    "dict": dict,
    "builtins.dict": dict,
    "collections.OrderedDict": collections.OrderedDict,
    "collections.Counter": collections.Counter,
    "collections.defaultdict": collections.defaultdict,
}


def make_dict(class_name):
    return _DICTS.get(class_name, dict)()


def set_state(d, state):
    """BUILD on a dict subclass: its attributes (an OrderedDict state_dict's _metadata)."""
    if type(d) is dict or not isinstance(state, dict):
        return
    for key, value in state.items():
        if isinstance(key, str):
            setattr(d, key, value)


def torch_size(items):
    if all(type(i) is int for i in items):
        return torch.Size(items)
    return items


def make(name, origin):
    return Opaque(name, origin)


def _torch_attr(name, kinds):
    value = getattr(torch, name, None)
    return value if isinstance(value, kinds) else None


def _device(args):
    if 1 <= len(args) <= 2 and isinstance(args[0], str) and \
            (len(args) == 1 or type(args[1]) is int):
        return torch.device(*args)
    return None


def _complex(args):
    if len(args) == 2 and all(type(a) in (int, float) for a in args):
        return complex(*args)
    return None


def _layout(args):
    if len(args) == 1 and isinstance(args[0], str) and args[0].startswith("torch."):
        return _torch_attr(args[0][len("torch."):], torch.layout)
    return None


def _numpy_dtype(args, state):
    import numpy  # noqa: PLC0415 - only files holding numpy dtypes need it
    if not (len(args) == 3 and isinstance(args[0], str) and len(args[0]) <= 8 and
            all(type(a) is bool for a in args[1:])):
        return None
    try:
        dt = numpy.dtype(args[0], args[1], args[2])
        if isinstance(state, tuple):
            dt.__setstate__(state)
    except (TypeError, ValueError):
        return None
    return dt


_RECONSTRUCT = ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct")


def _object_array(args, state):
    """numpy's pickle of an array of Python objects: _reconstruct(ndarray, (0,), b"b"), then
    ndarray.__setstate__((1, shape, dtype, is_fortran, [objects])). The objects are already
    values of the tree; nothing is called but numpy's own constructor. (Arrays of numbers
    reach ptio's C++ side as tensors and never come here.)"""
    import numpy  # noqa: PLC0415 - only files holding numpy arrays need it
    if not (len(args) == 3 and isinstance(args[0], Opaque) and args[0].origin == "global" and
            args[0].name in ("numpy.ndarray", "numpy.core.multiarray.ndarray")):
        return None
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
        return None
    _, shape, dtype, fortran, data = state
    if not (isinstance(dtype, numpy.dtype) and dtype.kind == "O" and isinstance(data, list) and
            isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape) and
            type(fortran) is bool and math.prod(shape) == len(data)):
        return None
    out = numpy.empty(len(data), dtype=object)
    for i, item in enumerate(data):  # one by one: a list item must stay one object
        out[i] = item
    return out.reshape(shape, order="F" if fortran else "C")


def _parameter(args, state):
    """torch.nn.Parameter(data[, requires_grad]) as pre-1.0 torch pickled it: a call, then
    Variable's BUILD state (requires_grad, volatile, backward hooks), as Tensor.__setstate__
    reads it."""
    if not (1 <= len(args) <= 2 and isinstance(args[0], torch.Tensor) and
            (len(args) == 1 or type(args[1]) is bool)):
        return None
    requires_grad = args[1] if len(args) == 2 else True
    if isinstance(state, tuple) and len(state) == 3 and type(state[0]) is bool and state[2] is None:
        requires_grad = state[0]
    elif state is not None:
        return None
    try:
        return torch.nn.Parameter(args[0], requires_grad)
    except RuntimeError:  # requires_grad on an integer tensor
        return None


_CALLS = {
    "torch.device": _device,
    "builtins.complex": _complex,
    "torch.serialization._get_layout": _layout,
}
_TORCH_VALUES = (torch.dtype, torch.layout, torch.memory_format)


def fill(shell, args, state, items, entries):
    """The object a global stands for, or `shell` filled in as a ptio.Opaque."""
    name, origin = shell.name, shell.origin
    real = None
    if origin == "global" and name.startswith("torch.") and name.count(".") == 1:
        real = _torch_attr(name[len("torch."):], _TORCH_VALUES)
    elif origin == "call" and isinstance(args, tuple) and not items and not entries:
        if name in _CALLS and state is None:
            real = _CALLS[name](args)
        elif name == "numpy.dtype":
            real = _numpy_dtype(args, state)
        elif name == "torch.nn.parameter.Parameter":
            real = _parameter(args, state)
        elif name in _RECONSTRUCT:
            real = _object_array(args, state)
    if real is not None:
        return real
    shell.args, shell.state, shell.items, shell.entries = args, state, items, entries
    return shell
