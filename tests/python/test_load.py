"""ptio.load against torch: the first checks of the package's plumbing."""

import collections
import os

import torch

import ptio


def test_state_dict_round(tmp_path):
    sd = collections.OrderedDict(a=torch.arange(6.0).reshape(2, 3))
    sd["b"] = sd["a"][:, 1]
    sd._metadata = {"": {"version": 1}}
    path = os.fspath(tmp_path / "sd.pt")
    torch.save(sd, path)
    got = ptio.load(path)
    assert type(got) is collections.OrderedDict
    assert got._metadata == {"": {"version": 1}}
    assert torch.equal(got["a"], sd["a"]) and torch.equal(got["b"], sd["b"])
    assert got["b"].storage_offset() == 1 and got["b"].stride() == (3,)
    assert got["a"].storage().data_ptr() == got["b"].storage().data_ptr()
