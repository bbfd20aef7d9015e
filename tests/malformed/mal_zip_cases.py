"""Cases in the zip container of a torch file: truncations at each structure boundary,
the end records and central directory, the records, compression.

Part of make_malformed.py: each function adds its rows to run's table (mal_bases.Run), in the
order make_malformed.py calls them.
"""

import struct

from mal_pickle import B_BYTES, W_BYTES, good_pickle, u16, u32, u64
from mal_zip import Zip, make_zip, patch, zip_with_pickle


def truncations(run):
    """valid_torch.pt cut at each structure boundary."""
    case, base, z, n, pkl, d0 = run.case, run.base, run.z, run.n, run.pkl, run.d0
    hand, hz = run.hand, run.hz
    # The rule used throughout: a file whose end records are missing or cut short (it starts
    # with PK\3\4, so it is a zip that ends early) is truncated, as is a pickle that runs past
    # the end of data.pkl. Where the end records are intact, the file was not cut: a structure
    # that does not fit before the next one (or before the end records) is inconsistent, so
    # bad_zip, even when its extent would also pass the end of the file.
    cuts = [
        ("trunc_local_signature.pt", 4, "after the first local header's signature"),
        ("trunc_in_first_local_header.pt", 20, "inside data.pkl's local header"),
        ("trunc_in_datapkl.pt", pkl.payload + 100, "inside data.pkl's payload"),
        ("trunc_after_datapkl.pt", pkl.end + 16, "right after data.pkl and its descriptor"),
        ("trunc_in_local_header.pt", d0.lho + 12, "inside data/0's local header"),
        ("trunc_in_payload.pt", d0.payload + 5, "inside data/0's payload"),
        ("trunc_in_cd.pt", z.cd_off + 40, "inside the first central directory entry"),
        ("trunc_after_cd.pt", z.cd_end, "right after the central directory"),
        ("trunc_in_zip64_eocd.pt", z.z64 + 20, "inside the ZIP64 end of central directory"),
        ("trunc_in_zip64_locator.pt", z.loc + 10, "inside the ZIP64 locator"),
        ("trunc_before_eocd.pt", z.eocd, "right before the classic EOCD"),
        ("trunc_in_eocd.pt", z.eocd + 10, "inside the classic EOCD (its signature is present)"),
        ("trunc_eocd_last_byte.pt", n - 1, "the classic EOCD's last byte missing"),
    ]
    for name, at, what in cuts:
        case(name, "truncated", "offset",
             f"valid_torch.pt cut at byte {at} of {n}: {what}; no complete EOCD remains (bad_zip "
             "would fit too, truncated is more specific)", base[:at])
    case("trunc_handmade_in_eocd.pt", "truncated", "offset",
         "valid_handmade.pt (classic EOCD, no ZIP64) cut inside its EOCD", hand[:hz.eocd + 12])


def end_records(run):
    """The end records and the central directory."""
    case, base, z, n, pkl, d0, ver = run.case, run.base, run.z, run.n, run.pkl, run.d0, run.ver
    hand, hz = run.hand, run.hz
    past = n + 1000
    b = patch(base, z.z64 + 48, u64(past))
    b = patch(b, z.eocd + 16, u32(past))
    case("cd_offset_past_end.pt", "bad_zip", "offset",
         f"central directory offset set to {past} (file is {n} bytes) in the ZIP64 EOCD and the "
         "EOCD", b)
    b = patch(hand, hz.eocd + 16, u32(len(hand) + 1000))
    case("cd_offset_past_end_classic.pt", "bad_zip", "offset",
         "valid_handmade.pt (classic EOCD only) with the CD offset past the end", b)
    b = patch(base, z.z64 + 48, u64(2**64 - 8))
    b = patch(b, z.eocd + 16, u32(0xFFFFFFFF))
    case("cd_offset_wraps.pt", "bad_zip", "offset",
         "ZIP64 CD offset 2^64-8: offset + size wraps around 64 bits", b)
    b = patch(base, z.z64 + 40, u64(n * 4))
    b = patch(b, z.eocd + 12, u32(n * 4))
    case("cd_size_past_end.pt", "bad_zip", "offset",
         "central directory size 4x the file size: the CD runs over the end records and past the "
         "end of the file (truncated would fit less: the end records are intact)", b)
    b = patch(base, z.z64 + 24, u64(2**60) + u64(2**60))
    b = patch(b, z.eocd + 8, u16(0xFFFF) + u16(0xFFFF))
    case("cd_count_2pow60.pt", "bad_zip", "offset",
         "ZIP64 EOCD claims 2^60 entries (EOCD counts 0xFFFF) for a 243-byte CD: must be refused "
         "before anything is allocated (limit_exceeded would fit too, but a count the CD size "
         "cannot hold is an inconsistency; a small file cannot reach max_records consistently)", b)
    case("zip64_locator_past_end.pt", "bad_zip", "offset",
         "the ZIP64 locator points past the end of the file",
         patch(base, z.loc + 8, u64(n + 4096)))
    case("zip64_eocd_bad_signature.pt", "bad_zip", "offset",
         "the ZIP64 EOCD signature PK\\6\\6 changed to PK\\6\\7",
         patch(base, z.z64 + 3, b"\x07"))
    # A ZIP64 EOCD that starts inside the EOCD comment, 14 bytes before the end of the file.
    b = patch(base, z.eocd + 20, u16(14)) + b"PK\x06\x06" + b"\x00" * 10
    b = patch(b, z.loc + 8, u64(len(b) - 14))
    case("zip64_eocd_past_end.pt", "bad_zip", "offset",
         "the ZIP64 locator points at a PK\\6\\6 signature 14 bytes before the end (in the EOCD "
         "comment): the 56-byte ZIP64 EOCD would overlap the locator and run past the end "
         "(truncated would fit less: the end records are intact)", b)
    case("cd_bad_signature_first.pt", "bad_zip", "offset",
         "the first central directory entry's signature PK\\1\\2 changed to PK\\1\\3",
         patch(base, pkl.cd + 3, b"\x03"))
    case("cd_bad_signature_second.pt", "bad_zip", "offset",
         "the second central directory entry's (data/0) signature changed to PK\\1\\3",
         patch(base, d0.cd + 3, b"\x03"))
    case("cd_lho_0xffffffff_no_zip64.pt", "bad_zip", "data/0",
         "data/0's CD local header offset is 0xFFFFFFFF but the entry has no ZIP64 extra field",
         patch(base, d0.cd + 42, u32(0xFFFFFFFF)))

    case("cd_name_len_huge.pt", "truncated", "offset",
         "data.pkl's CD name length 0xFFFF: the entry runs past the end of the central directory "
         "(a field running past its enclosing structure)",
         patch(base, pkl.cd + 28, u16(0xFFFF)))
    case("cd_extra_len_huge.pt", "truncated", "offset",
         "data/0's CD extra length 0xFFFF: the entry runs past the end of the central directory",
         patch(base, d0.cd + 30, u16(0xFFFF)))
    case("cd_comment_len_huge.pt", "truncated", "offset",
         "version's CD comment length 0xFFFF: the last entry runs past the end of the directory",
         patch(base, ver.cd + 32, u16(0xFFFF)))
    # data/0's CD entry rebuilt with local header offset 0xFFFFFFFF and a ZIP64 extra field of
    # 4 bytes where the offset needs 8; everything after it moves by 8 bytes.
    nlen = len(d0.name)
    ent = bytearray(base[d0.cd:d0.cd + 46 + nlen])
    struct.pack_into("<H", ent, 30, 8)
    struct.pack_into("<I", ent, 42, 0xFFFFFFFF)
    ent += b"\x01\x00\x04\x00" + b"\x00" * 4
    b = base[:d0.cd] + bytes(ent) + base[d0.cd + 46 + nlen:]
    b = patch(b, z.z64 + 8 + 40, u64(z.cd_size + 8))
    b = patch(b, z.loc + 8 + 8, u64(z.z64 + 8))
    b = patch(b, z.eocd + 8 + 12, u32(z.cd_size + 8))
    case("zip64_extra_short.pt", "truncated", "data/0",
         "data/0's CD offset is 0xFFFFFFFF and its ZIP64 extra field holds 4 bytes where the u64 "
         "offset needs 8", b)


def records(run):
    """The records: local headers, names, sizes, overlaps."""
    case, base, z, n, pkl, d0, d1, ver = (run.case, run.base, run.z, run.n, run.pkl, run.d0, run.d1,
                                          run.ver)
    case("lho_past_end.pt", "bad_zip", "data/0",
         f"data/0's local header offset set to {n + 100}, past the end of the file",
         patch(base, d0.cd + 42, u32(n + 100)))
    case("lho_datapkl_past_end.pt", "bad_zip", "data.pkl",
         "data.pkl's local header offset past the end of the file",
         patch(base, pkl.cd + 42, u32(n + 100)))
    b = patch(base, z.eocd + 20, u16(10)) + b"PK\x03\x04" + b"\x00" * 6
    case("lho_near_end.pt", "bad_zip", "data/0",
         "data/0's local header offset points at a PK\\3\\4 signature 10 bytes before the end "
         "(in the EOCD comment): the 30-byte local header lies after the CD and runs past the end "
         "of the file (truncated would fit less: the end records are intact)",
         patch(b, d0.cd + 42, u32(len(b) - 10)))
    case("overlap_same_header.pt", "bad_zip", "data/0|data/1",
         "data/1's CD entry points at data/0's local header: two records share the same bytes "
         "(and the local name differs from the CD name)", patch(base, d1.cd + 42, u32(d0.lho)))
    case("overlap_into_payload.pt", "bad_zip", "data.pkl|data/1",
         "data/1's local header offset points into the middle of data.pkl's payload (no local "
         "header signature there; overlaps data.pkl)", patch(base, d1.cd + 42, u32(pkl.payload + 8)))
    b = patch(base, d0.cd + 20, u32(d0.csize + 48) + u32(d0.usize + 48))
    case("overlap_payload_size.pt", "bad_zip", "data/0",
         "data/0's CD sizes grown by 48 bytes so its payload runs into data/1's local header "
         "(records overlap; bad_storage would also fit since the record no longer matches numel, "
         "the container check is more basic)", b)
    # Rename data/1 to data/0 in its CD entry and local header (same length).
    b = patch(base, d1.cd + 46, b"archive/data/0")
    b = patch(b, d1.lho + 30, b"archive/data/0")
    case("duplicate_names.pt", "bad_zip", "data/0", "two records both named archive/data/0", b)
    case("local_bad_signature.pt", "bad_zip", "data/0",
         "data/0's local header signature PK\\3\\4 changed to PK\\3\\5 (may surface when the tensor's "
         "bytes are first read)", patch(base, d0.lho + 3, b"\x05"))
    hv = make_zip([("version", b"3\n"), ("data.pkl", good_pickle()), ("data/0", W_BYTES),
                   ("data/1", B_BYTES)])
    hvz = Zip(hv)
    case("local_bad_signature_datapkl.pt", "bad_zip", "data.pkl",
         "zipfile-built with version first, data.pkl's local header signature changed",
         patch(hv, hvz.entry("data.pkl").lho + 3, b"\x05"))
    case("stored_sizes_differ.pt", "bad_zip", "data/0",
         "stored data/0 whose CD uncompressed size (28) differs from its compressed size (24)",
         patch(base, d0.cd + 24, u32(28)))
    case("version_lho_past_end.pt", "bad_zip", "version",
         "the version record's local header offset past the end (a record no tensor uses)",
         patch(base, ver.cd + 42, u32(n + 5)))
    case("local_name_mismatch.pt", "bad_zip", "data/0",
         "data/0's local header names archive/data/9 while its CD entry names archive/data/0",
         patch(base, d0.lho + 30, b"archive/data/9"))
    case("local_extra_past_end.pt", "bad_zip", "data/0",
         "data/0's local extra length set to 0xFFFF: its payload would start past data/1's header "
         "and past the end of the file (found when the bytes are first read; truncated would fit "
         "less: the end records are intact; same class as datapkl_size_past_end.pt)",
         patch(base, d0.lho + 28, u16(0xFFFF)))
    case("datapkl_size_past_end.pt", "bad_zip", "data.pkl",
         "data.pkl's CD sizes set to 0x7FFFFFFF: the payload runs over the next records and past "
         "the end of the file (truncated would fit less: the end records are intact)", patch(base, pkl.cd + 20, u32(0x7FFFFFFF) * 2))
    case("datapkl_empty.pt", "truncated", "data.pkl",
         "data.pkl is an empty record: the pickle ends before STOP (bad_pickle would fit too)",
         zip_with_pickle(b""))


def compression(run):
    """Deflated records that do not inflate as their headers say, unknown methods."""
    case, base, d0, deflated, dpkl = run.case, run.base, run.d0, run.deflated, run.dpkl
    all_deflated = run.all_deflated
    b = patch(deflated, dpkl.payload, b"\xff" * min(8, dpkl.csize))
    case("deflate_corrupt.pt", "compression_error", "data.pkl",
         "valid_deflated.pt with the first bytes of the deflate stream set to 0xFF (reserved "
         "block type 3)", b)
    case("deflate_short.pt", "compression_error", "data.pkl",
         "deflated data.pkl whose CD uncompressed size is 1000 bytes more than it inflates to "
         "(truncated would fit less: the compressed data is complete)",
         patch(deflated, dpkl.cd + 24, u32(dpkl.usize + 1000)))
    case("deflate_long.pt", "compression_error", "data.pkl",
         "deflated data.pkl whose CD uncompressed size is 10 bytes less than it inflates to",
         patch(deflated, dpkl.cd + 24, u32(dpkl.usize - 10)))
    case("deflate_size_4g.pt", "compression_error", "data.pkl",
         "deflated data.pkl (a few hundred bytes) whose CD uncompressed size is 0xFFFFFFFF: it "
         "inflates to far less (must not allocate 4 GiB up front; limit_exceeded would also be "
         "acceptable)", patch(deflated, dpkl.cd + 24, u32(0xFFFFFFFF)))
    ad0 = Zip(all_deflated).entry("data/0")
    case("deflate_storage_corrupt.pt", "compression_error", "data/0",
         "valid_deflated_all.pt with data/0's deflate stream starting 0xFF (found when the bytes "
         "are first read)", patch(all_deflated, ad0.payload, b"\xff" * 4))
    case("deflate_storage_short.pt", "compression_error", "data/0",
         "valid_deflated_all.pt with data/0's CD uncompressed size 100 bytes too large",
         patch(all_deflated, ad0.cd + 24, u32(ad0.usize + 100)))
    b = patch(deflated, dpkl.cd + 10, u16(12))
    b = patch(b, dpkl.lho + 8, u16(12))
    case("method_bzip2.pt", "compression_error", "data.pkl",
         "data.pkl with compression method 12 (bzip2) in its local and CD headers", b)
    b = patch(base, d0.cd + 10, u16(14))
    case("method_lzma_storage.pt", "compression_error", "data/0",
         "data/0 with compression method 14 (LZMA) in its CD entry (may surface when the tensor's "
         "bytes are first read)", b)
