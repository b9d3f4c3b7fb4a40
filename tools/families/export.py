#!/usr/bin/python3
"""Small instances of torchvision 0.14's classification families, exported to ONNX with PyTorch's
logits, for frontend/onnx's family tests (issue 24, item 4).

Environment: Debian 12's PyTorch 1.13 and python3-onnx 1.12 (/usr/bin/python3), numpy; no
torchvision (Debian has none): the families are re-implemented in this directory, one module per
torchvision file, with torchvision's module structure and forward code. Where torchvision fixes a
width that a small instance must shrink (ResNet's planes, the 1280 last channel of MobileNetV2 and
MNASNet, SqueezeNet/GoogLeNet/Inception widths, AlexNet/VGG's classifier and adaptive pool), the
module takes it as a parameter whose default is torchvision's; families.json's "constructor" says
what each instance mirrors. torchvision is BSD-3-Clause (Copyright (c) Soumith Chintala 2016);
these modules follow its design and names so that the exported graphs are the ones it gives.

Command (from the repository root; deterministic: seeded, one thread):

    /usr/bin/python3 tools/families/export.py

writes testdata/families/<name>/{model_op13.onnx, model_op17.onnx, input.npy, logits.npy} for each
family instance, testdata/families/out_of_scope/<name>/ likewise for a tiny ConvNeXt and ViT, and
testdata/families/families.json (the manifest: shapes, opsets, dynamic batch, op counts per opset).

Weights: torchvision's initialisation under torch.manual_seed, BatchNorm affine parameters drawn
around 1 and 0, then BatchNorm running statistics measured on N(0,1) inputs (the BN layers alone
in train mode, cumulative averages), so that activations stay O(1) in eval; models without
BatchNorm (AlexNet, VGG, SqueezeNet) have each conv and linear layer's weights and bias scaled in
execution order so that its output has standard deviation 1 (LSUV). The classifier's last layer is
scaled to give logits of standard deviation 2. Each model is exported in eval mode
(torch.onnx.TrainingMode.EVAL: torch folds a BatchNorm that follows a conv into it and keeps the
others as BatchNormalization), do_constant_folding as torch's default, input "input", output
"logits", a dynamic batch axis (dynamic_axes) where the manifest says so, else a static batch of 1
(input.npy and logits.npy still hold a batch of 2). onnx.checker.check_model
(full_check) passes on every file.
"""
import hashlib
import json
import os
import sys
from collections import Counter
from functools import partial

import numpy as np
import onnx
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import alexnet  # noqa: E402
import densenet  # noqa: E402
import efficientnet  # noqa: E402
import googlenet  # noqa: E402
import inception  # noqa: E402
import mnasnet  # noqa: E402
import mobilenetv2  # noqa: E402
import mobilenetv3  # noqa: E402
import out_of_scope  # noqa: E402
import regnet  # noqa: E402
import resnet  # noqa: E402
import shufflenetv2  # noqa: E402
import squeezenet  # noqa: E402
import vgg  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "testdata", "families")
OPSETS = [13, 17]
BATCH = 2
K = 10  # classes



def _vgg(cfg, bn, pool):
    m = vgg.vgg(cfg, bn, divisor=32, hidden=16, num_classes=K)
    m.avgpool = nn.AdaptiveAvgPool2d(pool)
    m.classifier[0] = nn.Linear(vgg.scaled_cfg(cfg, 32)[-2] * pool[0] * pool[1], 16)
    return m


def _alexnet():
    m = alexnet.AlexNet(num_classes=K, widths=(8, 8, 8, 8, 8), hidden=16)
    m.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    m.classifier[1] = nn.Linear(8, 16)
    return m


# name, family, torchvision constructor mirrored, builder, input [C, H, W], dynamic batch
FAMILIES = [
    ("alexnet", "AlexNet",
     "alexnet(num_classes=10); widths (8,8,8,8,8) for (64,192,384,256,256), classifier hidden 16 for 4096, "
     "avgpool AdaptiveAvgPool2d((1,1)) for (6,6) (a 67x67 input gives 1x1 features)",
     _alexnet, [3, 67, 67], False),
    ("vgg11", "VGG",
     "vgg11(num_classes=10); cfg A widths / 32, classifier hidden 16, avgpool (2,2) for (7,7) "
     "(64x64 input: 2x2 features, an identity pool)",
     partial(_vgg, "A", False, (2, 2)), [3, 64, 64], False),
    ("vgg11_bn", "VGG",
     "vgg11_bn(num_classes=10); cfg A widths / 32, classifier hidden 16, avgpool (1,1) for (7,7) "
     "(32x32 input: 1x1 features)",
     partial(_vgg, "A", True, (1, 1)), [3, 32, 32], True),
    ("resnet", "ResNet",
     "resnet18(num_classes=10): ResNet(BasicBlock, [2,1,1,1]); planes (4,8,8,16) for (64,128,256,512)",
     lambda: resnet.ResNet(resnet.BasicBlock, [2, 1, 1, 1], num_classes=K, planes=(4, 8, 8, 16)), [3, 32, 32], False),
    ("resnext", "ResNeXt",
     "resnext50_32x4d(num_classes=10): ResNet(Bottleneck, [1,1,1,1], groups=4, width_per_group=8); "
     "planes (8,8,8,16)",
     lambda: resnet.ResNet(resnet.Bottleneck, [1, 1, 1, 1], num_classes=K, groups=4, width_per_group=8,
                           planes=(8, 8, 8, 16)), [3, 32, 32], True),
    ("wide_resnet", "Wide ResNet",
     "wide_resnet50_2(num_classes=10): ResNet(Bottleneck, [1,1,1,1], width_per_group=128); planes (4,4,8,8)",
     lambda: resnet.ResNet(resnet.Bottleneck, [1, 1, 1, 1], num_classes=K, width_per_group=128,
                           planes=(4, 4, 8, 8)), [3, 32, 32], False),
    ("squeezenet1_0", "SqueezeNet",
     "squeezenet1_0(num_classes=10); widths / 16",
     lambda: squeezenet.SqueezeNet("1_0", num_classes=K, divisor=16), [3, 32, 32], False),
    ("squeezenet1_1", "SqueezeNet",
     "squeezenet1_1(num_classes=10); widths / 16",
     lambda: squeezenet.SqueezeNet("1_1", num_classes=K, divisor=16), [3, 36, 36], True),
    ("densenet", "DenseNet",
     "densenet121(num_classes=10): DenseNet(growth_rate=4, block_config=(2,3,2), num_init_features=8, bn_size=2)",
     lambda: densenet.DenseNet(growth_rate=4, block_config=(2, 3, 2), num_init_features=8, bn_size=2,
                               num_classes=K), [3, 32, 32], True),
    ("googlenet", "GoogLeNet",
     "googlenet(num_classes=10, aux_logits=False, init_weights=True); widths / 32",
     lambda: googlenet.GoogLeNet(num_classes=K, divisor=32), [3, 32, 32], True),
    ("inception_v3", "Inception v3",
     "inception_v3(num_classes=10, aux_logits=False, init_weights=True); widths / 48",
     lambda: inception.Inception3(num_classes=K, divisor=48), [3, 75, 75], False),
    ("shufflenet_v2", "ShuffleNetV2",
     "shufflenet_v2_x0_5(num_classes=10): ShuffleNetV2([2,2,1], [8,16,32,32,64])",
     lambda: shufflenetv2.ShuffleNetV2([2, 2, 1], [8, 16, 32, 32, 64], num_classes=K), [3, 32, 32], True),
    ("mobilenet_v2", "MobileNetV2",
     "mobilenet_v2(num_classes=10, width_mult=0.25, inverted_residual_setting=[[1,16,1,1],[6,24,2,2],[6,32,2,2],"
     "[6,64,1,2]]); last_channel 32 for 1280",
     lambda: mobilenetv2.MobileNetV2(num_classes=K, width_mult=0.25, last_channel=32, inverted_residual_setting=[
         [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2]]), [3, 32, 32], True),
    ("mobilenet_v3_large", "MobileNetV3",
     "mobilenet_v3_large(num_classes=10, width_mult=0.05, _reduced_tail=True)",
     lambda: mobilenetv3.mobilenet_v3("mobilenet_v3_large", width_mult=0.05, _reduced_tail=True, num_classes=K),
     [3, 32, 32], False),
    ("mobilenet_v3_small", "MobileNetV3",
     "mobilenet_v3_small(num_classes=10, width_mult=0.05, _reduced_tail=True)",
     lambda: mobilenetv3.mobilenet_v3("mobilenet_v3_small", width_mult=0.05, _reduced_tail=True, num_classes=K),
     [3, 32, 32], True),
    ("mnasnet", "MNASNet",
     "mnasnet0_5(num_classes=10): MNASNet(alpha=0.05); stack repeats (1,2,1,1,1,1) for (3,3,3,2,4,1), "
     "last_channel 64 for 1280",
     lambda: mnasnet.MNASNet(0.05, num_classes=K, repeats=(1, 2, 1, 1, 1, 1), last_channel=64), [3, 32, 32], False),
    ("efficientnet_b0", "EfficientNet",
     "efficientnet_b0(num_classes=10) with width_mult 0.05, depth_mult 0.2 (b0: 1.0, 1.0), dropout 0.2",
     lambda: efficientnet.efficientnet_b(0.05, 0.2, 0.2, num_classes=K), [3, 32, 32], True),
    ("efficientnet_v2_s", "EfficientNet",
     "efficientnet_v2_s(num_classes=10) with its table's widths x 0.05 and depths x 0.1, last_channel 64 for 1280",
     lambda: efficientnet.efficientnet_v2_s(width=0.05, depth=0.1, last_channel=64, num_classes=K), [3, 32, 32], False),
    ("regnet_x", "RegNet",
     "regnet_x_400mf(num_classes=10): RegNet(BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, "
     "group_width=4), stem_width=8)",
     lambda: regnet.regnet(regnet.BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=4),
                           stem_width=8, num_classes=K), [3, 32, 32], False),
    ("regnet_y", "RegNet",
     "regnet_y_400mf(num_classes=10): RegNet(BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, "
     "group_width=4, se_ratio=0.25), stem_width=8)",
     lambda: regnet.regnet(regnet.BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=4,
                                                               se_ratio=0.25), stem_width=8, num_classes=K),
     [3, 32, 32], True),
]

OUT_OF_SCOPE = [
    ("convnext", "ConvNeXt",
     "convnext_tiny(num_classes=10): ConvNeXt([CNBlockConfig(16, None, 1)], layer_scale=0.5)",
     lambda: out_of_scope.ConvNeXt([out_of_scope.CNBlockConfig(16, None, 1)], layer_scale=0.5, num_classes=K),
     [3, 32, 32], False),
    ("vit", "ViT",
     "vit_b_16(num_classes=10): VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, "
     "hidden_dim=16, mlp_dim=32)",
     lambda: out_of_scope.VisionTransformer(32, 8, 1, 2, 16, 32, num_classes=K), [3, 32, 32], False),
]


def layers_in_order(model, x):
    """The conv and linear layers in the order a forward pass runs them."""
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    seen, out = set(), []
    for m in order:
        if id(m) not in seen:
            seen.add(id(m))
            out.append(m)
    return out


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
            if isinstance(m, out_of_scope.VisionTransformer):
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


def op_counts(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return dict(sorted(Counter(n.op_type for n in m.graph.node).items()))


def export_one(name, family, ctor, build, shape, dynamic, outdir, index):
    torch.manual_seed(1000 + index)
    gen = torch.Generator().manual_seed(2000 + index)
    model = build()
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
    return {"name": name, "dir": rel, "family": family, "torchvision": ctor, "input": [BATCH] + shape,
            "num_classes": K, "opsets": OPSETS, "dynamic_batch": dynamic, "export_batch": None if dynamic else 1, "parameters": params,
            "files": files, "ops": ops}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    only = set(sys.argv[1:])
    manifest = {"generator": "tools/families/export.py", "torch": torch.__version__, "onnx": onnx.__version__,
                "batch": BATCH, "input_dist": "N(0,1), seeded", "models": [], "out_of_scope": []}
    for i, (name, fam, ctor, build, shape, dyn) in enumerate(FAMILIES):
        if only and name not in only:
            continue
        manifest["models"].append(export_one(name, fam, ctor, build, shape, dyn, OUT, i))
    for i, (name, fam, ctor, build, shape, dyn) in enumerate(OUT_OF_SCOPE):
        if only and name not in only:
            continue
        manifest["out_of_scope"].append(export_one(name, fam, ctor, build, shape, dyn,
                                                   os.path.join(OUT, "out_of_scope"), 100 + i))
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
