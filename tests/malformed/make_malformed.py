#!/usr/bin/env python3
"""Write the table of broken checkpoints that tests/checkpoint/malformed.cpp feeds to ptio.

Usage: make_malformed.py OUTDIR

Real torch (1.13 or later) writes two small valid checkpoints (a zip one and a legacy one);
every broken file is derived from them by byte surgery, or built from scratch with Python's
zipfile (ZIP_STORED, names under `archive/`) around hand-written protocol-2 pickle bytes.

OUTDIR/cases.tsv has one row per broken file, tab-separated:

    file    errc    substring    description

- `file`: the name of the file in OUTDIR.
- `errc`: the name of the ptio::errc (as error.hpp spells it) that opening the file and then
  reading every tensor's bytes must raise. `any` means: the file is hostile but not
  necessarily wrong, so ptio may open it or throw any ptio::error, but must not crash or hang.
- `substring`: text what() must contain besides the file's path (case-insensitive; several
  alternatives separated by `|`, any one suffices; empty: nothing more). Record names are
  relative to the archive prefix, so `data/0` matches `archive/data/0`.
- `description`: what was broken. Where two codes could fit, it says which other one and why
  the chosen one is the more specific.

Other files in OUTDIR that the C++ test uses by name (not in cases.tsv):
  valid_torch.pt      torch.save of OrderedDict(w=float32 2x3, b=int64 3): must open
  valid_handmade.pt   the hand-written pickle in a zipfile-built zip, same tensors: must open
  valid_deflated.pt   valid_torch.pt re-zipped with data.pkl deflated: must open
  valid_deflated_all.pt  the same with every record deflated: must open (copies)
  crc_payload.pt      valid_torch.pt with one byte of data/0 flipped (CRC now wrong)
  crc_datapkl.pt      valid_torch.pt with the key 'w' changed to 'x' in data.pkl (CRC now wrong)
  cycle_list.pt       a list that contains itself (memo), next to a tensor
  cycle_dict.pt       a dict holding a tensor and itself
  exponential.pt      40 levels of 2-tuples each holding the previous one twice: 2^40 paths
                      to one tensor; listing every path cannot be done, so ptio must stop at a
                      cap (limit_exceeded) or walk shared containers a bounded number of times
  deep_dict_key.pt    a dict key nested 100000 deep (a 1-tuple chain): limit_exceeded, no stack
                      overflow while naming the tensor under it
  exponential_dict_key.pt  a dict key that is a 40-level DAG of 2-tuples: its text would have
                      2^40 parts, so limit_exceeded rather than exhausted memory
  from_type_chain_3.pt     _rebuild_from_type_v2 nested 3 deep: torch loads it; must open
  from_type_chain_deep.pt  the same nested 100000 deep: limit_exceeded, no stack overflow
  globals.tsv and launder_*.pt  mal_globals.py's files for tests/hostile_globals.py
"""

import os
import sys

# The script runs by path from any folder: its sibling modules are found beside it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mal_caps_cases  # noqa: E402
import mal_formats  # noqa: E402
import mal_globals  # noqa: E402
import mal_named  # noqa: E402
import mal_pickle_cases  # noqa: E402
import mal_tensor_cases  # noqa: E402
import mal_zip_cases  # noqa: E402
from mal_bases import Run  # noqa: E402

# The modules beside this script, one job each:
#   mal_pickle.py        protocol-2 pickle bytes by hand, the two tensors' bytes
#   mal_zip.py           zips built with zipfile, our reading of a zip for surgery, tar checksums
#   mal_bases.py         the output folder, the table of cases, the valid bases torch writes
#   mal_formats.py       not a checkpoint, the legacy format, the tar format
#   mal_zip_cases.py     truncations, end records and central directory, records, compression
#   mal_tensor_cases.py  storages against their records, tensor geometry
#   mal_pickle_cases.py  the pickle stream, code a pickle would run
#   mal_globals.py       laundering payloads and container opcodes on classes (and globals.tsv)
#   mal_named.py         the files the C++ test uses by name
#   mal_caps_cases.py    caps on a file's cost, FRAME lengths, overflow words, JSON indexes


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_malformed.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    import torch  # the oracle: real torch writes the valid bases

    run = Run(out, torch)
    # cases.tsv lists the rows in this order
    mal_formats.not_a_checkpoint(run)
    mal_formats.legacy_format(run)
    mal_formats.tar(run)
    mal_formats.legacy_layouts(run)
    mal_zip_cases.truncations(run)
    mal_zip_cases.end_records(run)
    mal_zip_cases.records(run)
    mal_tensor_cases.storages(run)
    mal_tensor_cases.geometry(run)
    mal_pickle_cases.pickle_stream(run)
    mal_pickle_cases.unsafe_code(run)
    mal_globals.laundering(run)
    mal_zip_cases.compression(run)
    mal_caps_cases.bombs(run)
    mal_caps_cases.near_the_caps(run)
    mal_caps_cases.frames(run)
    mal_caps_cases.geometry_words(run)
    mal_caps_cases.indexes(run)
    mal_named.named_files(run)
    run.write_table()


if __name__ == "__main__":
    main()
