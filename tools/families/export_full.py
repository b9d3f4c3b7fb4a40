#!/usr/bin/python3
"""Full-size torchvision 0.14 models of the families testdata/families holds only small instances of
(random weights, export.py's BatchNorm statistics, opset 13, dynamic batch), and 16 uint8 noise images
at 224 and 299, for checking `ptqc build` and the generated packages on models at the size users have:

    /usr/bin/python3 tools/families/export_full.py [dir [name ...]]

writes <dir>/<name>.onnx for each model (default dir: $PTQC_CACHE/full or ~/.cache/ptqc/full; 1.3 GB
for all of them) and <dir>/calib224.npy, <dir>/calib299.npy (uint8, 16 x H x W x 3, seeded). Then, per model:

    ptqc build -model <dir>/<name>.onnx -qconfig fbgemm -calib <dir>/calib224.npy -o OUT -pkg <name>
    PTQC_FULL_MODEL=<dir>/<name>.onnx PTQC_FULL_CALIB=<dir>/calib224.npy go test ./asmgen -run FullModel

(inception_v3 takes 299x299 images: calib299.npy). docs/families.md has what they gave.
"""
import os
import sys

import numpy as np
import torch
import torchvision.models as tv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402

MODELS = [
    ("densenet121", tv.densenet121, 224),
    ("inception_v3", lambda: tv.inception_v3(aux_logits=True, init_weights=True), 299),
    ("regnet_y_400mf", tv.regnet_y_400mf, 224),
    ("regnet_x_400mf", tv.regnet_x_400mf, 224),
    ("mnasnet1_0", tv.mnasnet1_0, 224),
    ("squeezenet1_1", tv.squeezenet1_1, 224),
    ("vgg11_bn", tv.vgg11_bn, 224),
    ("efficientnet_v2_s", tv.efficientnet_v2_s, 224),
    ("mobilenet_v3_small", tv.mobilenet_v3_small, 224),
    ("wide_resnet50_2", tv.wide_resnet50_2, 224),
    ("alexnet", tv.alexnet, 224),
    ("resnet18", tv.resnet18, 224),
    ("shufflenet_v2_x0_5", tv.shufflenet_v2_x0_5, 224),
    ("efficientnet_b3", tv.efficientnet_b3, 224),
]


def main():
    torch.set_num_threads(2)
    cache = os.environ.get("PTQC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ptqc")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(cache, "full")
    only = sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    for i, (name, build, size) in enumerate(MODELS):
        if only and name not in only:
            continue
        torch.manual_seed(900 + i)
        model = build()
        model.eval()
        export.prepare(model, [3, size, size], torch.Generator().manual_seed(950 + i))
        model.eval()
        p = os.path.join(out, name + ".onnx")
        export.save_dynamic(model, [3, size, size], p)
        print(f"{p}: {sum(q.numel() for q in model.parameters())} parameters", flush=True)
    rng = np.random.default_rng(7)
    for size in (224, 299):
        p = os.path.join(out, f"calib{size}.npy")
        np.save(p + ".tmp.npy", rng.integers(0, 256, size=(16, size, size, 3), dtype=np.uint8))
        os.replace(p + ".tmp.npy", p)
        print(p, flush=True)


if __name__ == "__main__":
    main()
