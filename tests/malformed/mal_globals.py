"""Pickles that would launder code through ptio: globals that run code (refused at open), and
globals outside torch's weights_only allowlist that open keeps as opaque objects but that
`ptio cp` must not write again. Also SETITEMS / SETITEM / APPEND / BUILD on a class rather than
an instance (the CVE-2026-24747 shape), refused whatever the mode.

Part of make_malformed.py. Besides its cases.tsv rows, it writes OUTDIR/globals.tsv for
tests/hostile_globals.py, one row per file:

    file    open    global    description

- `open`: `unsafe_global` (checkpoint::open refuses the file), `opens` (it opens, the global
  kept as an object ptio never calls, which cp must refuse), or `rebuilt` (it opens, and the
  rebuild leaves the global out: a tensor subclass becomes its tensor, a Parameter's Python
  state is not kept, so cp writes a copy without it).
- `global`: "module.name" that `ptio scan`, the warnings of `ls` and a refusing `ptio cp` must
  name.
"""

import os

from mal_pickle import (APPEND, EMPTY_DICT, EMPTY_TUPLE, MARK, NEWFALSE, PROTO2, REDUCE, SETITEM,
                        SETITEMS, STOP, glob, good_pickle, ptuple, state_dict, tensor_v2, ustr)
from mal_zip import zip_with_pickle

BUILD = b"b"
W = tensor_v2()


def call(module, name, *args):
    return glob(module, name) + ptuple(list(args)) + REDUCE


def with_weights(value):
    """A state dict holding the good tensor w and `value` under 'x'."""
    return state_dict([("w", W), ("x", value)])


def laundering(run):
    """The payloads the red team found: each in cases.tsv, and in globals.tsv for the CLI."""
    rows = []

    def unsafe(name, module, fn, value, description):
        pkl = with_weights(value)
        run.case(name, "unsafe_global", f"{module}.{fn}", description, zip_with_pickle(pkl))
        rows.append((name, "unsafe_global", f"{module}.{fn}", description))

    def opens(name, qualified, value, description, how="opens"):
        run.write(name, zip_with_pickle(with_weights(value)))
        rows.append((name, how, qualified, description))

    unsafe("launder_cprofile_run.pt", "cProfile", "run",
           call("cProfile", "run", ustr("import os; os.system('echo pwned')")),
           "cProfile.run('import os; ...'): exec of a string")
    unsafe("launder_pydoc_pipepager.pt", "pydoc", "pipepager",
           call("pydoc", "pipepager", ustr("x"), ustr("echo pwned")),
           "pydoc.pipepager('x', 'echo pwned'): a shell command")
    unsafe("launder_io_open.pt", "_io", "open", call("_io", "open", ustr("/etc/passwd")),
           "_io.open('/etc/passwd'): reads (or with 'w' clobbers) a file")
    unsafe("launder_io_fileio.pt", "io", "FileIO", call("io", "FileIO", ustr("/tmp/x"), ustr("w")),
           "io.FileIO('/tmp/x', 'w'): truncates a file")
    unsafe("launder_nested_torch_load.pt", "torch", "load", call("torch", "load", ustr("/tmp/evil.pt")),
           "torch.load('/tmp/evil.pt'): a nested load with the unrestricted unpickler")
    unsafe("launder_load_from_bytes.pt", "torch.storage", "_load_from_bytes",
           call("torch.storage", "_load_from_bytes", b"C\x01\x80"),
           "torch.storage._load_from_bytes(b'...'): torch.load of bytes the file chose")
    unsafe("launder_timeit_from_type.pt", "timeit", "timeit",
           glob("torch._tensor", "_rebuild_from_type_v2") + ptuple([
               glob("timeit", "timeit"), glob("torch", "Tensor"),
               ptuple([ustr("__import__('os').system('echo pwned')")]), EMPTY_DICT]) + REDUCE,
           "_rebuild_from_type_v2(timeit.timeit, Tensor, (code,), {}): an allowed rebuild "
           "calling timeit")
    unsafe("launder_pkgutil_resolve_name.pt", "pkgutil", "resolve_name",
           call("pkgutil", "resolve_name", ustr("os:system")) + ptuple([ustr("echo pwned")]) + REDUCE,
           "pkgutil.resolve_name('os:system')('echo pwned'): os.system without naming os")
    unsafe("launder_ctypes.pt", "_ctypes", "dlopen", call("_ctypes", "dlopen", ustr("libc.so.6")),
           "_ctypes.dlopen('libc.so.6'): native code")

    # The CVE-2026-24747 shape: the container opcodes aimed at a class, not an instance.
    # OrderedDict is allowlisted, so only the target check can refuse these.
    od = glob("collections", "OrderedDict")
    unsafe("class_setitems.pt", "collections", "OrderedDict",
           od + MARK + ustr("__init__") + ustr("x") + SETITEMS,
           "SETITEMS on the class collections.OrderedDict itself")
    unsafe("class_setitem.pt", "collections", "OrderedDict", od + ustr("k") + ustr("v") + SETITEM,
           "SETITEM on the class collections.OrderedDict itself")
    unsafe("class_append.pt", "collections", "OrderedDict", od + ustr("v") + APPEND,
           "APPEND on the class collections.OrderedDict itself")
    unsafe("class_build.pt", "collections", "OrderedDict",
           od + MARK + ustr("__reduce__") + ustr("x") + b"d" + BUILD,
           "BUILD on the class collections.OrderedDict itself (sets class attributes)")

    # getattr is kept as an object (a bound method in OneCycleLR's state, a nested class), but
    # one that reaches a refused callable by name is refused as naming it would be.
    def getattr_of(target, attr):
        return glob("builtins", "getattr") + ptuple([target, ustr(attr)]) + REDUCE

    for name, value, fragment, description in [
        ("launder_getattr_load.pt",
         getattr_of(glob("torch", "serialization"), "load") + ptuple([ustr("/tmp/evil.pt")]) + REDUCE,
         'getattr(torch.serialization, "load")',
         "getattr(torch.serialization, 'load')('/tmp/evil.pt'): a nested load by attribute"),
        ("launder_getattr_reexport.pt",
         getattr_of(getattr_of(glob("torch", "serialization"), "pickle"), "loads")
         + ptuple([b"C\x01\x80"]) + REDUCE,
         'getattr(torch.serialization, "pickle")',
         "torch.serialization.pickle.loads(b'...'): pickle reached through a module's import"),
        ("launder_getattr_dunder.pt",
         getattr_of(glob("builtins", "object"), "__subclasses__") + EMPTY_TUPLE + REDUCE,
         'getattr(builtins.object, "__subclasses__")',
         "object.__subclasses__(): the way out of any allowlist"),
    ]:
        run.case(name, "unsafe_global", fragment, description, zip_with_pickle(with_weights(value)))

    # Outside the allowlist but not known to run code: open keeps them, cp must not write them.
    opens("launder_unknown_call.pt", "mypkg.payload.Run", call("mypkg.payload", "Run", ustr("x")),
          "mypkg.payload.Run('x'): any class torch.load would import and call")
    opens("launder_from_type_unknown.pt", "mypkg.payload.run",
          glob("torch._tensor", "_rebuild_from_type_v2") + ptuple([
              glob("mypkg.payload", "run"), glob("torch", "Tensor"), ptuple([ustr("x")]),
              EMPTY_DICT]) + REDUCE,
          "_rebuild_from_type_v2(mypkg.payload.run, ...): the allowed rebuild, an unknown callee")
    opens("launder_tensor_subclass.pt", "mypkg.payload.EvilTensor",
          glob("torch._tensor", "_rebuild_from_type_v2") + ptuple([
              glob("torch._utils", "_rebuild_tensor_v2"), glob("mypkg.payload", "EvilTensor"),
              W[len(glob("torch._utils", "_rebuild_tensor_v2")):-1], EMPTY_DICT]) + REDUCE,
          "a tensor subclass mypkg.payload.EvilTensor around the good tensor: kept as its class, "
          "which a copy names only when allowed")
    opens("launder_parameter_state.pt", "mypkg.payload.Run",
          glob("torch._utils", "_rebuild_parameter_with_state") + ptuple([
              W, NEWFALSE, od + EMPTY_TUPLE + REDUCE,
              MARK + ustr("hook") + call("mypkg.payload", "Run", ustr("x")) + b"d"]) + REDUCE,
          "a Parameter whose state holds mypkg.payload.Run('x')", "rebuilt")
    opens("launder_functools_partial.pt", "functools.partial",
          call("functools", "partial", glob("torch", "Tensor")),
          "functools.partial(torch.Tensor): a callable built from allowed pieces")
    opens("launder_numpy_dtype.pt", "numpy.dtype", call("numpy", "dtype", ustr("f8"), NEWFALSE, NEWFALSE),
          "numpy.dtype('f8'): numpy globals are outside the allowlist")
    opens("launder_state_of_allowed.pt", "mypkg.payload.Run",
          glob("torch", "device") + ptuple([ustr("cpu")]) + REDUCE
          + MARK + ustr("x") + call("mypkg.payload", "Run", ustr("x")) + b"d" + BUILD,
          "an allowed torch.device whose BUILD state holds mypkg.payload.Run('x')")

    with open(os.path.join(run.out, "globals.tsv"), "w") as f:
        f.write("# file\topen\tglobal\tdescription\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    assert good_pickle()  # the base every file above extends
