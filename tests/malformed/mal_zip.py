"""Zips built with Python's zipfile, our own reading of a zip to find offsets for surgery,
and the tar header checksum.

Part of make_malformed.py.
"""

import io
import struct
import zipfile
import zlib

from mal_pickle import B_BYTES, W_BYTES, u32

# --------------------------------------------------------------------------------------------
# Zips built with Python's zipfile.


def make_zip(records, method=zipfile.ZIP_STORED, prefix="archive/"):
    """records: list of (name, bytes) or (name, bytes, method)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for rec in records:
            name, data = rec[0], rec[1]
            m = rec[2] if len(rec) > 2 else method
            info = zipfile.ZipInfo(prefix + name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = m
            z.writestr(info, data)
    return buf.getvalue()


def zip_with_pickle(pkl, storages=None, extra=None):
    storages = [("data/0", W_BYTES), ("data/1", B_BYTES)] if storages is None else storages
    recs = [("data.pkl", pkl)] + storages + [("version", b"3\n")] + (extra or [])
    return make_zip(recs)


# --------------------------------------------------------------------------------------------
# Our own reading of a zip, to find offsets for surgery.


class Entry:
    pass


class Zip:
    def __init__(self, b):
        self.b = bytes(b)
        b = self.b
        self.eocd = b.rfind(b"PK\x05\x06")
        assert self.eocd >= 0
        (_, _, _, n_disk, n_total, cd_size, cd_off, _) = struct.unpack_from("<IHHHHIIH", b, self.eocd)
        self.loc = None
        self.z64 = None
        if self.eocd >= 20 and b[self.eocd - 20:self.eocd - 16] == b"PK\x06\x07":
            self.loc = self.eocd - 20
            self.z64 = struct.unpack_from("<Q", b, self.loc + 8)[0]
            assert b[self.z64:self.z64 + 4] == b"PK\x06\x06"
            n_total, cd_size, cd_off = struct.unpack_from("<QQQ", b, self.z64 + 32)
        self.cd_off, self.cd_size = cd_off, cd_size
        self.entries = []
        pos = cd_off
        for _ in range(n_total):
            assert b[pos:pos + 4] == b"PK\x01\x02"
            e = Entry()
            e.cd = pos
            (e.method,) = struct.unpack_from("<H", b, pos + 10)
            e.crc, e.csize, e.usize, nlen, xlen, clen = struct.unpack_from("<IIIHHH", b, pos + 16)
            (e.lho,) = struct.unpack_from("<I", b, pos + 42)
            e.name = b[pos + 46:pos + 46 + nlen].decode()
            ln, lx = struct.unpack_from("<HH", b, e.lho + 26)
            e.payload = e.lho + 30 + ln + lx
            e.end = e.payload + e.csize
            self.entries.append(e)
            pos += 46 + nlen + xlen + clen
        self.cd_end = pos

    def entry(self, suffix):
        for e in self.entries:
            if e.name.endswith("/" + suffix):
                return e
        raise KeyError(suffix)


def patch(b, off, data):
    b = bytearray(b)
    b[off:off + len(data)] = data
    return bytes(b)


def fix_crc(b, record):
    """Recompute a stored record's CRC in its descriptor (if any) and its CD entry."""
    z = Zip(b)
    e = z.entry(record)
    crc = zlib.crc32(b[e.payload:e.end]) & 0xFFFFFFFF
    b = patch(b, e.cd + 16, u32(crc))
    if b[e.end:e.end + 4] == b"PK\x07\x08":
        b = patch(b, e.end + 4, u32(crc))
    else:  # zipfile-style: CRC in the local header
        b = patch(b, e.lho + 14, u32(crc))
    return b


def replace_in_record(b, record, old, new):
    """Same-length substitution inside one record's payload, then fix its CRC."""
    assert len(old) == len(new)
    z = Zip(b)
    e = z.entry(record)
    payload = b[e.payload:e.end]
    assert payload.count(old) == 1, (record, old, payload.count(old))
    b = patch(b, e.payload, payload.replace(old, new))
    return fix_crc(b, record)


# --------------------------------------------------------------------------------------------
# Tar headers.


def fix_tar_checksum(b, header):
    """Recompute the checksum of the tar header at offset header."""
    h = bytearray(b[header:header + 512])
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return b[:header] + bytes(h) + b[header + 512:]
