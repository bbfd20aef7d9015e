"""The files the C++ test uses by name (not in cases.tsv): CRC errors, cycles, and hostile
files whose failure mode would be a crash or exhausted memory.

Part of make_malformed.py, which lists each file in its docstring.
"""

import io

from mal_pickle import (APPEND, BINPERSID, EMPTY_DICT, EMPTY_LIST, MARK, NEWFALSE, NONE, PROTO2,
                        REDUCE, SETITEM, SETITEMS, STOP, TUPLE, glob, ints, pint, storage_pid,
                        tensor_v2, u32, ustr)
from mal_zip import patch, zip_with_pickle


def named_files(run):
    """Writes the files tests/checkpoint/malformed.cpp opens by name."""
    write, torch, base, pkl, d0 = run.write, run.torch, run.base, run.pkl, run.d0
    write("crc_payload.pt", patch(base, d0.payload + 1, bytes([base[d0.payload + 1] ^ 0x40])))
    i = base.index(b"X\x01\x00\x00\x00w", pkl.payload, pkl.end)
    write("crc_datapkl.pt", patch(base, i + 5, b"x"))
    t_item = tensor_v2()
    write("cycle_list.pt", zip_with_pickle(
        PROTO2 + EMPTY_LIST + b"q\x00" + t_item + APPEND + b"h\x00" + APPEND + STOP))
    write("cycle_dict.pt", zip_with_pickle(
        PROTO2 + EMPTY_DICT + b"q\x00" + MARK + ustr("t") + t_item + ustr("self") + b"h\x00"
        + SETITEMS + STOP))
    # T0 = t; T(k+1) = (Tk, Tk) through the memo: 2^40 paths end at the one tensor.
    lv = 40
    body = t_item + b"r" + u32(0)
    for k in range(1, lv + 1):
        body += b"j" + u32(k - 1) + b"\x86" + b"r" + u32(k)
    write("exponential.pt", zip_with_pickle(PROTO2 + body + STOP))


    # Hostile files whose failure mode is a crash or exhausted memory; each has its own
    # TEST_CASE so one crash does not hide the others.
    deep = 100000
    # A dict key that is a 1-tuple nested 100000 deep, mapping to a tensor.
    write("deep_dict_key.pt", zip_with_pickle(
        PROTO2 + EMPTY_DICT + NONE + b"\x85" * deep + t_item + SETITEM + STOP))
    # A dict key that is a 40-level DAG of 2-tuples (T0 = None, Tk = (Tk-1, Tk-1)): its repr has
    # 2^40 parts.
    body = NONE + b"r" + u32(0)
    for k in range(1, 41):
        body += b"j" + u32(k - 1) + b"\x86" + b"r" + u32(k)
    write("exponential_dict_key.pt", zip_with_pickle(
        PROTO2 + EMPTY_DICT + body + t_item + SETITEM + STOP))
    # _rebuild_from_type_v2(F, Tensor, (F, Tensor, (... (_rebuild_tensor_v2, Tensor, args, {})
    # ...), {}), {}) nested 100000 deep; 3 deep loads in torch.
    F = glob("torch._tensor", "_rebuild_from_type_v2")
    targs = (MARK + storage_pid() + BINPERSID + pint(0) + ints((2, 3)) + ints((3, 1)) + NEWFALSE
             + EMPTY_DICT + TUPLE)

    def from_type_chain(levels):
        s = PROTO2 + F + b"q\x00" + MARK + b"h\x00" + glob("torch", "Tensor") + b"q\x01"
        s += (MARK + b"h\x00" + b"h\x01") * (levels - 1)
        s += MARK + glob("torch._utils", "_rebuild_tensor_v2") + b"h\x01" + targs + EMPTY_DICT + TUPLE
        s += (EMPTY_DICT + TUPLE) * levels
        return zip_with_pickle(s + REDUCE + STOP)

    chain3 = from_type_chain(3)
    assert torch.load(io.BytesIO(chain3)).shape == (2, 3)
    write("from_type_chain_3.pt", chain3)
    write("from_type_chain_deep.pt", from_type_chain(deep))
