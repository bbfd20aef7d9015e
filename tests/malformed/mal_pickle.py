"""Protocol-2 pickle bytes written by hand, and the two tensors every checkpoint holds.

Part of make_malformed.py (see its docstring for the table these build).
"""

import struct


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def i32(v):
    return struct.pack("<i", v)


def u64(v):
    return struct.pack("<Q", v)


PROTO2 = b"\x80\x02"
MARK = b"("
STOP = b"."
TUPLE = b"t"
EMPTY_TUPLE = b")"
EMPTY_LIST = b"]"
EMPTY_DICT = b"}"
APPEND = b"a"
APPENDS = b"e"
SETITEM = b"s"
SETITEMS = b"u"
REDUCE = b"R"
BINPERSID = b"Q"
NEWFALSE = b"\x89"
NONE = b"N"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def ustr(s):
    d = s.encode()
    return b"X" + u32(len(d)) + d


def pint(v):
    if 0 <= v < 256:
        return b"K" + u8(v)
    if -(2**31) <= v < 2**31:
        return b"J" + i32(v)
    n = 1
    while not (-(2 ** (8 * n - 1)) <= v < 2 ** (8 * n - 1)):
        n += 1
    return b"\x8a" + u8(n) + v.to_bytes(n, "little", signed=True)


def ptuple(items):
    return MARK + b"".join(items) + TUPLE


def ints(vals):
    return ptuple([pint(v) for v in vals])


def storage_pid(cls="FloatStorage", key="0", location="cpu", numel=6, module="torch"):
    return ptuple([ustr("storage"), glob(module, cls), ustr(key), ustr(location), pint(numel)])


def tensor_v2(pid=None, offset=0, size=(2, 3), stride=(3, 1), offset_bytes=None, size_bytes=None,
              stride_bytes=None):
    """_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""
    pid = storage_pid() if pid is None else pid
    return (glob("torch._utils", "_rebuild_tensor_v2") + MARK + pid + BINPERSID
            + (pint(offset) if offset_bytes is None else offset_bytes)
            + (ints(size) if size_bytes is None else size_bytes)
            + (ints(stride) if stride_bytes is None else stride_bytes)
            + NEWFALSE + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
            + TUPLE + REDUCE)


def state_dict(items):
    """OrderedDict of (key, pickled value) pairs, then STOP."""
    body = b"".join(ustr(k) + v for k, v in items)
    return (PROTO2 + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK + body
            + SETITEMS + STOP)


W_BYTES = struct.pack("<6f", *range(6))
B_BYTES = struct.pack("<3q", 1, 1, 1)


def good_pickle():
    return state_dict([
        ("w", tensor_v2()),
        ("b", tensor_v2(storage_pid("LongStorage", "1", numel=3), size=(3,), stride=(1,))),
    ])

