"""Cases in the pickle stream itself, and pickles that name code to run.

Part of make_malformed.py: each function adds its rows to run's table (mal_bases.Run), in the
order make_malformed.py calls them.
"""

from mal_pickle import (APPEND, APPENDS, BINPERSID, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, MARK,
                        NONE, PROTO2, REDUCE, SETITEM, SETITEMS, STOP, TUPLE, glob, good_pickle,
                        i32, pint, ptuple, u32, u64, ustr)
from mal_zip import zip_with_pickle


def pcase_of(run):
    """case() for a file that is a good zip around the pickle bytes given."""
    def pcase(name, errc, description, pickle_bytes, substring="data.pkl: at offset"):
        run.case(name, errc, substring, description, zip_with_pickle(pickle_bytes))

    return pcase


def pickle_stream(run):
    """Pickle streams that are cut, malformed, or nested past the limits."""
    pcase = pcase_of(run)

    pcase("pickle_no_stop.pt", "truncated",
          "the good pickle without its final STOP (bad_pickle would fit too; the stream runs past "
          "the end of its record)", good_pickle()[:-1])
    pcase("pickle_proto_only.pt", "truncated", "data.pkl is PROTO 2 and nothing else", PROTO2)
    pcase("pickle_binunicode_4g.pt", "truncated",
          "BINUNICODE with length 0xFFFFFFFF and 3 bytes left (limit_exceeded would fit too; the "
          "string runs past the end of data.pkl)", PROTO2 + b"X" + u32(0xFFFFFFFF) + b"abc" + STOP)
    pcase("pickle_binunicode8_huge.pt", "truncated",
          "BINUNICODE8 with length 2^64-1 (position + length wraps)",
          PROTO2 + b"\x8d" + u64(2**64 - 1) + b"abc" + STOP)
    pcase("pickle_binbytes8_huge.pt", "truncated", "BINBYTES8 with length 2^63",
          b"\x80\x04" + b"\x8e" + u64(2**63) + b"abc" + STOP)
    pcase("pickle_long4_huge.pt", "truncated",
          "LONG4 with length 0x7FFFFFFF and 4 bytes left (limit_exceeded would fit too)",
          PROTO2 + b"\x8b" + i32(0x7FFFFFFF) + b"\x01\x02\x03\x04" + STOP)
    pcase("pickle_long4_negative.pt", "bad_pickle", "LONG4 with a negative length (-1)",
          PROTO2 + b"\x8b" + i32(-1) + b"\x01\x02\x03\x04" + STOP)
    pcase("pickle_binstring_negative.pt", "bad_pickle", "BINSTRING with a negative length (-5)",
          PROTO2 + b"T" + i32(-5) + b"abcde" + STOP)
    pcase("pickle_global_no_newline.pt", "truncated",
          "GLOBAL 'collections' with no newline before the end of data.pkl",
          PROTO2 + b"ccollections")
    pcase("pickle_binfloat_cut.pt", "truncated", "BINFLOAT with 3 of its 8 bytes",
          PROTO2 + b"G\x3f\xf0\x00")
    pcase("pickle_unknown_opcode.pt", "unknown_opcode", "opcode byte 0xFF after PROTO 2",
          PROTO2 + b"\xff" + STOP)
    pcase("pickle_opcode_zero.pt", "unknown_opcode", "opcode byte 0x00 after PROTO 2",
          PROTO2 + b"\x00" + STOP)
    pcase("pickle_ext1.pt", "unknown_opcode", "EXT1 1 (extension registry)",
          PROTO2 + b"\x82\x01" + STOP)
    pcase("pickle_ext2.pt", "unknown_opcode", "EXT2 0x0102", PROTO2 + b"\x83\x02\x01" + STOP)
    pcase("pickle_ext4.pt", "unknown_opcode", "EXT4 0x01020304",
          PROTO2 + b"\x84\x04\x03\x02\x01" + STOP)
    pcase("pickle_next_buffer.pt", "unknown_opcode", "protocol 5 NEXT_BUFFER (out-of-band data)",
          b"\x80\x05" + b"\x97" + STOP)
    pcase("pickle_readonly_buffer.pt", "unknown_opcode", "protocol 5 READONLY_BUFFER",
          b"\x80\x05" + b"C\x01a" + b"\x98" + STOP)
    pcase("pickle_bad_proto.pt", "bad_pickle", "PROTO 9 (no such protocol)",
          b"\x80\x09" + NONE + STOP)
    pcase("pickle_append_empty.pt", "bad_pickle", "APPEND on an empty stack", PROTO2 + APPEND + STOP)
    pcase("pickle_append_one.pt", "bad_pickle", "APPEND with only the list on the stack",
          PROTO2 + EMPTY_LIST + APPEND + STOP)
    pcase("pickle_stop_empty.pt", "bad_pickle", "STOP with an empty stack", PROTO2 + STOP)
    pcase("pickle_stop_mark_only.pt", "bad_pickle", "MARK then STOP (no value above the mark)",
          PROTO2 + MARK + STOP)
    pcase("pickle_tuple_no_mark.pt", "bad_pickle", "TUPLE without a MARK",
          PROTO2 + NONE + TUPLE + STOP)
    pcase("pickle_tuple2_underflow.pt", "bad_pickle", "TUPLE2 with one value on the stack",
          PROTO2 + NONE + b"\x86" + STOP)
    pcase("pickle_reduce_underflow.pt", "bad_pickle", "REDUCE with only the args on the stack",
          PROTO2 + EMPTY_TUPLE + REDUCE + STOP)
    pcase("pickle_reduce_args_not_tuple.pt", "bad_pickle",
          "REDUCE of collections.OrderedDict with args None (not a tuple)",
          PROTO2 + glob("collections", "OrderedDict") + NONE + REDUCE + STOP)
    pcase("pickle_append_to_int.pt", "bad_pickle", "APPEND onto an int",
          PROTO2 + pint(5) + NONE + APPEND + STOP)
    pcase("pickle_setitem_on_list.pt", "bad_pickle", "SETITEM onto a list",
          PROTO2 + EMPTY_LIST + ustr("k") + NONE + SETITEM + STOP)
    pcase("pickle_setitems_odd.pt", "bad_pickle", "SETITEMS with 3 values above the mark",
          PROTO2 + EMPTY_DICT + MARK + ustr("a") + NONE + ustr("b") + SETITEMS + STOP)
    pcase("pickle_binget_missing.pt", "bad_pickle", "BINGET 7 with an empty memo",
          PROTO2 + b"h\x07" + STOP)
    pcase("pickle_long_binget_missing.pt", "bad_pickle", "LONG_BINGET 0xFFFFFFFF, never PUT",
          PROTO2 + NONE + b"q\x00" + b"j" + u32(0xFFFFFFFF) + STOP)
    pcase("pickle_binput_empty.pt", "bad_pickle", "BINPUT on an empty stack",
          PROTO2 + b"q\x00" + NONE + STOP)
    pcase("pickle_memoize_empty.pt", "bad_pickle", "MEMOIZE on an empty stack (protocol 4)",
          b"\x80\x04" + b"\x94" + NONE + STOP)
    pcase("pickle_pop_mark_none.pt", "bad_pickle", "POP_MARK without a MARK",
          PROTO2 + NONE + b"1" + NONE + STOP)
    pcase("pickle_binpersid_empty.pt", "bad_pickle", "BINPERSID on an empty stack",
          PROTO2 + BINPERSID + STOP)
    pcase("pickle_stack_global_not_str.pt", "bad_pickle",
          "STACK_GLOBAL whose module and name are ints", b"\x80\x04" + pint(1) + pint(2)
          + b"\x93" + STOP)
    pcase("pickle_binunicode_bad_utf8.pt", "bad_pickle",
          "BINUNICODE b'\\xff\\xfe' (not UTF-8) as a dict key",
          PROTO2 + EMPTY_DICT + b"X\x02\x00\x00\x00\xff\xfe" + NONE + SETITEM + STOP)
    pcase("pickle_appends_on_tuple.pt", "bad_pickle", "APPENDS onto a tuple",
          PROTO2 + EMPTY_TUPLE + MARK + NONE + APPENDS + STOP)
    pcase("pickle_additems_on_list.pt", "bad_pickle", "ADDITEMS onto a list (protocol 4)",
          b"\x80\x04" + EMPTY_LIST + MARK + NONE + b"\x90" + STOP)
    pcase("pickle_dict_odd.pt", "bad_pickle", "DICT with one item above the mark",
          PROTO2 + MARK + NONE + b"d" + STOP)
    pcase("pickle_float_text_bad.pt", "bad_pickle", "FLOAT 'abc'", PROTO2 + b"Fabc\n" + STOP)
    pcase("pickle_string_bad_quote.pt", "bad_pickle", "STRING without its closing quote",
          PROTO2 + b"S'abc\n" + STOP)
    pcase("pickle_unicode_bad_escape.pt", "bad_pickle", "UNICODE with a cut \\u escape",
          PROTO2 + b"V\\u12\n" + STOP)
    pcase("pickle_get_text_huge.pt", "bad_pickle", "PUT/GET with a 23-digit memo index",
          PROTO2 + NONE + b"p99999999999999999999999\n" + b"g99999999999999999999999\n" + STOP)
    depth = 100000
    pcase("pickle_deep_lists.pt", "limit_exceeded",
          f"{depth} nested lists (EMPTY_LIST x {depth}, then APPEND x {depth - 1}): passes "
          "max_depth", PROTO2 + EMPTY_LIST * depth + APPEND * (depth - 1) + STOP)
    pcase("pickle_deep_tuples.pt", "limit_exceeded",
          f"{depth} nested tuples (MARK x {depth}, then TUPLE x {depth}): passes max_depth",
          PROTO2 + MARK * depth + TUPLE * depth + STOP)
    pcase("pickle_deep_dicts.pt", "limit_exceeded",
          f"{depth} nested dicts built with EMPTY_DICT + key and SETITEM from the inside out",
          PROTO2 + (EMPTY_DICT + ustr("k")) * depth + NONE + SETITEM * depth + STOP)
    pcase("pickle_deep_tuple1.pt", "limit_exceeded",
          f"{depth} nested 1-tuples (NONE then TUPLE1 x {depth})",
          PROTO2 + NONE + b"\x85" * depth + STOP)
    pcase("pickle_memo_put_huge.pt", "any",
          "LONG_BINPUT 0xFFFFFFFF: a sparse memo key; a vector memo must not resize to 2^32 "
          "(limit_exceeded or success are both fine)",
          PROTO2 + NONE + b"r" + u32(0xFFFFFFFF) + STOP, substring="")


def unsafe_code(run):
    """Pickles that name code to run: every one must be refused, never called."""
    pcase = pcase_of(run)

    def unsafe(name, module, fn, body=None, description=None):
        body = (glob(module, fn) + ustr("echo pwned") + b"\x85" + REDUCE) if body is None else body
        pcase(name, "unsafe_global",
              description or f"GLOBAL '{module} {fn}' + ('echo pwned',) + REDUCE", PROTO2 + body + STOP,
              substring=f"{module}|{fn}")

    unsafe("unsafe_os_system.pt", "os", "system")
    unsafe("unsafe_posix_system.pt", "posix", "system")
    unsafe("unsafe_nt_system.pt", "nt", "system")
    unsafe("unsafe_builtins_eval.pt", "builtins", "eval")
    unsafe("unsafe_builtin_eval_py2.pt", "__builtin__", "eval",
           description="GLOBAL '__builtin__ eval' (py2 name of builtins.eval) + REDUCE")
    unsafe("unsafe_builtins_exec.pt", "builtins", "exec")
    unsafe("unsafe_subprocess_popen.pt", "subprocess", "Popen",
           body=glob("subprocess", "Popen") + MARK + ustr("echo") + ustr("pwned") + b"l"
           + b"\x85" + REDUCE,
           description="GLOBAL 'subprocess Popen' + (['echo', 'pwned'],) + REDUCE")
    unsafe("unsafe_os_system_stack_global.pt", "os", "system",
           body=ustr("os") + ustr("system") + b"\x93" + ustr("echo pwned") + b"\x85" + REDUCE,
           description="'os' 'system' STACK_GLOBAL + ('echo pwned',) + REDUCE (protocol 4 form)")
    unsafe("unsafe_os_system_inst.pt", "os", "system",
           body=MARK + ustr("echo pwned") + b"i" + b"os\nsystem\n",
           description="INST 'os system' with ('echo pwned') (protocol 0 form)")
    unsafe("unsafe_os_system_in_tensor.pt", "os", "system",
           body=glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK + ustr("w")
           + glob("os", "system") + ustr("echo pwned") + b"\x85" + REDUCE + SETITEMS,
           description="a state dict whose value is os.system('echo pwned')")

    unsafe("unsafe_os_system_newobj.pt", "os", "system",
           body=glob("os", "system") + ptuple([ustr("echo pwned")]) + b"\x81",
           description="NEWOBJ of os.system")
    unsafe("unsafe_os_system_obj.pt", "os", "system",
           body=MARK + glob("os", "system") + ustr("echo pwned") + b"o",
           description="OBJ of os.system (protocol 1 form)")
    unsafe("unsafe_os_system_newobj_ex.pt", "os", "system",
           body=glob("os", "system") + ptuple([ustr("echo pwned")]) + EMPTY_DICT + b"\x92",
           description="NEWOBJ_EX of os.system (protocol 4 form)")
    unsafe("unsafe_os_system_from_type.pt", "os", "system",
           body=glob("torch._tensor", "_rebuild_from_type_v2") + ptuple([
               glob("os", "system"), glob("torch", "Tensor"), ptuple([ustr("echo pwned")]),
               EMPTY_DICT]) + REDUCE,
           description="_rebuild_from_type_v2(os.system, Tensor, ('echo pwned',), {}): the "
                       "inner function of an allowed rebuild is os.system")
