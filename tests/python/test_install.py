"""cmake --install puts an importable package under the prefix given."""

import os
import subprocess
import sys

import pytest

BUILD = os.environ.get("PTIO_BUILD_DIR", "")
CMAKE = os.environ.get("PTIO_CMAKE", "cmake")


def test_install_component_into_a_prefix(tmp_path):
    if not os.path.isfile(os.path.join(BUILD, "CMakeCache.txt")):
        pytest.skip("PTIO_BUILD_DIR is not a build folder")
    prefix = tmp_path / "prefix"
    subprocess.run([CMAKE, "--install", BUILD, "--prefix", os.fspath(prefix), "--component", "python"],
                   check=True, capture_output=True)
    inits = list(prefix.rglob("ptio/__init__.py"))
    assert len(inits) == 1, inits
    site = os.fspath(inits[0].parent.parent)
    script = ("import ptio, torch, io; b = io.BytesIO(); torch.save({'t': torch.arange(3)}, b); "
              "print(ptio.__file__); assert torch.equal(ptio.load(b.getvalue())['t'], torch.arange(3))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = site
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip().startswith(site)
