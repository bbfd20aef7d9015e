#!/usr/bin/env python3
"""Check the rules of the source layout that no compiler checks.

Usage: layout_rules.py REPO_ROOT

- Each folder of src/ is a layer, in this order: core, io, zip, pickle, torch, checkpoint,
  save, staging (staging/cuda belongs to staging), python. A file includes private headers only
  of its own layer or of layers before it, and public headers (ptio/...) only of concepts at or
  below its layer. Saving never includes staging. The Python module (python) is a customer of
  the public API: besides its own headers it includes only ptio/... headers.
- Only src/staging/cuda/ includes CUDA headers.
- Public headers include only the standard library and other public headers; the CLI
  (tools/ptio/) and the benchmarks (bench/) include only public headers.
- No source file sits directly in src/; every folder of src/ has a README.md.
- No file in include/, src/ or tools/ is over 450 lines.

Prints one line per violation and exits 1 if there is any, 0 otherwise.
"""
import os
import re
import sys

LAYERS = ["core", "io", "zip", "pickle", "torch", "checkpoint", "save", "staging", "python"]
# The layer of each public header's concept: a file may include it from that layer on.
PUBLIC_LEVEL = {
    "error": "core", "dtype": "core", "device": "core", "limits": "core", "version": "core",
    "value": "pickle", "tensor": "torch", "checkpoint": "checkpoint",
    "tree": "save", "save": "save",
    "map_location": "staging", "stager": "staging", "load": "staging", "ptio": "staging",
    "dlpack": "staging",
}
MAX_LINES = 450
SOURCE_EXT = (".cpp", ".hpp", ".h", ".cc", ".cu")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
CUDA_HEADERS = re.compile(r"^(cuda[_a-z0-9]*\.h|cuda/|nvrtc|cublas|cufile)")


def layer_of(rel):
    parts = rel.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "src" else None


def rank(layer):
    return LAYERS.index(layer)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: layout_rules.py REPO_ROOT")
    root = os.path.abspath(sys.argv[1])
    problems = []

    def walk(top):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for f in sorted(filenames):
                yield os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")

    for top in ("include", "src", "tools"):
        for rel in walk(top):
            if rel.endswith(SOURCE_EXT) or rel.endswith(".py") or rel == "tools/dev":
                with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                    n = sum(1 for _ in f)
                if n > MAX_LINES:
                    problems.append(f"{rel}: {n} lines, over {MAX_LINES}")

    src = os.path.join(root, "src")
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if os.path.isfile(path) and entry.endswith(SOURCE_EXT):
            problems.append(f"src/{entry}: a source file directly in src/ (put it in its layer)")
    for dirpath, dirnames, _ in os.walk(src):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
        if not os.path.isfile(os.path.join(dirpath, "README.md")):
            problems.append(f"{rel}/: no README.md")
        if rel != "src" and rel.split("/")[1] not in LAYERS:
            problems.append(f"{rel}/: not a known layer ({', '.join(LAYERS)})")

    def includes(rel):
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            return INCLUDE.findall(f.read())

    for rel in walk("src"):
        if not rel.endswith(SOURCE_EXT):
            continue
        layer = layer_of(rel)
        if layer not in LAYERS:
            continue
        in_cuda = rel.startswith("src/staging/cuda/")
        for kind, inc in includes(rel):
            if CUDA_HEADERS.match(inc) and not in_cuda:
                problems.append(f"{rel}: includes the CUDA header <{inc}> outside src/staging/cuda/")
            if kind != '"':
                continue
            head = inc.split("/")[0]
            if head == "ptio":
                concept = os.path.splitext(inc.split("/", 1)[1])[0]
                need = PUBLIC_LEVEL.get(concept)
                if need is None:
                    problems.append(f"{rel}: includes {inc}, a public header this check does not know")
                elif rank(need) > rank(layer):
                    problems.append(f"{rel}: layer {layer} includes {inc}, a concept of layer {need}")
            elif head in LAYERS:
                if layer == "python" and head != "python":
                    problems.append(f"{rel}: the Python module includes the library's private header {inc}")
                elif rank(head) > rank(layer):
                    problems.append(f"{rel}: layer {layer} includes {inc} from the later layer {head}")
            elif "/" not in inc:
                problems.append(f"{rel}: includes \"{inc}\"; name private headers from src/ ({layer}/...)")

    for top in ("include",):
        for rel in walk(top):
            if not rel.endswith(SOURCE_EXT):
                continue
            concept = os.path.splitext(os.path.basename(rel))[0]
            for kind, inc in includes(rel):
                if kind != '"':
                    continue
                if not inc.startswith("ptio/"):
                    problems.append(f"{rel}: a public header includes the private \"{inc}\"")
                    continue
                other = os.path.splitext(inc.split("/", 1)[1])[0]
                if concept != "ptio" and rank(PUBLIC_LEVEL.get(other, "staging")) > rank(PUBLIC_LEVEL.get(concept, "staging")):
                    problems.append(f"{rel}: includes {inc}, a concept of a later layer")

    for top in ("tools/ptio", "bench"):
        for rel in walk(top):
            if not rel.endswith(SOURCE_EXT):
                continue
            for kind, inc in includes(rel):
                if kind == '"' and inc.split("/")[0] in LAYERS:
                    problems.append(f"{rel}: includes the library's private header \"{inc}\"")

    for p in problems:
        print(p)
    print(f"layout_rules: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
