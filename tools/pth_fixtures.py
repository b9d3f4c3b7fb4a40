#!/usr/bin/python3
"""Small torch.save files for frontend/pth.go's tests, each beside a safetensors file
of the same tensors where the test compares the two.

Environment: Debian's PyTorch 1.13 (/usr/bin/python3). Run from the repository root:

    /usr/bin/python3 tools/pth_fixtures.py --out frontend/testdata/pth

Files:
    views.pth / views.safetensors   strided views (transpose, shared storage at an
                                    offset, a column), a Parameter, F16, BF16, I64,
                                    a scalar and an empty tensor; _metadata set
    proto4.pth                      the same dict written with pickle protocol 4
    mnv2.pth / mnv2.safetensors     a tiny MobileNetV2 state_dict (random weights),
    mnv2.json                       its description (weights: mnv2.pth)
    module.pth                      a pickled nn.Module, not a state_dict
    legacy.pth                      the pre-1.6 (non-zip) torch.save format
    double.pth                      a float64 tensor (DoubleStorage)
"""
import argparse
import collections
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist import write_safetensors  # noqa: E402
from mnv2 import MobileNetV2  # noqa: E402

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)

    base = torch.randn(4, 6)
    sd = collections.OrderedDict()
    sd["dense.weight"] = base
    sd["transposed"] = base.t()                     # stride (1, 6)
    sd["row.at.offset"] = base[2]                   # shares base's storage, offset 12
    sd["column"] = base[:, 3]                       # offset 3, stride 6
    sd["param"] = nn.Parameter(torch.randn(3))
    sd["half"] = torch.randn(2, 3).half()
    sd["bf16"] = torch.randn(5).bfloat16()
    sd["bn.num_batches_tracked"] = torch.tensor(123456789012, dtype=torch.int64)
    sd["empty"] = torch.empty(0, 3)
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    torch.save(sd, os.path.join(out, "views.pth"))
    torch.save(sd, os.path.join(out, "proto4.pth"), pickle_protocol=4)
    write_safetensors(os.path.join(out, "views.safetensors"), sd, metadata=None)

    setting = [[1, 8, 1, 1], [2, 8, 2, 2]]
    m = MobileNetV2(num_classes=5, width_mult=0.25, inverted_residual_setting=setting, round_nearest=8)
    for mod in m.modules():  # non-trivial BN statistics, so folding is exercised
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    msd = m.state_dict()
    torch.save(msd, os.path.join(out, "mnv2.pth"))
    write_safetensors(os.path.join(out, "mnv2.safetensors"), msd, metadata=None)
    desc = {"arch": "mobilenetv2", "num_classes": 5, "width_mult": 0.25, "round_nearest": 8,
            "inverted_residual_setting": setting, "input": [3, 16, 16], "mean": [0.5] * 3,
            "std": [0.25] * 3, "preprocess": {"resize": 0, "crop": 0, "pad": 0}, "weights": "mnv2.pth"}
    with open(os.path.join(out, "mnv2.json"), "w") as f:
        json.dump(desc, f, indent=1)
        f.write("\n")

    torch.save(nn.Linear(2, 2), os.path.join(out, "module.pth"))
    small = collections.OrderedDict([("w", torch.ones(2))])
    torch.save(small, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(collections.OrderedDict([("w", torch.ones(2, dtype=torch.float64))]), os.path.join(out, "double.pth"))


if __name__ == "__main__":
    main()
