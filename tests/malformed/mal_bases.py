"""The output folder, its table of cases, and the valid checkpoints every broken one is cut from.

Part of make_malformed.py: Run writes the valid bases when it is made; the case modules add rows
with case() and files with write(); write_table() writes OUTDIR/cases.tsv in the rows' order.
"""

import io
import os
import zipfile
from collections import OrderedDict

from mal_pickle import B_BYTES, W_BYTES, good_pickle
from mal_zip import Zip, make_zip, zip_with_pickle


class Run:
    """out, torch, rows; the bases: sd, base (torch.save of sd) and its Zip z with entries pkl,
    d0, d1, ver and length n; hand (the hand-written pickle) and hz; deflated (data.pkl
    deflated), dz, dpkl; all_deflated (every record deflated)."""

    def __init__(self, out, torch):
        self.out, self.torch, self.rows = out, torch, []
        write = self.write

        sd = OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3),
                         b=torch.ones(3, dtype=torch.int64))
        buf = io.BytesIO()
        torch.save(sd, buf)
        base = buf.getvalue()
        write("valid_torch.pt", base)
        z = Zip(base)
        pkl, d0, d1, ver = (z.entry("data.pkl"), z.entry("data/0"), z.entry("data/1"),
                            z.entry("version"))
        assert [e.name for e in z.entries] == ["archive/data.pkl", "archive/data/0",
                                               "archive/data/1", "archive/version"]
        assert z.loc is not None, "torch always writes the ZIP64 end records"
        assert base[d0.payload:d0.end] == W_BYTES and base[d1.payload:d1.end] == B_BYTES
        n = len(base)

        hand = zip_with_pickle(good_pickle())
        write("valid_handmade.pt", hand)
        # The hand-written pickle must be one torch itself loads to the same tensors.
        t = torch.load(io.BytesIO(hand))
        assert list(t.keys()) == ["w", "b"] and torch.equal(t["w"], sd["w"]) and \
            torch.equal(t["b"], sd["b"])
        hz = Zip(hand)

        # A deflated data.pkl that is fine (the base for the corrupt-deflate cases).
        zin = zipfile.ZipFile(io.BytesIO(base))
        recs = [(i.filename[len("archive/"):], zin.read(i.filename),
                 zipfile.ZIP_DEFLATED if i.filename.endswith("data.pkl") else zipfile.ZIP_STORED)
                for i in zin.infolist()]
        deflated = make_zip(recs)
        write("valid_deflated.pt", deflated)
        assert list(torch.load(io.BytesIO(deflated)).keys()) == ["w", "b"]
        dz = Zip(deflated)
        dpkl = dz.entry("data.pkl")
        assert dpkl.method == 8

        # Every record deflated (the base for the corrupt-storage-deflate cases).
        all_deflated = make_zip([(i.filename[len("archive/"):], zin.read(i.filename),
                                  zipfile.ZIP_DEFLATED) for i in zin.infolist()])
        write("valid_deflated_all.pt", all_deflated)
        assert list(torch.load(io.BytesIO(all_deflated)).keys()) == ["w", "b"]

        self.sd, self.base, self.z, self.n = sd, base, z, n
        self.pkl, self.d0, self.d1, self.ver = pkl, d0, d1, ver
        self.hand, self.hz = hand, hz
        self.deflated, self.dz, self.dpkl = deflated, dz, dpkl
        self.all_deflated = all_deflated

    def write(self, name, data):
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(data)

    def case(self, name, errc, substring, description, data):
        assert "\t" not in description and "\n" not in description
        self.write(name, data)
        self.rows.append((name, errc, substring, description))

    def write_table(self):
        names = set()
        with open(os.path.join(self.out, "cases.tsv"), "w") as f:
            f.write("# file\terrc\tsubstring\tdescription\n")
            for row in self.rows:
                assert row[0] not in names, row[0]
                names.add(row[0])
                f.write("\t".join(row) + "\n")
        print(f"make_malformed: {len(self.rows)} cases in {self.out}")
