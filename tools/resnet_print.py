#!/usr/bin/python3
"""Goldens for `ptqc inspect` of a ResNet: what PyTorch 1.13 prints for the converted
QuantizableResNet (eager-mode PTQ exactly as tools/resnet_fmnist.py's quant command does it:
fuse_model, prepare, calibrate on the 300 calibration images in batches of 30, convert).

    /usr/bin/python3 tools/resnet_print.py --dir testdata/resnet_fmnist --qconfigs default,fbgemm
    /usr/bin/python3 tools/resnet_print.py --dir testdata/resnet_bottleneck --qconfigs default

writes <dir>/pytorch_<qconfig>_print.txt: str(model) and a newline.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist import MAIN_DIR, preprocess  # noqa: E402
from resnet_fmnist import quantize_one  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default="testdata/resnet_fmnist")
    p.add_argument("--qconfigs", default="default,fbgemm")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    calib_x = preprocess(np.load(os.path.join(MAIN_DIR, "calib_images.npy")))
    for q in a.qconfigs.split(","):
        m, _, _ = quantize_one(a.dir, q, calib_x)
        out = os.path.join(a.dir, f"pytorch_{q}_print.txt")
        with open(out, "w") as f:
            f.write(str(m) + "\n")
        print(out)


if __name__ == "__main__":
    main()
