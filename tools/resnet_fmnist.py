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
import copy
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
from fmnist import (MEAN, STD, PAD, N_CALIB, CALIB_BATCH, N_GOLDEN, QCONFIGS, MAIN_DIR,  # noqa: E402
                    load_split, pad_u8, normalize_u8, preprocess, write_safetensors,
                    write_json, load_golden, save_golden, logits_of, accuracy, size_mb, _f, _i, _wq)
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


def cmd_train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    desc = model_desc(a.block, json.loads(a.layers), json.loads(a.widths), a.width_per_group)
    model = build(desc)
    tr_img, tr_lab = load_split("train")
    if a.train_limit:
        tr_img, tr_lab = tr_img[:a.train_limit], tr_lab[:a.train_limit]
    te_img, te_lab = load_split("t10k")
    tr32 = pad_u8(torch.from_numpy(tr_img))
    tr_lab_t = torch.from_numpy(tr_lab)
    te_x = preprocess(te_img)
    bs = a.batch
    steps = len(tr32) // bs
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=a.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, epochs=a.epochs, steps_per_epoch=steps,
                                                pct_start=0.25, div_factor=25, final_div_factor=1e3)
    lossf = nn.CrossEntropyLoss()
    times = []
    for ep in range(a.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(tr32), generator=gen)
        for s in range(steps):
            idx = perm[s * bs:(s + 1) * bs]
            x = normalize_u8(tr32[idx])
            flip = torch.rand(len(idx), generator=gen) < 0.5  # horizontal flips only: cheap
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(x), tr_lab_t[idx])
            loss.backward()
            opt.step()
            sched.step()
        times.append(time.time() - t0)
        model.eval()
        t1, _, _ = accuracy(logits_of(model, te_x), te_lab)
        print(f"epoch {ep}: {times[-1]:.0f}s, loss {loss.item():.3f}, test top1 {t1:.2f}", flush=True)
    os.makedirs(a.out, exist_ok=True)
    save_weights(a.out, desc, model.state_dict())
    g = load_golden(a.out)
    g["train"] = {"epochs": a.epochs, "batch": bs, "max_lr": a.lr, "weight_decay": a.wd, "seed": a.seed,
                  "optimizer": "SGD momentum 0.9 nesterov, OneCycleLR", "augment": "hflip",
                  "epoch_seconds": [round(t, 1) for t in times]}
    save_golden(a.out, g)
    a.dir = a.out
    cmd_export(a)


def cmd_export(a):
    torch.set_num_threads(a.threads)
    d = a.dir
    model, _ = load_model(d)
    te_img, te_lab = load_split("t10k")
    logits = logits_of(model, preprocess(te_img))
    np.save(os.path.join(d, "golden_float_logits.npy"), logits[:N_GOLDEN].numpy().astype(np.float32))
    t1, t5, t1k = accuracy(logits, te_lab)
    sd = model.state_dict()
    g = load_golden(d)
    g.update({"float_top1": t1, "float_top5": t5, "float_top1_1k": t1k, "n": len(te_lab),
              "param_count": int(sum(v.numel() for v in sd.values() if v.is_floating_point())),
              "float_size_mb": round(size_mb(model), 6)})
    save_golden(d, g)
    print(f"{d}: float top1 {t1:.2f} top5 {t5:.2f} params {g['param_count']}")


def quantize_one(d, qname, calib_x):
    from torch.ao import quantization as tq
    import torch.nn.quantized as nnq
    import torch.nn.intrinsic.quantized as nniq
    engine = "qnnpack" if qname == "qnnpack" else "onednn"
    torch.backends.quantized.engine = engine
    m, _ = load_model(d, quantizable=True)
    m.fuse_model()
    m.qconfig = tq.default_qconfig if qname == "default" else tq.get_default_qconfig(qname)
    tq.prepare(m, inplace=True)
    with torch.no_grad():
        for i in range(0, len(calib_x), CALIB_BATCH):
            m(calib_x[i:i + CALIB_BATCH])
    obs = {}
    for n, mod in m.named_modules():
        app = getattr(mod, "activation_post_process", None)
        if app is not None and hasattr(app, "min_val"):
            obs[n] = {"min_val": _f(app.min_val), "max_val": _f(app.max_val),
                      "quant_min": int(app.quant_min), "quant_max": int(app.quant_max),
                      "observer": type(app).__name__}
    tq.convert(m, inplace=True)
    layers = {}
    for n, mod in m.named_modules():
        if isinstance(mod, nnq.Quantize):
            e = {"scale": _f(mod.scale), "zero_point": _i(mod.zero_point)}
        elif isinstance(mod, (nniq.ConvReLU2d, nnq.Conv2d, nnq.Linear)):
            ws, wz = _wq(mod.weight())
            e = {"type": type(mod).__name__, "scale": _f(mod.scale), "zero_point": _i(mod.zero_point),
                 "weight_scale": ws, "weight_zero_point": wz}
        elif isinstance(mod, nnq.QFunctional):
            e = {"type": "add_relu", "scale": _f(mod.scale), "zero_point": _i(mod.zero_point)}
        else:
            continue
        if n in obs:
            e.update(obs[n])
        layers[n] = e
    return m, engine, layers


def cmd_quant(a):
    torch.set_num_threads(a.threads)
    d = a.dir
    calib_x = preprocess(np.load(os.path.join(MAIN_DIR, "calib_images.npy")))
    te_img, te_lab = load_split("t10k")
    te_x = preprocess(te_img)
    g = load_golden(d)
    g.setdefault("pytorch", {})
    g["calib"] = {"images": "calib_images.npy", "n": N_CALIB, "batch": CALIB_BATCH}
    for qname in (a.qconfigs.split(",") if a.qconfigs else QCONFIGS):
        qm, engine, layers = quantize_one(d, qname, calib_x)
        logits = logits_of(qm, te_x)
        t1, t5, t1k = accuracy(logits, te_lab)
        np.save(os.path.join(d, f"pytorch_{qname}_preds.npy"), logits.argmax(1).numpy().astype(np.int64))
        np.save(os.path.join(d, f"pytorch_{qname}_logits1k.npy"), logits[:N_GOLDEN].numpy().astype(np.float32))
        g["pytorch"][qname] = {"engine": engine, "top1": t1, "top5": t5, "top1_1k": t1k,
                               "size_mb": round(size_mb(qm), 6), "layers": layers}
        save_golden(d, g)
        print(f"{d} {qname:8s} ({engine}): top1 {t1:.2f} top5 {t5:.2f}", flush=True)


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
