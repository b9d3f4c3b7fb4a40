#!/usr/bin/python3
"""Trained models of the quantizable families for issue 24's acceptance ("trained models you have
not seen"): a MobileNetV3-Small, a ShuffleNetV2, a GoogLeNet, a ResNeXt and an EfficientNet-B0
(torchvision 0.14's architectures, narrowed as tools/families/zoo_models.py says) trained briefly
(468 steps of 128 images, one epoch) on Fashion-MNIST with tools/fmnist.py's
data conventions (IDX files in /usr/share/datasets/fashion-mnist, 28x28 zero-padded by 2 to 32x32,
three identical channels, (x/255 - 0.286)/0.353 in float32), exported by torch.onnx.export at opset 13.

The MobileNetV3 and ShuffleNetV2 were trained (2 threads) with tools/families' re-implementations,
which build torchvision's modules with the same seeded initialisation and forward bit for bit; the
newer three with 1 thread. Training times on a shared CPU, nice: googlenet ~1, resnext ~1,
efficientnet_b0 ~3 minutes.

Command (from the repository root; seeded):

    nice /usr/bin/python3 tools/families/fmnist_zoo.py [name ...]

writes testdata/fmnist_zoo/<name>/:
    model.onnx        opset 13 (dynamic batch axis but mobilenet_v3_small: batch 1)
    model_onnx.json   the description naming it: testdata/resnet_fmnist/model_onnx.json's
                      preprocessing and classes
    golden.json       PyTorch's float top-1 over all 10,000 test images (percent and count correct),
                      the training recipe and times
    logits1k.npy      float32 1000x10: PyTorch's float logits of the first 1000 test images
"""
import hashlib
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
from torch import nn

import zoo_models  # noqa: E402  tools/families/zoo_models.py: torchvision builds, paths
from zoo_models import OUT, fmnist  # noqa: E402

DESC = os.path.join(zoo_models.ROOT, "testdata", "resnet_fmnist", "model_onnx.json")

MODELS = {
    "mobilenet_v3_small": dict(
        torchvision="mobilenet_v3_small(num_classes=10, width_mult=0.25, reduced_tail=True)",
        dynamic=False, steps=468, lr=0.05, recalibrate_bn=True, threads=2),
    "shufflenet_v2": dict(
        torchvision="shufflenet_v2_x0_5(num_classes=10) with stage repeats [2,4,2] and conv5 width 512: "
                    "ShuffleNetV2([2,4,2], [24,48,96,192,512])",
        dynamic=True, steps=468, lr=0.1, recalibrate_bn=False, threads=2),
    "googlenet": dict(
        torchvision=f"QuantizableGoogLeNet(num_classes=10, aux_logits=False, transform_input=False) with every "
                    f"width divided by {zoo_models.GOOGLENET_DIV} (zoo_models.NarrowGoogLeNet)",
        dynamic=True, steps=468, lr=0.1, recalibrate_bn=False, threads=1),
    "resnext": dict(
        torchvision=f"QuantizableResNet(QuantizableBottleneck, {zoo_models.RESNEXT})",
        dynamic=True, steps=468, lr=0.1, recalibrate_bn=False, threads=1),
    "efficientnet_b0": dict(
        torchvision=f"efficientnet_b0 configuration, _efficientnet_conf({zoo_models.EFFICIENTNET}), "
                    "num_classes=10, dropout 0.2, stochastic depth 0.2",
        dynamic=True, steps=468, lr=0.1, recalibrate_bn=False, threads=1),
}
BATCH, WD, SEED = 128, 5e-5, 0


def train(name, cfg, tr32, tr_lab):
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = zoo_models.BUILD[name](quantizable=False)
    steps = cfg["steps"]  # one epoch: torch's depthwise backward is slow on a shared CPU
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9, nesterov=True, weight_decay=WD)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=steps,
                                                pct_start=0.25, div_factor=25, final_div_factor=1e3)
    lossf = nn.CrossEntropyLoss()
    model.train()
    t0 = time.time()
    perm = torch.randperm(len(tr32), generator=gen)
    tot = 0.0
    for s in range(steps):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        x = fmnist.normalize_u8(fmnist.augment(tr32[idx], gen))
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), tr_lab[idx])
        loss.backward()
        opt.step()
        sched.step()
        tot += loss.item()
        if (s + 1) % 50 == 0:
            print(f"{name}: step {s + 1}/{steps} loss {tot / 50:.4f} {time.time() - t0:.0f}s", flush=True)
            tot = 0.0
    if cfg["recalibrate_bn"]:
        recalibrate_bn(model, tr32, gen)
    model.eval()
    return model, round(time.time() - t0, 1)


def recalibrate_bn(model, tr32, gen, batches=40):
    """Replaces BatchNorm running statistics by their average over training batches (no augmentation).

    MobileNetV3's BatchNorm momentum is 0.01 (torchvision's): after a few hundred steps its running
    statistics still hold much of their initial values and lag the weights, and eval mode predicts
    one class. The weights are unchanged."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
        bn.train()
    perm = torch.randperm(len(tr32), generator=gen)
    with torch.no_grad():
        for b in range(batches):
            model(fmnist.normalize_u8(tr32[perm[b * BATCH:(b + 1) * BATCH]]))
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum


def main():
    names = sys.argv[1:] or list(MODELS)
    tr_img, tr_lab = fmnist.load_split("train")
    te_img, te_lab = fmnist.load_split("t10k")
    tr32 = fmnist.pad_u8(torch.from_numpy(tr_img))
    tr_lab = torch.from_numpy(tr_lab)
    te_x = fmnist.preprocess(te_img)
    with open(DESC) as f:
        desc = json.load(f)
    for name in names:
        cfg = MODELS[name]
        torch.set_num_threads(cfg["threads"])
        model, times = train(name, cfg, tr32, tr_lab)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "model.onnx")
        kw = {}
        if cfg["dynamic"]:
            kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
        torch.onnx.export(model, te_x[:1], p, opset_version=13, input_names=["input"], output_names=["logits"],
                          training=torch.onnx.TrainingMode.EVAL, **kw)
        onnx.checker.check_model(onnx.load(p), full_check=True)
        with torch.no_grad():
            logits = torch.cat([model(te_x[i:i + 500]) for i in range(0, len(te_x), 500)])
        correct = int((logits.argmax(1) == torch.from_numpy(te_lab)).sum())
        np.save(os.path.join(d, "logits1k.npy"), logits[:1000].numpy().astype(np.float32))
        zoo_models.write_json(os.path.join(d, "model_onnx.json"), desc)
        with open(p, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        golden = {
            "model": "model.onnx", "sha256": sha, "torchvision": cfg["torchvision"], "opset": 13,
            "dynamic_batch": cfg["dynamic"], "parameters": sum(q.numel() for q in model.parameters()),
            "float_top1": round(100 * correct / len(te_lab), 4), "float_correct": correct, "n": len(te_lab),
            "train": {"steps": cfg["steps"], "images": cfg["steps"] * BATCH, "batch": BATCH, "max_lr": cfg["lr"], "weight_decay": WD,
                      "seed": SEED, "threads": cfg["threads"],
                      "bn_recalibrated": cfg["recalibrate_bn"] and "40 training batches of 128, cumulative",
                      "optimizer": "SGD momentum 0.9 nesterov, OneCycleLR", "augment": "hflip + crop (pad 2)",
                      "seconds": times},
        }
        zoo_models.write_json(os.path.join(d, "golden.json"), golden)
        print(f"{name}: top-1 {golden['float_top1']} ({correct}/10000), {os.path.getsize(p)} bytes", flush=True)


if __name__ == "__main__":
    main()
