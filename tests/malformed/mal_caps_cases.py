"""Cases for the caps on what a file may cost, the failures third-party code raises, FRAME
lengths and the words of overflowing tensor geometry.

Part of make_malformed.py: each function adds its rows to run's table (mal_bases.Run), in the
order make_malformed.py calls them. The bombs are written through zipfile's streaming writer,
so the generator never holds their inflated pickles.
"""

import io
import random
import zipfile

from mal_pickle import (APPEND, BINPERSID, EMPTY_LIST, MARK, NEWFALSE, NONE, PROTO2, REDUCE,
                        STOP, TUPLE, B_BYTES, W_BYTES, glob, ints, pint, state_dict, storage_pid,
                        tensor_v2, u32, u64)
from mal_zip import zip_with_pickle


def deflated_zip(parts, repeat, tail):
    """A zip whose data.pkl (deflated) is parts[0] + parts[1] * repeat + tail, written in
    chunks; the two storages of the good pickle beside it."""
    head, body = parts
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("archive/data.pkl", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            f.write(head)
            chunk = body * max(1, (1 << 20) // len(body))
            per = len(chunk) // len(body)
            left = repeat
            while left >= per:
                f.write(chunk)
                left -= per
            f.write(body * left + tail)
        for name, data in (("data/0", W_BYTES), ("data/1", B_BYTES), ("version", b"3\n")):
            z.writestr(zipfile.ZipInfo("archive/" + name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def bombs(run):
    """Small files whose pickles would build huge trees: refused at the metadata cap."""
    cap = "metadata cap|max_nodes"
    run.case("caps_container_bomb.pt", "limit_exceeded", cap,
             "a 24 kB file whose deflated data.pkl is 12 million EMPTY_LIST APPEND pairs (24 MB): "
             "the tree would take 2 GB",
             deflated_zip((PROTO2 + EMPTY_LIST, EMPTY_LIST + APPEND), 12_000_000, STOP))
    run.case("caps_container_bomb_big.pt", "limit_exceeded", cap,
             "a 490 kB file whose deflated data.pkl is 252 million EMPTY_LIST APPEND pairs "
             "(504 MB, which would grow past 6 GB): refused before it is inflated",
             deflated_zip((PROTO2 + EMPTY_LIST, EMPTY_LIST + APPEND), 252_000_000, STOP))
    # The relative cap by itself, named in the message: 5 million empty lists are well under
    # max_nodes (2^24), but far past 16 MiB + 128 bytes per byte of a 10 kB file.
    run.case("caps_metadata_lists.pt", "limit_exceeded", "metadata_per_pickle_byte",
             "a 10 kB file whose deflated data.pkl is 10 MB of EMPTY_LIST APPEND (5 million "
             "empty lists, under max_nodes): past the metadata cap relative to the file",
             deflated_zip((PROTO2 + EMPTY_LIST, EMPTY_LIST + APPEND), 5_000_000, STOP))
    run.case("caps_memo_bomb.pt", "limit_exceeded", cap,
             "deflated protocol 4 data.pkl: NONE then 16 million MEMOIZE (memo slots, no nodes)",
             deflated_zip((b"\x80\x04" + NONE, b"\x94"), 16_000_000, STOP))
    run.case("caps_stack_bomb.pt", "limit_exceeded", cap,
             "deflated data.pkl: 16 million NONEs left on the stack (stack slots, no nodes)",
             deflated_zip((PROTO2, NONE), 16_000_000, STOP))
    run.case("caps_mark_bomb.pt", "limit_exceeded", cap,
             "deflated data.pkl: 16 million open MARKs", deflated_zip((PROTO2, MARK), 16_000_000,
                                                                      NONE + STOP))
    # _rebuild_tensor_v2 and a 64-dimension argument tuple in the memo; each BINGET BINGET
    # REDUCE POP (7 bytes) then makes a tensor of 64 sizes and strides.
    dims = 64
    args = (MARK + storage_pid() + BINPERSID + pint(0) + ints((1,) * dims) + ints((1,) * dims)
            + NEWFALSE + glob("collections", "OrderedDict") + b")" + REDUCE + TUPLE)
    head = PROTO2 + glob("torch._utils", "_rebuild_tensor_v2") + b"q\x00" + args + b"q\x01" + b"0"
    run.case("caps_tensor_bomb.pt", "limit_exceeded", cap,
             "deflated data.pkl: 4 million REDUCEs of a memoized _rebuild_tensor_v2 and "
             "64-dimension arguments (a tensor's metadata per 6 bytes)",
             deflated_zip((head, b"h\x00h\x01R0"), 4_000_000, NONE + STOP))


def near_the_caps(run):
    """Files under 1 MB that may open (the caps allow them) but must stay cheap in every
    command: tests/cli_bounds.py runs each command on them under rlimits."""
    n = 1_000_000
    run.case("caps_stored_tuples.pt", "any", "",
             f"a stored data.pkl of {n} EMPTY_TUPLEs (a node per byte, within the caps)",
             zip_with_pickle(PROTO2 + b")" * n + STOP))
    run.case("caps_stored_lists.pt", "any", "",
             f"a stored data.pkl of {n // 2} EMPTY_LIST APPEND pairs: one list of empty lists",
             zip_with_pickle(PROTO2 + EMPTY_LIST + (EMPTY_LIST + APPEND) * (n // 2) + STOP))
    # 800 kB of random bytes (they do not deflate) buy the file a budget for 100 MB of
    # NONE POP, which deflates to almost nothing: about as much pickle as a file under 1 MB
    # may run.
    junk = random.Random(12).randbytes(800_000)
    head = PROTO2 + b"B" + u32(len(junk)) + junk + b"0"
    run.case("caps_time_bomb.pt", "any", "",
             "a deflated data.pkl of 800 kB of random bytes, then 50 million NONE POP pairs",
             deflated_zip((head, NONE + b"0"), 50_000_000, NONE + STOP))


def frames(run):
    """FRAME lengths: checked as CPython's unpickler checks them."""
    def pcase(name, errc, description, body, substring):
        run.case(name, errc, substring, description, zip_with_pickle(b"\x80\x04" + body))

    pcase("frame_past_end.pt", "truncated", "FRAME of 1000 bytes with 2 left in data.pkl",
          b"\x95" + u64(1000) + NONE + STOP, "FRAME of 1000 bytes")
    pcase("frame_huge.pt", "truncated", "FRAME of 2^64 - 1 bytes",
          b"\x95" + u64(2**64 - 1) + NONE + STOP, "FRAME of 18446744073709551615 bytes")
    pcase("frame_straddled.pt", "bad_pickle",
          "FRAME of 2 bytes, then BININT (5 bytes) starting inside it",
          b"\x95" + u64(2) + b"J\x01\x00\x00\x00" + STOP, "past the end of its FRAME")
    pcase("frame_in_frame.pt", "bad_pickle",
          "FRAME of 12 bytes whose first opcode is another FRAME",
          b"\x95" + u64(12) + b"\x95" + u64(1) + NONE + b"0" + NONE + STOP,
          "before the end of the current frame")


def geometry_words(run):
    """Strides near 2^63: the message gives the true size (more than 2^64 bytes), never a
    wrapped count."""
    def tcase(name, description, **kw):
        run.case(name, "bad_tensor", "more than 2^64 bytes", description,
                 zip_with_pickle(state_dict([("w", tensor_v2(**kw))])))

    tcase("view_stride_2p63.pt", "size (2,) stride (2^63-1,) float32: byte 2^65 - 4",
          size=(2,), stride=(2**63 - 1,))
    tcase("view_strides_2p62.pt", "size (3,) stride (2^62,) float32: element 2^63",
          size=(3,), stride=(2**62,))
    tcase("view_strides_sum.pt", "size (2, 2) stride (2^62, 2^62 - 1) float32, offset 5",
          size=(2, 2), stride=(2**62, 2**62 - 1), offset=5)


def indexes(run):
    """Hugging Face indexes whose JSON a library call would refuse with its own exception."""
    def icase(name, substring, description, text):
        run.case(name, "not_a_checkpoint", substring + "|zip header", description, text)

    wm = b'"weight_map": {"w": "a.bin"}'
    icase("index_1e999.index.json", "number overflow",
          "metadata.total_size 1e999 (past a double: nlohmann throws out_of_range)",
          b'{"metadata": {"total_size": 1e999}, ' + wm + b"}")
    icase("index_neg_1e999.index.json", "number overflow", "a weight_map value of -1e999",
          b'{"weight_map": {"w": -1e999}}')
    icase("index_big_int.index.json", "json number",
          "a weight_map value that is a 30-digit integer", b'{"weight_map": {"w": '
          + b"9" * 30 + b"}}")
    icase("index_weight_map_array.index.json", "not an object", "weight_map is an array",
          b'{"weight_map": ["w", "a.bin"]}')
    icase("index_weight_map_null.index.json", "not an object", "weight_map is null",
          b'{"weight_map": null}')
    icase("index_root_string.index.json", "not an object", "the index is a JSON string",
          b'"weight_map"')
    icase("index_value_object.index.json", "json object",
          "a weight_map value that is an object", b'{"weight_map": {"w": {"file": "a.bin"}}}')
    icase("index_bad_utf8.index.json", "utf-8|invalid string",
          "a tensor name that is not UTF-8", b'{"weight_map": {"\xff\xfe": "a.bin"}}')
