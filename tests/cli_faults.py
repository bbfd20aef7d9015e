#!/usr/bin/env python3
"""File faults against the ptio CLI; needs no torch and no GPU.

    cli_faults.py --ptio PTIO --shim LIBSHIM WORK_DIR

The shim (support/fault_shim.cpp, preloaded) makes each fault happen at a fixed point, so no
check depends on timing:
  - shrink: the checkpoint is truncated (to half, to one page, to 0 bytes) right after ptio
    opened it. `ls --hash`, `verify`, `load --read mmap|pread --cpu copy` and `cp` must exit 2
    with an io_error saying the file shrank, never die of SIGBUS, and cp must leave nothing in
    its output folder; `show` reads nothing more after the open and must still exit 0.
  - kill: cp is sent SIGINT or SIGTERM after 1 MiB of its output is written; it must die of
    that signal and leave nothing (with O_TMPFILE, and with the shim refusing it, where a
    temporary name exists and is removed by ptio's handler). SIGKILL, which no handler sees,
    leaves nothing with O_TMPFILE and the temporary name without it (proof that the shim
    really forced the fallback).
  - ulimit -f: cp and sample under a 256 KiB file-size limit exit 2 with an io_error naming
    the limit and leave nothing, in both modes.
Prints one line per failure; exits 1 on any.
"""

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys

failures = []


def fail(what):
    failures.append(what)
    print(f"FAIL: {what}", flush=True)


def run(ptio, args, env=None, limit=None):
    def pre():
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    done = subprocess.run([ptio, *args], capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})}, preexec_fn=pre)
    return done.returncode, done.stderr.decode("utf-8", "replace")


def describe(rc):
    return f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit {rc}"


def leftovers(folder, keep=()):
    return sorted(set(os.listdir(folder)) - set(keep))


def check_shrink(ptio, shim, source, work):
    size = os.path.getsize(source)
    commands = {
        "ls --hash": ["ls", "--hash", "-j", "4"],
        "verify": ["verify"],
        "load --read mmap": ["load", "--map-location", "cpu", "--cpu", "copy", "--read", "mmap"],
        "load --read pread": ["load", "--map-location", "cpu", "--cpu", "copy", "--read", "pread"],
        "cp": ["cp"],
        "show": ["show"],
    }
    for to_name, to in (("half", size // 2), ("one page", 4096), ("0 bytes", 0)):
        for name, args in commands.items():
            folder = fresh(work, "shrink")
            victim = os.path.join(folder, "victim.pt")
            shutil.copyfile(source, victim)
            out_dir = os.path.join(folder, "out")
            os.makedirs(out_dir)
            argv = [args[0], victim, *args[1:]]
            if name == "cp":
                argv = ["cp", victim, os.path.join(out_dir, "copy.pt")]
            env = {"LD_PRELOAD": shim, "PTIO_SHIM_SHRINK": f"{victim}:{to}"}
            rc, err = run(ptio, argv, env)
            what = f"{name} after a shrink to {to_name}"
            if "ptio-shim: shrank" not in err:
                fail(f"{what}: the shim did not truncate the file (ptio no longer advises "
                     f"MADV_NORMAL after an open?): {err.strip()}")
                continue
            if name == "show":
                if rc != 0:
                    fail(f"{what}: {describe(rc)} (show reads nothing after the open): {err.strip()}")
                continue
            if rc != 2 or "the file shrank while it was being read" not in err or "victim.pt" not in err:
                fail(f"{what}: {describe(rc)}, wanted exit 2 and the shrank io_error: {err.strip()}")
            if leftovers(out_dir):
                fail(f"{what}: left {leftovers(out_dir)}")


def fresh(work, name):
    """An empty folder WORK/name."""
    folder = os.path.join(work, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return folder


def sink_modes(shim):
    """(description, environment) for both ways file_sink writes: O_TMPFILE and a temporary name."""
    yield "O_TMPFILE", {"LD_PRELOAD": shim}
    yield "a temporary name", {"LD_PRELOAD": shim, "PTIO_SHIM_NO_TMPFILE": "1"}


def check_kill(ptio, shim, source, work):
    for mode, base_env in sink_modes(shim):
        for sig in (signal.SIGINT, signal.SIGTERM):
            folder = fresh(work, "kill")
            env = {**base_env, "PTIO_SHIM_KILL": f"{1 << 20}:{int(sig)}"}
            rc, err = run(ptio, ["cp", source, os.path.join(folder, "copy.pt")], env)
            what = f"cp killed by {sig.name} mid-write ({mode})"
            if rc != -sig:
                fail(f"{what}: {describe(rc)}, wanted death by the signal: {err.strip()}")
            if leftovers(folder):
                fail(f"{what}: left {leftovers(folder)}")
        # SIGKILL cannot be handled: with O_TMPFILE nothing is left even so, and without it the
        # temporary name is (which also shows the shim really forced the fallback).
        folder = fresh(work, "kill")
        env = {**base_env, "PTIO_SHIM_KILL": f"{1 << 20}:{int(signal.SIGKILL)}"}
        rc, err = run(ptio, ["cp", source, os.path.join(folder, "copy.pt")], env)
        left = leftovers(folder)
        named = len(left) == 1 and left[0].startswith("copy.pt.ptio-tmp-")
        if rc != -signal.SIGKILL or (named if mode == "O_TMPFILE" else not named):
            fail(f"cp killed by SIGKILL mid-write ({mode}): {describe(rc)}, left {left}")


def check_file_size_limit(ptio, shim, source, work):
    for mode, env in sink_modes(shim):
        for name in ("cp", "sample"):
            folder = fresh(work, "ulimit")
            dst = os.path.join(folder, "out.pt")
            argv = ["cp", source, dst] if name == "cp" else ["sample", dst, "--size-mb", "4"]
            rc, err = run(ptio, argv, env, limit=256 << 10)
            what = f"{name} under ulimit -f 256 KiB ({mode})"
            if rc != 2 or "file-size limit" not in err:
                fail(f"{what}: {describe(rc)}, wanted exit 2 and an io_error naming the limit: "
                     f"{err.strip()}")
            if leftovers(folder):
                fail(f"{what}: left {leftovers(folder)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ptio", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("work")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    # A 4 MB checkpoint of ptio's own making: big enough that a copy is mid-write after 1 MiB
    # and that every truncation point removes pages tensors and records lie in.
    source = os.path.join(a.work, "source.pt")
    rc, err = run(a.ptio, ["sample", source, "--size-mb", "4"])
    if rc != 0:
        print(f"FAIL: ptio sample: {describe(rc)}: {err}")
        return 1
    check_shrink(a.ptio, a.shim, source, a.work)
    check_kill(a.ptio, a.shim, source, a.work)
    check_file_size_limit(a.ptio, a.shim, source, a.work)
    print(f"cli_faults: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
