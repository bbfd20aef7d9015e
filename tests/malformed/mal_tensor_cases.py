"""Cases in data.pkl's tensors: storages against their records, tensor geometry.

Part of make_malformed.py: each function adds its rows to run's table (mal_bases.Run), in the
order make_malformed.py calls them.
"""

import struct

from mal_pickle import (BINPERSID, EMPTY_DICT, EMPTY_LIST, MARK, NEWFALSE, NONE, REDUCE, TUPLE,
                        B_BYTES, W_BYTES, glob, good_pickle, ints, pint, ptuple, state_dict,
                        storage_pid, tensor_v2, u32, ustr)
from mal_zip import make_zip, patch, replace_in_record, zip_with_pickle


def storages(run):
    """Storage references against the records they name."""
    case, base, d0 = run.case, run.base, run.d0
    b = replace_in_record(base, "data.pkl", b"X\x03\x00\x00\x00cpuq\x07K\x06",
                          b"X\x03\x00\x00\x00cpuq\x07K\x07")
    case("numel_too_big.pt", "bad_storage", "data/0",
         "valid_torch.pt with data/0's numel rewritten 6 -> 7 in data.pkl (CRC fixed): the "
         "FloatStorage needs 28 bytes, the record has 24", b)
    case("record_too_short.pt", "bad_storage", "data/0",
         "data/0's CD sizes shrunk 24 -> 20 bytes: shorter than numel 6 x 4 bytes",
         patch(base, d0.cd + 20, u32(20) + u32(20)))
    case("storage_numel_negative.pt", "bad_storage", "data/0|data.pkl",
         "data/0's numel is -6",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(numel=-6)))])))
    case("storage_numel_overflow.pt", "bad_storage", "data/0",
         "LongStorage numel 2^61+3: numel x 8 wraps to exactly 24, the record's size",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid("LongStorage", numel=2**61 + 3),
                                                       size=(3,), stride=(1,)))])))
    case("missing_record.pt", "missing_record", "data/5",
         "data.pkl refers to storage key '5'; the zip has no data/5",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(key="5")))])))
    case("no_datapkl.pt", "missing_record", "data.pkl", "a zip under archive/ without data.pkl",
         make_zip([("data/0", W_BYTES), ("version", b"3\n")]))
    case("nested_prefix.pt", "missing_record", "data.pkl",
         "records under a/b/ (two folder levels): a/data.pkl does not exist, as torch finds",
         make_zip([("data.pkl", good_pickle()), ("data/0", W_BYTES), ("data/1", B_BYTES),
                   ("version", b"3\n")], prefix="a/b/"))
    case("pid_key_dotdot.pt", "missing_record", "data/../data/0",
         "storage key '../data/0': joined as data/../data/0, never normalised into data/0",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(key="../data/0")))])))
    case("pid_key_datapkl.pt", "missing_record", "data/../data.pkl",
         "storage key '../data.pkl' (a ByteStorage of 1): must not resolve to data.pkl itself",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid("ByteStorage", key="../data.pkl",
                                                                  numel=1), size=(1,), stride=(1,)))])))
    case("pid_key_empty.pt", "missing_record", "data/",
         "storage key '' (empty): record data/ does not exist",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(key="")))])))
    case("pid_numel_bigint.pt", "bad_storage", "data.pkl|data/0",
         "storage numel 2^80 (LONG1 of 11 bytes): not an int64",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid(numel=2**80)))])))
    case("pid_class_not_global.pt", "bad_storage", "data.pkl",
         "persistent id whose storage class is the str 'FloatStorage', not a GLOBAL",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), ustr("FloatStorage"), ustr("0"), ustr("cpu"), pint(6)])))])))
    case("pid_location_int.pt", "bad_storage", "data.pkl",
         "persistent id whose location is the int 3, not a str",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), glob("torch", "FloatStorage"), ustr("0"), pint(3), pint(6)])))])))
    case("no_prefix_folder.pt", "bad_zip", "data.pkl",
         "records at the top level (data.pkl, data/0, version): the first name has no prefix "
         "folder", make_zip([("data.pkl", good_pickle()), ("data/0", W_BYTES), ("data/1", B_BYTES),
                             ("version", b"3\n")], prefix=""))
    case("pid_not_tuple.pt", "bad_storage", "data.pkl",
         "BINPERSID of a str instead of a ('storage', ...) tuple",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ustr("0")))])))
    case("pid_wrong_tag.pt", "bad_storage", "data.pkl",
         "persistent id tuple tagged 'module' instead of 'storage'",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("module"), glob("torch", "FloatStorage"), ustr("0"), ustr("cpu"), pint(6)])))])))
    case("pid_short_tuple.pt", "bad_storage", "data.pkl",
         "persistent id ('storage', FloatStorage, '0'): too few fields",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), glob("torch", "FloatStorage"), ustr("0")])))])))
    case("pid_key_not_str.pt", "bad_storage", "data.pkl",
         "persistent id whose key is a list instead of a str",
         zip_with_pickle(state_dict([("w", tensor_v2(pid=ptuple([
             ustr("storage"), glob("torch", "FloatStorage"), EMPTY_LIST, ustr("cpu"), pint(6)])))])))
    case("unknown_storage_class.pt", "bad_storage", "WeirdStorage",
         "storage class torch.WeirdStorage: no dtype (bad_tensor would fit less: the storage "
         "reference itself is wrong)",
         zip_with_pickle(state_dict([("w", tensor_v2(storage_pid("WeirdStorage")))])))


def geometry(run):
    """Tensor geometry that does not fit its storage, or is not geometry."""
    case = run.case

    def tcase(name, description, **kw):
        case(name, "bad_tensor", "data/0|data.pkl", description,
             zip_with_pickle(state_dict([("w", tensor_v2(**kw))])))

    tcase("view_offset_past.pt", "storage_offset 1 with size (2,3) stride (3,1) reaches element 6 "
          "of a 6-element storage", offset=1)
    tcase("view_size_past.pt", "size (2,4) stride (4,1) over a 6-element storage",
          size=(2, 4), stride=(4, 1))
    tcase("view_stride_past.pt", "size (2,3) stride (4,1) reaches element 6", stride=(4, 1))
    tcase("view_offset_far.pt", "storage_offset 1000000", offset=1000000)
    tcase("view_offset_negative.pt", "storage_offset -1", offset=-1)
    tcase("view_negative_stride.pt", "stride (3,-1) (torch never writes negative strides)",
          stride=(3, -1))
    tcase("view_negative_size.pt", "size (2,-3)", size=(2, -3))
    tcase("view_offset_overflow.pt", "storage_offset 2^62 (x 4 bytes overflows)", offset=2**62)
    tcase("view_huge_dim.pt", "size (2^62,) stride (1,): numel x 4 overflows 64 bits",
          size=(2**62,), stride=(1,))
    tcase("view_numel_overflow.pt", "size (2^62, 2^62) stride (0, 0): numel overflows int64 even "
          "though every element maps to element 0", size=(2**62, 2**62), stride=(0, 0))
    tcase("view_numel_wraps_zero.pt", "size (2^32, 2^32) stride (0, 0): numel wraps to 0 in 64 bits "
          "(a wrapped numel would pass as an empty tensor)", size=(2**32, 2**32), stride=(0, 0))
    tcase("view_extent_overflow.pt", "storage_offset 2^63-1, size (2,) stride (1,): offset + extent "
          "overflows int64", offset=2**63 - 1, size=(2,), stride=(1,))
    tcase("view_stride_overflow.pt", "size (2,2) stride (2^62, 2^62): offset arithmetic overflows",
          size=(2, 2), stride=(2**62, 2**62))
    tcase("view_rank_mismatch.pt", "size has 2 dims, stride has 1", size=(2, 3), stride=(1,))
    tcase("view_size_not_int.pt", "size ('2', 3): a str where an int belongs",
          size_bytes=ptuple([ustr("2"), pint(3)]))
    tcase("view_size_not_tuple.pt", "size is None", size_bytes=NONE)
    tcase("view_offset_not_int.pt", "storage_offset is None", offset_bytes=NONE)
    tcase("view_offset_bigint.pt", "storage_offset 2^100 (LONG1 of 16 bytes)",
          offset_bytes=b"\x8a\x10" + (2**100).to_bytes(16, "little"))
    case("param_of_none.pt", "any", "",
         "_rebuild_parameter(None, False, {}): torch makes an empty Parameter of it; ptio may "
         "refuse it (bad_tensor) or keep it",
         zip_with_pickle(state_dict([("w", glob("torch._utils", "_rebuild_parameter")
                                      + ptuple([NONE, NEWFALSE, EMPTY_DICT]) + REDUCE)])))

    def v3(dtype_bytes, size=(2, 3), stride=(3, 1)):
        return (glob("torch._utils", "_rebuild_tensor_v3") + MARK
                + storage_pid("UntypedStorage", numel=24, module="torch.storage") + BINPERSID
                + pint(0) + ints(size) + ints(stride) + NEWFALSE + EMPTY_DICT + dtype_bytes + TUPLE
                + REDUCE)

    case("v3_past.pt", "bad_tensor", "data/0|data.pkl",
         "_rebuild_tensor_v3 over a 24-byte UntypedStorage with dtype float64 and size (2,3): "
         "needs 48 bytes", zip_with_pickle(state_dict([("w", v3(glob("torch", "float64")))])))
    case("v3_no_dtype.pt", "bad_tensor", "data.pkl",
         "_rebuild_tensor_v3 whose dtype argument is None",
         zip_with_pickle(state_dict([("w", v3(NONE))])))
    case("qtensor_past.pt", "bad_tensor", "data/0|data.pkl",
         "_rebuild_qtensor, QInt8Storage of 6, size (2,4) stride (4,1): reaches element 7",
         zip_with_pickle(state_dict([("w", glob("torch._utils", "_rebuild_qtensor") + MARK
                                      + storage_pid("QInt8Storage", numel=6) + BINPERSID + pint(0)
                                      + ints((2, 4)) + ints((4, 1))
                                      + ptuple([glob("torch", "per_tensor_affine"),
                                                b"G" + struct.pack(">d", 0.1), pint(0)])
                                      + NEWFALSE + EMPTY_DICT + TUPLE + REDUCE)])))

    def meta(size, stride):
        return (glob("torch._utils", "_rebuild_meta_tensor_no_storage")
                + ptuple([glob("torch", "float32"), ints(size), ints(stride), NEWFALSE]) + REDUCE)

    case("meta_numel_overflow.pt", "bad_tensor", "data.pkl",
         "a meta tensor (no storage) of size (2^62, 2^62): numel overflows int64",
         zip_with_pickle(state_dict([("w", meta((2**62, 2**62), (2**62, 1)))])))
    case("meta_numel_wraps_zero.pt", "bad_tensor", "data.pkl",
         "a meta tensor of size (2^32, 2^32): numel wraps to 0 in 64 bits",
         zip_with_pickle(state_dict([("w", meta((2**32, 2**32), (2**32, 1)))])))
    case("meta_negative_size.pt", "bad_tensor", "data.pkl", "a meta tensor of size (2, -3)",
         zip_with_pickle(state_dict([("w", meta((2, -3), (3, 1)))])))
    case("meta_too_many_dims.pt", "limit_exceeded", "data.pkl",
         "a 100-dimensional meta tensor: passes max_dims",
         zip_with_pickle(state_dict([("w", meta((1,) * 100, (1,) * 100))])))
    case("view_too_many_dims.pt", "limit_exceeded", "data.pkl",
         "a 100-dimensional tensor (all sizes 1): passes max_dims (64)",
         zip_with_pickle(state_dict([("w", tensor_v2(size=(1,) * 100, stride=(1,) * 100))])))
    case("rebuild_too_few_args.pt", "bad_tensor", "data.pkl",
         "_rebuild_tensor_v2 called with (storage, 0) only (bad_pickle would fit less: the "
         "pickle is well-formed, the tensor call is not)",
         zip_with_pickle(state_dict([("w", glob("torch._utils", "_rebuild_tensor_v2") + MARK
                                      + storage_pid() + BINPERSID + pint(0) + TUPLE + REDUCE)])))
