#!/usr/bin/python3
"""How stable is PyTorch's own eager PTQ against ulp-level changes in its float convs?

ptqc's issue 4 asks for histogram qparams within 1e-3 of PyTorch's and 99% top-1 agreement
with PyTorch's int8 predictions. This script measures how well PyTorch agrees with *itself*
when only the float convolution kernels used during calibration change (same weights, same
images, same observers, same int8 engine):

    base      oneDNN float convs at the process's ISA: the CPU's best unless ONEDNN_MAX_CPU_ISA
              limits it (the goldens' calibration ran under ONEDNN_MAX_CPU_ISA=AVX2, their int8
              evaluation at the best ISA; see tools/fmnist.py). Calibration, conversion and int8
              evaluation all run in this one process, so under AVX2 the onednn qconfig's int8
              results are oneDNN's saturating AVX2 kernels', not exact int8 arithmetic
    sse41     oneDNN limited to SSE4.1 (DNNL_MAX_CPU_ISA=SSE41): other blocking and summation order
              (its u8*s8 int8 kernels saturate at int16 as AVX2's do)
    native    torch.backends.mkldnn.enabled = False: PyTorch's own im2col/depthwise float kernels

Usage (from the repository root):
    /usr/bin/python3 tools/pytorch_selfcheck.py run --variant base   --out /tmp/sc_base.json
    DNNL_MAX_CPU_ISA=SSE41 /usr/bin/python3 tools/pytorch_selfcheck.py run --variant sse41 --out /tmp/sc_sse41.json
    /usr/bin/python3 tools/pytorch_selfcheck.py run --variant native --out /tmp/sc_native.json
    /usr/bin/python3 tools/pytorch_selfcheck.py compare /tmp/sc_base.json /tmp/sc_sse41.json /tmp/sc_native.json
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402


def cmd_run(a):
    torch.set_num_threads(a.threads)
    if a.variant == "native":
        torch.backends.mkldnn.enabled = False
    model, _ = fmnist.load_model(a.dir)
    calib_x = fmnist.preprocess(np.load(os.path.join(fmnist.MAIN_DIR, "calib_images.npy")))
    te_img, te_lab = fmnist.load_split("t10k")
    te_x = fmnist.preprocess(te_img)
    res = {"variant": a.variant, "qconfigs": {}}
    for qname in a.qconfigs.split(","):
        qm, engine, layers, _ = fmnist.quantize_one(model, qname, calib_x)
        logits = fmnist.logits_of(qm, te_x)
        t1, t5, _ = fmnist.accuracy(logits, te_lab)
        res["qconfigs"][qname] = {"top1": t1, "preds": logits.argmax(1).tolist(),
                                  "scales": {n: l["scale"] for n, l in layers.items()}}
        print(f"{a.variant} {qname}: top1 {t1:.2f}", flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f)


def cmd_compare(a):
    runs = [json.load(open(p)) for p in a.files]
    base = runs[0]
    for other in runs[1:]:
        for q, b in base["qconfigs"].items():
            o = other["qconfigs"].get(q)
            if o is None:
                continue
            rel = {n: abs(o["scales"][n] - s) / s for n, s in b["scales"].items()}
            within = sum(r <= 1e-3 for r in rel.values())
            worst = max(rel, key=rel.get)
            agree = np.mean(np.array(b["preds"]) == np.array(o["preds"])) * 100
            agree1k = np.mean(np.array(b["preds"][:1000]) == np.array(o["preds"][:1000])) * 100
            print(f"{base['variant']} vs {other['variant']:7s} {q:8s}: scales within 1e-3 {within}/{len(rel)}, "
                  f"worst {rel[worst]:.3%} ({worst}); top-1 {b['top1']:.2f} vs {o['top1']:.2f}; "
                  f"agreement {agree:.2f}% (first 1k {agree1k:.1f}%)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--variant", required=True, choices=["base", "sse41", "native"])
    r.add_argument("--dir", default=fmnist.MAIN_DIR)
    r.add_argument("--qconfigs", default="fbgemm,onednn,qnnpack,default")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("files", nargs="+")
    a = p.parse_args()
    {"run": cmd_run, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main()
