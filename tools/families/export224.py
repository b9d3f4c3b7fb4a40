#!/usr/bin/python3
"""Full-size 224x224 EfficientNet-B0 and MobileNetV3-Large (torchvision 0.14's own, random
weights, export.py's BN statistics) and 300 random calibration images, for timing the float path on
the zoo at full size (issue 24: "a 224 EfficientNet-B0 and MobileNetV3-Large calibrate in
seconds"). Not checked in
(21 MB and 22 MB of ONNX, 45 MB of images): written to the directory given, by default
$PTQC_CACHE/zoo224 or ~/.cache/ptqc/zoo224.

    /usr/bin/python3 tools/families/export224.py [dir]

writes <dir>/efficientnet_b0.onnx, <dir>/mobilenet_v3_large.onnx (opset 13, dynamic batch) and
<dir>/calib300.npy (uint8, 300 x 224 x 224 x 3, seeded uniform noise).
"""
import os
import sys

import numpy as np
import torch
import torchvision.models as tv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402

MODELS = [("efficientnet_b0", tv.efficientnet_b0), ("mobilenet_v3_large", tv.mobilenet_v3_large)]


def main():
    torch.set_num_threads(2)
    cache = os.environ.get("PTQC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ptqc")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(cache, "zoo224")
    os.makedirs(out, exist_ok=True)
    for i, (name, build) in enumerate(MODELS):
        torch.manual_seed(500 + i)
        model = build()
        export.prepare(model, [3, 224, 224], torch.Generator().manual_seed(600 + i))
        p = os.path.join(out, name + ".onnx")
        export.save_dynamic(model, [3, 224, 224], p)
        print(f"{p}: {sum(q.numel() for q in model.parameters())} parameters", flush=True)
    rng = np.random.default_rng(7)
    p = os.path.join(out, "calib300.npy")
    np.save(p + ".tmp.npy", rng.integers(0, 256, size=(300, 224, 224, 3), dtype=np.uint8))
    os.replace(p + ".tmp.npy", p)
    print(p, flush=True)


if __name__ == "__main__":
    main()
