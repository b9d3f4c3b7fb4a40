#!/usr/bin/python3
"""Small instances of torchvision 0.14's classification families, exported to ONNX with PyTorch's
logits, for frontend/onnx's family tests (issue 24, item 4).

Environment: Debian 12's PyTorch 1.13, python3-torchvision 0.14.1 and python3-onnx 1.12
(/usr/bin/python3), numpy. Each instance is torchvision's own model (the builder or class that
families.json's "torchvision" names) made small by two generic passes: `shorten` keeps at most n
blocks of each stage (a Sequential of blocks of one class; only blocks that keep their input's
shape go), and `narrow` divides the channel count of every conv, BatchNorm and linear layer
(the last layer keeps the classes; inputs follow what the layers before give: the image's 3
channels, a concatenation's sum; groups keep their width where they can). Where torchvision's
classifier expects a large feature map (AlexNet, VGG), its adaptive pool is set to the small
input's size, as families.json says.

Command (from the repository root; deterministic: seeded, one thread):

    /usr/bin/python3 tools/families/export.py [name ...]

writes testdata/families/<name>/{model_op13.onnx, model_op17.onnx, input.npy, logits.npy} for each
family instance, testdata/families/out_of_scope/<name>/ likewise for a tiny ConvNeXt and ViT, and
testdata/families/families.json (the manifest: shapes, opsets, dynamic batch, op counts per opset;
written only when no name is given).

Weights: torchvision's initialisation (PyTorch's default for narrowed layers) under torch.manual_seed,
BatchNorm affine parameters drawn around 1 and 0, then BatchNorm running statistics measured on
N(0,1) inputs (the BN layers alone in train mode, cumulative averages), so that activations stay
O(1) in eval; models without BatchNorm (AlexNet, VGG, SqueezeNet) have each conv and linear
layer's weights and bias scaled in execution order so that its output has standard deviation 1
(LSUV). The classifier's last layer is scaled to give logits of standard deviation 2. Each model
is exported in eval mode (torch.onnx.TrainingMode.EVAL: torch folds a BatchNorm that follows a
conv into it and keeps the others as BatchNormalization), do_constant_folding as torch's default,
input "input", output "logits", a dynamic batch axis (dynamic_axes) where the manifest says so,
else a static batch of 1 (input.npy and logits.npy still hold a batch of 2).
onnx.checker.check_model (full_check) passes on every file.
"""
import hashlib
import json
import math
import os
import sys
from collections import Counter

import numpy as np
import onnx
import torch
import torchvision.models as tv
from torch import nn
from torchvision.models.convnext import CNBlockConfig

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "testdata", "families")
OPSETS = [13, 17]
BATCH = 2
K = 10  # classes


def layers_in_order(model, x):
    """The conv and linear layers in the order a forward pass runs them."""
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return list({id(m): m for m in order}.values())


def shorten(model, x, most):
    """Keeps at most `most` blocks of each stage: a Sequential of two or more torchvision blocks of
    one class loses its later blocks whose output has their input's shape (so nothing else moves)."""
    stages = [m for m in model.modules() if isinstance(m, nn.Sequential) and len(m) > 1
              and len({type(c) for c in m}) == 1 and type(m[0]).__module__.startswith("torchvision.")]
    same = {}

    def hook(c, args, out):
        same[id(c)] = args[0].shape == out.shape

    hooks = [c.register_forward_hook(hook) for s in stages for c in s]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for s in stages:
        keep = [c for i, c in enumerate(s) if i < most or not same[id(c)]]
        for name in list(s._modules):
            del s._modules[name]
        for i, c in enumerate(keep):
            s.add_module(str(i), c)
    return model


def narrow(model, x, divisor, dense=None):
    """Divides (rounding up) the output channels of every conv and BatchNorm by divisor and the
    outputs of every linear layer by dense (default: divisor), in place and with fresh weights; the
    last layer run keeps its outputs (the classes). A layer's inputs become what the narrowed
    layers before it give, found by running x; a depthwise conv stays depthwise and a grouped one
    keeps its group width where the narrowed channels allow, else the largest common group count
    short of depthwise."""
    dense = dense or divisor
    ran = []  # (layer, its outputs before narrowing), in the order they run

    def conv(m, cin, cout):
        if m.groups == m.in_channels and m.groups > 1:  # depthwise, with its channel multiplier
            g, cout = cin, cin * (m.out_channels // m.in_channels)
        else:
            w = m.in_channels // m.groups
            g = cin // w if cin % w == 0 and cin // w > 1 and cout % (cin // w) == 0 else \
                math.gcd(m.groups, cin, cout)
            if g > 1 and g == cin:  # a grouped conv stays grouped, not depthwise
                g //= next(p for p in range(2, g + 1) if g % p == 0)
        m.in_channels, m.out_channels, m.groups = cin, cout, g
        m.weight = nn.Parameter(torch.empty(cout, cin // g, *m.kernel_size))
        if m.bias is not None:
            m.bias = nn.Parameter(torch.empty(cout))
        m.reset_parameters()

    def linear(m, cin, cout):
        m.in_features, m.out_features = cin, cout
        m.weight = nn.Parameter(torch.empty(cout, cin))
        m.bias = nn.Parameter(torch.empty(cout))
        m.reset_parameters()

    def batchnorm(m, c, _):
        m.num_features = c
        m.weight, m.bias = nn.Parameter(torch.empty(c)), nn.Parameter(torch.empty(c))
        m.running_mean, m.running_var = torch.zeros(c), torch.ones(c)
        m.reset_parameters()

    rebuild = {nn.Conv2d: (conv, "out_channels", divisor), nn.Linear: (linear, "out_features", dense),
               nn.BatchNorm2d: (batchnorm, "num_features", divisor)}

    def hook(m, args):
        fn, out, d = rebuild[type(m)]
        ran.append((m, getattr(m, out)))
        fn(m, args[0].shape[1], -(-getattr(m, out) // d))

    hooks = [m.register_forward_pre_hook(hook) for m in model.modules() if type(m) in rebuild]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    m, out = next((m, out) for m, out in reversed(ran) if not isinstance(m, nn.BatchNorm2d))
    rebuild[type(m)][0](m, m.in_channels if isinstance(m, nn.Conv2d) else m.in_features, out)  # the classes
    return model


def small(model, shape, divisor=1, dense=None, most=None, pool=None):
    """torchvision's model for inputs [C, H, W] shape, its adaptive pool set to pool (AlexNet, VGG),
    at most `most` blocks a stage and channels narrowed by divisor (linear layers by dense)."""
    model.eval()
    if pool:
        model.avgpool = nn.AdaptiveAvgPool2d(pool)
    x = torch.zeros([1] + shape)
    if most:
        shorten(model, x, most)
    if divisor > 1:
        narrow(model, x, divisor, dense)
    return model


def what(ctor, args, divisor=1, dense=None, most=None, pool=None):
    """families.json's "torchvision": the constructor call and how small() shrinks it."""
    s = [f"avgpool AdaptiveAvgPool2d({pool})"] if pool else []
    s += [f"at most {most} block{'s' if most > 1 else ''} a stage"] if most else []
    s += [f"channels / {divisor} rounded up" + (f", linear widths / {dense}" if dense else "")] if divisor > 1 else []
    call = ctor + "(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"
    return "; ".join([call] + s)


# name, family, torchvision.models constructor, its arguments, input [C, H, W], dynamic batch, small()'s shrinking
FAMILIES = [
    ("alexnet", "AlexNet", "alexnet", {}, [3, 67, 67], False, dict(divisor=32, dense=256, pool=(1, 1))),
    ("vgg11", "VGG", "vgg11", {}, [3, 64, 64], False, dict(divisor=32, dense=256, pool=(2, 2))),
    ("vgg11_bn", "VGG", "vgg11_bn", {}, [3, 32, 32], True, dict(divisor=32, dense=256, pool=(1, 1))),
    ("resnet", "ResNet", "resnet18", {}, [3, 32, 32], False, dict(divisor=32, most=1)),
    ("resnext", "ResNeXt", "resnext50_32x4d", {}, [3, 32, 32], True, dict(divisor=32, most=1)),
    ("wide_resnet", "Wide ResNet", "wide_resnet50_2", {}, [3, 32, 32], False, dict(divisor=64, most=1)),
    ("squeezenet1_0", "SqueezeNet", "squeezenet1_0", {}, [3, 32, 32], False, dict(divisor=16)),
    ("squeezenet1_1", "SqueezeNet", "squeezenet1_1", {}, [3, 36, 36], True, dict(divisor=16)),
    ("densenet", "DenseNet", "DenseNet", dict(growth_rate=32, block_config=(2, 3, 2), num_init_features=64),
     [3, 32, 32], True, dict(divisor=8)),  # densenet121's widths, 3 blocks
    ("googlenet", "GoogLeNet", "googlenet", dict(aux_logits=False, init_weights=True), [3, 32, 32], True,
     dict(divisor=32)),
    ("inception_v3", "Inception v3", "inception_v3", dict(aux_logits=False, init_weights=True), [3, 75, 75], False,
     dict(divisor=48)),
    ("shufflenet_v2", "ShuffleNetV2", "shufflenet_v2_x0_5", {}, [3, 32, 32], True, dict(divisor=8, most=2)),
    ("mobilenet_v2", "MobileNetV2", "mobilenet_v2",
     dict(inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2]]), [3, 32, 32], True,
     dict(divisor=8)),
    ("mobilenet_v3_large", "MobileNetV3", "mobilenet_v3_large", dict(reduced_tail=True), [3, 32, 32], False,
     dict(divisor=16)),
    ("mobilenet_v3_small", "MobileNetV3", "mobilenet_v3_small", dict(reduced_tail=True), [3, 32, 32], True,
     dict(divisor=16)),
    ("mnasnet", "MNASNet", "mnasnet1_0", {}, [3, 32, 32], False, dict(divisor=16, most=2)),
    ("efficientnet_b0", "EfficientNet", "efficientnet_b0", {}, [3, 32, 32], True, dict(divisor=16, most=2)),
    ("efficientnet_v2_s", "EfficientNet", "efficientnet_v2_s", {}, [3, 32, 32], False, dict(divisor=16, most=2)),
    ("regnet_x", "RegNet", "regnet_x_400mf", {}, [3, 32, 32], False, dict(divisor=8, most=2)),
    ("regnet_y", "RegNet", "regnet_y_400mf", {}, [3, 32, 32], True, dict(divisor=8, most=1)),
]

OUT_OF_SCOPE = [
    ("convnext", "ConvNeXt", "ConvNeXt", dict(block_setting=[CNBlockConfig(16, None, 2)], layer_scale=0.5),
     [3, 32, 32], False, {}),
    ("vit", "ViT", "VisionTransformer", dict(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16,
                                             mlp_dim=32), [3, 32, 32], False, {}),
]


def scale_output(model, layer, x, target):
    """Scales layer's weight and bias so its output over x has standard deviation target."""
    got = []
    h = layer.register_forward_hook(lambda m, i, o: got.append(o.detach()))
    with torch.no_grad():
        model(x)
    h.remove()
    s = got[0].std().item()
    if s > 0:
        with torch.no_grad():
            layer.weight.mul_(target / s)
            if layer.bias is not None:
                layer.bias.mul_(target / s)


def prepare(model, shape, gen):
    """Random BN affine parameters and measured BN statistics (or LSUV without BN); eval mode."""
    model.eval()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(0.5 + torch.rand(bn.num_features, generator=gen))
            bn.bias.copy_(0.2 * (torch.rand(bn.num_features, generator=gen) - 0.5))
        for m in model.modules():  # torchvision zero-inits some: give every bias and token a value
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=gen))
            if isinstance(m, tv.VisionTransformer):
                m.class_token.copy_(0.5 * torch.randn(m.class_token.shape, generator=gen))
    calib = [torch.randn([16] + shape, generator=gen) for _ in range(4)]
    if bns:
        saved = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average
            bn.train()
        with torch.no_grad():
            for x in calib:
                model(x)
        for bn, mom in zip(bns, saved):
            bn.momentum = mom
            bn.eval()
    else:
        for layer in layers_in_order(model, calib[0])[:-1]:
            scale_output(model, layer, calib[0], 1.0)
    scale_output(model, layers_in_order(model, calib[0])[-1], calib[0], 2.0)
    model.eval()


def save_dynamic(model, shape, path):
    """model exported at opset 13 with a dynamic batch axis (input "input", output "logits") to path,
    written whole or not at all."""
    torch.onnx.export(model, torch.randn([1] + shape), path + ".tmp", opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.EVAL)
    os.replace(path + ".tmp", path)


def op_counts(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return dict(sorted(Counter(n.op_type for n in m.graph.node).items()))


def export_one(row, outdir, index):
    name, family, ctor, args, shape, dynamic, shrink = row
    torch.manual_seed(1000 + index)
    gen = torch.Generator().manual_seed(2000 + index)
    model = small(getattr(tv, ctor)(num_classes=K, **args), shape, **shrink)
    prepare(model, shape, gen)
    x = torch.randn([BATCH] + shape, generator=torch.Generator().manual_seed(3000 + index))
    with torch.no_grad():
        logits = model(x)
    if tuple(logits.shape) != (BATCH, K) or not torch.isfinite(logits).all():
        raise SystemExit(f"{name}: logits {tuple(logits.shape)}")
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float32))
    ops, files = {}, {}
    for opset in OPSETS:
        fn = f"model_op{opset}.onnx"
        p = os.path.join(d, fn)
        kw = {}
        if dynamic:
            kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
        example = x if dynamic else x[:1]  # a static export has batch 1, as most do
        torch.onnx.export(model, example, p, opset_version=opset, input_names=["input"], output_names=["logits"],
                          training=torch.onnx.TrainingMode.EVAL, **kw)
        ops[str(opset)] = op_counts(p)
        with open(p, "rb") as f:
            files[fn] = {"bytes": os.path.getsize(p), "sha256": hashlib.sha256(f.read()).hexdigest()}
    params = sum(p.numel() for p in model.parameters())
    rel = os.path.relpath(d, OUT)
    print(f"{rel}: {params} parameters, logits max |{logits.abs().max().item():.3g}|, "
          f"{sum(v['bytes'] for v in files.values())} bytes of ONNX, ops {sorted(ops['17'])}", flush=True)
    tv_call = what(ctor, dict(num_classes=K, **args), **shrink)
    return {"name": name, "dir": rel, "family": family, "torchvision": tv_call, "input": [BATCH] + shape, "num_classes": K, "opsets": OPSETS, "dynamic_batch": dynamic,
            "export_batch": None if dynamic else 1, "parameters": params, "files": files, "ops": ops}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    only = set(sys.argv[1:])
    manifest = {"generator": "tools/families/export.py", "torch": torch.__version__, "onnx": onnx.__version__,
                "batch": BATCH, "input_dist": "N(0,1), seeded", "models": [], "out_of_scope": []}
    for key, rows, outdir, first in (("models", FAMILIES, OUT, 0),
                                     ("out_of_scope", OUT_OF_SCOPE, os.path.join(OUT, "out_of_scope"), 100)):
        for i, row in enumerate(rows):
            if not only or row[0] in only:
                manifest[key].append(export_one(row, outdir, first + i))
    if not only:
        with open(os.path.join(OUT, "families.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
    total = 0
    for dp, _, fs in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dp, f)) for f in fs)
    print(f"testdata/families: {total} bytes")


if __name__ == "__main__":
    main()
