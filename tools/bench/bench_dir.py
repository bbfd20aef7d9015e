"""The benchmark files of a directory made by make_bench_files.py, for the scripts beside it.

count_<N>.pt, sample_<label>.pt and size_<label>.pt, ordered by kind, then by count or by the
bytes a size label names ("10MB" before "4GB").
"""

import json
import os
import re


def label_bytes(label):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", label, re.IGNORECASE)
    if not m:
        return float("inf")
    return float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2).upper()]


def bench_files(directory, kinds=("count", "sample", "size")):
    """File names of those kinds in `directory`, in benchmark order."""
    files = []
    for name in os.listdir(directory):
        m = re.fullmatch(r"([a-z]+)_(.+)\.pt", name)
        if not m or m.group(1) not in kinds or not os.path.isfile(os.path.join(directory, name)):
            continue
        kind, label = m.groups()
        order = float(label) if kind == "count" and label.isdigit() else label_bytes(label)
        files.append((kind, order, label, name))
    return [name for *_, name in sorted(files)]


def warm(path):
    """Read the file once, so that it is in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def write_rows(path, runs, rows):
    """The rows a script printed, as JSON at `path` (its --json), when one was given."""
    if path:
        with open(path, "w") as f:
            json.dump({"runs": runs, "rows": rows}, f, indent=1)
