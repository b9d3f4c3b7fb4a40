#!/usr/bin/python3
"""Golden data for HistogramObserver on a real layer of the bundled model.

The failing case of TestQParamsMatchPyTorch: features.3.conv.0.0 (ConvReLU2d,
30 x 144 x 8 x 8 per batch) of testdata/mobilenetv2_fmnist, where ptqc's frozen
scale was 14% off PyTorch's. PyTorch's HistogramObserver fed ptqc's activations
gives ptqc's scale bit for bit; fed PyTorch's own activations it gives
PyTorch's. The two inputs differ by a few float32 ulps (ptqc's float convs vs
oneDNN's), and PyTorch 1.13's observer turns that into a different range:
_combine_histograms keeps the shifted integral histogram in float32, so every
empty bin above the old range gets the constant (I - float32(I)) / 128 (I, the
integral, ~3.2e8 here, so up to +-0.125 per bin, hundreds of bins), a tail of
the size of the 1e-5 quantile the search starts from; then the float32
quantization error of the search (negative here) decides where it stops.

Run from the repository root (Debian's PyTorch 1.13):

    go run ./tools/dumpacts -node features.3.conv.0.0 -o /tmp/ptqc_acts.npy
    /usr/bin/python3 tools/histogram_model_golden.py --ptqc-acts /tmp/ptqc_acts.npy

It writes to testdata/observers/ (read by calibrate/histogram_test.go):

  mnv2_f3c00.json         per source (pytorch, ptqc): the observer state before
                          the last batch, the final state, the search trace
                          ([next_start_bin, next_end_bin, error] per call of
                          _compute_quantization_error), the chosen range and
                          the qparams with reduce_range True (fbgemm) and False
                          (qnnpack, onednn)
  mnv2_f3c00_state.npy    float32 [2, 2048]: histogram after batches 0..8
  mnv2_f3c00_hist.npy     float32 [2, 2048]: histogram after batch 9
  mnv2_f3c00_last.npy.gz  float32 [2, 276480]: batch 9 (gzip, mtime 0)

Rows are [pytorch, ptqc]. Storing the state before the last batch instead of
all ten batches keeps the files small (the full activations are 11 MB a
source); the last batch is the one that widens the range (7.01 -> 8.66,
downsample rate 158), so Observe still runs histc, _adjust_min_max and
_combine_histograms on it.

PyTorch calls the observer of a fused ConvReLU2d twice per forward (the
module is an nn.Sequential and prepare() adds activation_post_process as its
last child, which the forward hook then calls again); the second call adds
the same histc counts over the same range. The script checks that the
histograms are then exactly twice those stored here, and the qparams the same.
"""
import argparse
import copy
import gzip
import json
import os
import sys
import warnings

import numpy as np
import torch
from torch.ao.quantization.observer import HistogramObserver

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

MODEL = os.path.join(ROOT, "testdata", "mobilenetv2_fmnist")
OUT = os.path.join(ROOT, "testdata", "observers")
PREFIX = "mnv2_f3c00"


def pytorch_acts(layer):
    """The tensors the prepared model's observer of layer sees, one per batch."""
    from torch.ao import quantization as tq
    model, _ = fmnist.load_model(MODEL)
    calib = fmnist.preprocess(np.load(os.path.join(MODEL, "calib_images.npy")))
    torch.backends.quantized.engine = "onednn"
    m = copy.deepcopy(model)
    m.eval()
    m.fuse_model()
    m.qconfig = tq.get_default_qconfig("fbgemm")
    tq.prepare(m, inplace=True)
    calls = []
    obs = dict(m.named_modules())[layer].activation_post_process
    obs.register_forward_pre_hook(lambda o, inp: calls.append(inp[0].detach().contiguous().numpy().copy()))
    with torch.no_grad():
        for i in range(0, len(calib), fmnist.CALIB_BATCH):
            m(calib[i:i + fmnist.CALIB_BATCH])
    nb = len(calib) // fmnist.CALIB_BATCH
    per = len(calls) // nb
    assert per * nb == len(calls), len(calls)
    for i in range(nb):
        for j in range(1, per):
            assert np.array_equal(calls[i * per], calls[i * per + j])
    return np.stack([calls[i * per].reshape(-1) for i in range(nb)]), per, list(calls[0].shape)


def observe(batches, calls=1):
    o = HistogramObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=True)
    for b in batches:
        for _ in range(calls):
            o(torch.from_numpy(np.ascontiguousarray(b)))
    return o


def search(o):
    trace = []
    orig = o._compute_quantization_error

    def traced(s, e):
        v = orig(s, e)
        trace.append([s, e, v])
        return v
    o._compute_quantization_error = traced
    lo, hi = o._non_linear_param_search()
    o._compute_quantization_error = orig
    res = {"search_min": lo.item(), "search_max": hi.item(), "errors": trace,
           "total": torch.sum(o.histogram).item()}
    for rr in (True, False):
        q = HistogramObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=rr)
        q.histogram.copy_(o.histogram)
        q.min_val.copy_(o.min_val)
        q.max_val.copy_(o.max_val)
        s, z = q.calculate_qparams()
        res["reduce_range" if rr else "full_range"] = {"scale": s.item(), "zero_point": int(z.item())}
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptqc-acts", required=True, help="go run ./tools/dumpacts output for --layer")
    p.add_argument("--layer", default="features.3.conv.0.0")
    a = p.parse_args()

    pt, per_batch, shape = pytorch_acts(a.layer)
    pq = np.load(a.ptqc_acts)
    assert pq.shape == pt.shape and pq.dtype == np.float32, (pq.shape, pt.shape)
    with open(os.path.join(MODEL, "golden.json")) as f:
        gold = json.load(f)["pytorch"]

    cases, states, hists, lasts = [], [], [], []
    for name, acts in (("pytorch", pt), ("ptqc", pq)):
        o = observe(acts[:-1])
        case = {"name": name, "state_min": o.min_val.item(), "state_max": o.max_val.item()}
        states.append(o.histogram.numpy().copy())
        o(torch.from_numpy(acts[-1]))
        case.update({"min": o.min_val.item(), "max": o.max_val.item()})
        hists.append(o.histogram.numpy().copy())
        lasts.append(acts[-1])
        case.update(search(o))
        # The prepared model observes each batch per_batch times: the
        # histograms are then exactly per_batch times these, and the qparams
        # the same.
        full = observe(acts[:-1], per_batch)
        assert np.array_equal(full.histogram.numpy(), per_batch * states[-1]), name
        for _ in range(per_batch):
            full(torch.from_numpy(acts[-1]))
        assert np.array_equal(full.histogram.numpy(), per_batch * hists[-1]), name
        s, z = full.calculate_qparams()
        assert (s.item(), int(z.item())) == (case["reduce_range"]["scale"], case["reduce_range"]["zero_point"]), name
        if name == "pytorch":
            for qc, key in (("fbgemm", "reduce_range"), ("qnnpack", "full_range"), ("onednn", "full_range")):
                assert gold[qc]["layers"][a.layer]["scale"] == case[key]["scale"], (qc, gold[qc]["layers"][a.layer])
        cases.append(case)
        print(f"{name:8s} range [{case['min']:.9g}, {case['max']:.9g}] search [{case['search_min']:.9g}, "
              f"{case['search_max']:.9g}] scale {case['reduce_range']['scale']:.9g} / {case['full_range']['scale']:.9g}, "
              f"{len(case['errors'])} error evaluations")

    np.save(os.path.join(OUT, PREFIX + "_state.npy"), np.stack(states).astype(np.float32))
    np.save(os.path.join(OUT, PREFIX + "_hist.npy"), np.stack(hists).astype(np.float32))
    with open(os.path.join(OUT, PREFIX + "_last.npy.gz"), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            np.save(f, np.stack(lasts).astype(np.float32))
    out = {"torch_version": torch.__version__, "layer": a.layer, "batches": int(len(pt)),
           "batch_shape": [int(d) for d in shape],
           "observer_calls_per_batch": per_batch,
           "max_abs_diff_of_sources": float(np.abs(pt - pq).max()),
           "state": PREFIX + "_state.npy", "hist": PREFIX + "_hist.npy", "last": PREFIX + "_last.npy.gz",
           "cases": cases}
    with open(os.path.join(OUT, PREFIX + ".json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
