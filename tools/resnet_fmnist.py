#!/usr/bin/python3
"""Fashion-MNIST ResNet reference models and PyTorch PTQ goldens for ptqc.

Trains a small basic-block ResNet (torchvision's structure and key names, tools/resnet.py,
with narrower layers) on Fashion-MNIST and writes it as ptqc reads it: model.json with
"weights": "model.pth" (torch.save of the state_dict) and model.safetensors of the same
tensors; float goldens and PyTorch eager-mode PTQ of torchvision's QuantizableResNet
(fuse_model, prepare, calibrate, convert) for the qconfigs default, fbgemm, qnnpack and
onednn, exactly as tools/fmnist.py does for MobileNetV2 (same data, preprocessing,
calibration images and engines). Also a bottleneck ResNet with random weights and
BatchNorm statistics, for shapes: its float logits on the first 16 test images.

Environment: Debian's PyTorch 1.13 (/usr/bin/python3), numpy, the Debian Fashion-MNIST
IDX files. Commands used to produce testdata/ (from the repository root):

    /usr/bin/python3 tools/resnet_fmnist.py train --out testdata/resnet_fmnist --epochs 3
    /usr/bin/python3 tools/resnet_fmnist.py quant --dir testdata/resnet_fmnist
    /usr/bin/python3 tools/resnet_fmnist.py bottleneck --out testdata/resnet_bottleneck

A trained bottleneck model of another depth, as an unseen-model check (not in testdata/):

    /usr/bin/python3 tools/resnet_fmnist.py train --out /tmp/rn_unseen --block bottleneck \
        --layers "[1, 2, 1, 1]" --widths "[16, 32, 48, 64]" --width-per-group 32 --epochs 1 --threads 1
    /usr/bin/python3 tools/resnet_fmnist.py quant --dir /tmp/rn_unseen --qconfigs fbgemm,onednn --threads 1

Files: as tools/fmnist.py's model directories (the test and calibration images are
testdata/mobilenetv2_fmnist's), plus model.pth.
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist import (MEAN, STD, PAD, QCONFIGS, MAIN_DIR, calibrate, convert, export_float, fit,  # noqa: E402
                    load_split, normalize_u8, prepare_one, preprocess, quant_goldens, save_train,
                    write_json, write_safetensors)
from resnet import build  # noqa: E402


def model_desc(block, layers, widths, width_per_group=64, num_classes=10):
    d = {"arch": "resnet", "block": block, "layers": layers, "widths": widths}
    if block == "bottleneck":
        d["width_per_group"] = width_per_group
    d.update({"num_classes": num_classes, "input": [3, 32, 32], "mean": [MEAN] * 3, "std": [STD] * 3,
              "preprocess": {"resize": 0, "crop": 0, "pad": PAD}, "weights": "model.pth"})
    return d


def save_weights(d, desc, sd):
    """model.pth (torch.save) and model.safetensors of the same tensors."""
    sd = collections.OrderedDict((k, v.detach().clone()) for k, v in sd.items())
    torch.save(sd, os.path.join(d, "model.pth"))
    write_safetensors(os.path.join(d, "model.safetensors"), sd)
    back = torch.load(os.path.join(d, "model.pth"))
    assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    write_json(os.path.join(d, "model.json"), desc)


def load_model(d, quantizable=False):
    with open(os.path.join(d, "model.json")) as f:
        desc = json.load(f)
    m = build(desc, quantizable)
    m.load_state_dict(torch.load(os.path.join(d, desc["weights"])), strict=True)
    m.eval()
    return m, desc


def flip(imgs32, gen):
    """A step's inputs: preprocessed, each image flipped horizontally or not (cheap)."""
    x = normalize_u8(imgs32)
    flips = torch.rand(len(imgs32), generator=gen) < 0.5
    return torch.where(flips[:, None, None, None], x.flip(-1), x)


def cmd_train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    desc = model_desc(a.block, json.loads(a.layers), json.loads(a.widths), a.width_per_group)
    model = build(desc)
    tr_img, tr_lab = load_split("train")
    if a.train_limit:
        tr_img, tr_lab = tr_img[:a.train_limit], tr_lab[:a.train_limit]
    epoch_times = fit(model, a, tr_img, tr_lab, flip)
    os.makedirs(a.out, exist_ok=True)
    save_weights(a.out, desc, model.state_dict())
    save_train(a, epoch_times, "hflip")
    a.dir = a.out
    cmd_export(a)


def cmd_export(a):
    torch.set_num_threads(a.threads)
    model, _ = load_model(a.dir)
    export_float(a.dir, model, *load_split("t10k"))


def quantize_one(d, qname, calib_x):
    m, engine = prepare_one(load_model(d, quantizable=True)[0], qname)
    calibrate(m, calib_x)
    return m, engine, convert(m, lambda n: {"type": "add_relu"})


def cmd_quant(a):
    torch.set_num_threads(a.threads)

    def quantize(qname, calib_x):
        return quantize_one(a.dir, qname, calib_x) + (lambda run: (run(), {}),)

    quant_goldens(a.dir, os.path.join(MAIN_DIR, "calib_images.npy"),
                  a.qconfigs.split(",") if a.qconfigs else QCONFIGS, quantize)


def cmd_bottleneck(a):
    torch.manual_seed(a.seed)
    desc = model_desc("bottleneck", [1, 2, 1, 1], [8, 16, 16, 32], width_per_group=32)
    m = build(desc)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    m.eval()
    os.makedirs(a.out, exist_ok=True)
    save_weights(a.out, desc, m.state_dict())
    x = preprocess(np.load(os.path.join(MAIN_DIR, "test_images.npy"))[:16])
    with torch.no_grad():
        np.save(os.path.join(a.out, "golden_float_logits.npy"), m(x).numpy().astype(np.float32))
    print(f"{a.out}: {sum(v.numel() for v in m.state_dict().values())} values")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", default="testdata/resnet_fmnist")
    t.add_argument("--layers", default="[2, 1, 1, 1]")
    t.add_argument("--widths", default="[16, 32, 64, 128]")
    t.add_argument("--block", default="basic", choices=("basic", "bottleneck"))
    t.add_argument("--width-per-group", type=int, default=64)
    t.add_argument("--train-limit", type=int, default=0, help="train on the first N training images (0: all)")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--wd", type=float, default=5e-5)
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("export")
    e.add_argument("--dir", default="testdata/resnet_fmnist")
    q = sub.add_parser("quant")
    q.add_argument("--dir", default="testdata/resnet_fmnist")
    q.add_argument("--qconfigs", default="")
    b = sub.add_parser("bottleneck")
    b.add_argument("--out", default="testdata/resnet_bottleneck")
    b.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    {"train": cmd_train, "export": cmd_export, "quant": cmd_quant, "bottleneck": cmd_bottleneck}[a.cmd](a)


if __name__ == "__main__":
    main()
