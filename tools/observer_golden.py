#!/usr/bin/python3
"""Generate golden data for the Go observers in package calibrate.

Run from the repository root with the Debian PyTorch 1.13:

    /usr/bin/python3 tools/observer_golden.py

It feeds deterministic float32 inputs through the PyTorch observers used by the
qconfigs and writes, to testdata/observers/:

  * <case>.npy            the input batches, float32, shape [batches, ...]
  * <case>.hist.npy       the final HistogramObserver histogram (2048 float32)
  * golden.json           expected min/max/scale/zero_point per observer config

The Go tests (calibrate/*_test.go) replay the same batches and compare.
"""
import json
import os
import warnings
from functools import partial

import numpy as np
import torch
from torch.ao.quantization.observer import (
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    PerChannelMinMaxObserver,
)

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "observers")

# Per-tensor observer configurations (name -> factory). The names are shared
# with the Go test (calibrate/golden_test helpers in observer_test.go).
ACT_CONFIGS = {
    f"{kind}_u8_affine{'_rr' if rr else ''}": partial(cls, dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                                                      reduce_range=rr)
    for kind, cls in (("minmax", MinMaxObserver), ("mavg", MovingAverageMinMaxObserver), ("hist", HistogramObserver))
    for rr in (True, False)
}
ACT_CONFIGS["minmax_s8_sym"] = partial(MinMaxObserver, dtype=torch.qint8, qscheme=torch.per_tensor_symmetric,
                                       reduce_range=False)

PC_CONFIGS = {
    "perchannel_s8_sym": lambda: PerChannelMinMaxObserver(
        ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric),
    "perchannel_s8_affine": lambda: PerChannelMinMaxObserver(
        ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_affine),
}


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def activation_cases(rng):
    c = {}
    c["normal"] = f32(rng.normal(0.2, 1.5, size=(3, 8192)))
    c["uniform"] = f32(rng.uniform(-3.0, 5.0, size=(2, 8192)))
    c["relu"] = f32(np.maximum(rng.normal(0.3, 2.0, size=(3, 8192)), 0.0))
    c["heavy_tail"] = f32(rng.standard_t(1.5, size=(2, 8192)) * 0.5)
    c["constant"] = f32(np.full((2, 1024), 2.5))
    c["zeros"] = f32(np.zeros((1, 1024)))
    # Growing ranges so the histogram is re-binned (upsample / downsample),
    # then a narrower batch that falls inside the current range.
    g = [rng.normal(0.0, 0.2 * 2.0 ** k, size=8192) for k in range(5)]
    g.append(rng.normal(0.0, 0.5, size=8192))
    c["growing"] = f32(np.stack(g))
    c["negative"] = f32(-np.abs(rng.normal(0.0, 3.0, size=(2, 8192))) - 0.1)
    c["small"] = f32(np.stack([
        rng.uniform(0.1, 0.9, size=8192),
        rng.uniform(0.05, 0.95, size=8192),
        rng.uniform(0.2, 0.7, size=8192),
    ]))
    c["const_then_normal"] = f32(np.stack([
        np.full(8192, 0.5), rng.normal(0.0, 1.0, size=8192)]))
    c["tiny"] = f32(rng.normal(0.0, 1e-3, size=(2, 8192)))
    c["relu_growing"] = f32(np.stack([
        np.maximum(rng.normal(0.0, s, size=8192), 0.0) for s in (0.5, 1.0, 3.0, 2.0)]))
    return c


def weight_cases(rng):
    c = {}
    w = rng.normal(0.0, 0.1, size=(2, 32, 16, 3, 3)) * rng.uniform(0.1, 3.0, size=(1, 32, 1, 1, 1))
    w[:, 3] = 0.0                    # dead channel
    w[:, 5] = 0.25                   # constant positive channel
    w[:, 7] = -np.abs(w[:, 7])       # negative-only channel
    w[1] *= 1.3                      # second observation widens the ranges
    c["conv_w"] = f32(w)
    c["dw_w"] = f32(rng.normal(0.0, 0.5, size=(1, 24, 1, 3, 3)))
    c["fc_w"] = f32(rng.uniform(-0.2, 0.3, size=(1, 10, 64)))
    return c


# (next_start_bin, next_end_bin) pairs for _compute_quantization_error.
ERROR_BINS = [(0, 2047), (0, 1023), (10, 2000), (500, 1500), (1000, 1003), (7, 7), (2047, 2047), (3, 1700)]


def kernel_cases(rng, golden):
    """Golden values for the PyTorch building blocks the histogram observer
    relies on, on inputs chosen to expose rounding and ordering differences."""
    k = {}
    # torch.sum of float32 vectors (cascade summation, AVX2 lanes).
    lengths = [2048] * 6 + [1000, 37, 5, 8, 7, 4097]
    vecs = []
    for i, n in enumerate(lengths):
        v = rng.standard_normal(n) * np.exp(rng.standard_normal(n) * 3)
        if i % 2:
            v = np.abs(v)
        vecs.append(f32(v))
    flat = f32(np.concatenate(vecs))
    save("kernel_sum.npy", flat)
    k["sum"] = {"file": "kernel_sum.npy", "lengths": lengths,
                "results": [float(torch.from_numpy(v).sum().item()) for v in vecs]}
    # torch.cumsum of float32 (accumulates in double on CPU).
    cs = f32(np.abs(rng.standard_normal(2048) * np.exp(rng.standard_normal(2048) * 3)) + 1e6)
    save("kernel_cumsum.npy", f32(np.stack([cs, torch.cumsum(torch.from_numpy(cs), 0).numpy()])))
    k["cumsum"] = {"file": "kernel_cumsum.npy"}
    # torch.div(a, b, rounding_mode="floor") in float32.
    n = 4096
    b = f32(rng.uniform(1e-3, 2.0, size=n) * rng.choice([-1.0, 1.0], size=n))
    m = rng.integers(-300, 300, size=n).astype(np.float64)
    a = f32(np.where(rng.random(n) < 0.5, m * b, rng.uniform(-300, 300, size=n) * np.abs(b)))
    fd = torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode="floor").numpy()
    save("kernel_floordiv.npy", f32(np.stack([a, b, fd])))
    k["floordiv"] = {"file": "kernel_floordiv.npy"}
    # torch.histc with integer edges and values on the bin edges.
    hx = []
    hcases = [(-3, 5), (0, 1), (0, 0), (-1, 0), (2, 2)]
    for lo, hi in hcases:
        if lo == hi:
            x = rng.uniform(0.2, 0.7, size=4096)
        else:
            edges = lo + (hi - lo) * np.arange(2049) / 2048.0
            x = np.concatenate([edges, rng.uniform(lo - 0.5, hi + 0.5, size=4096 - 2049)])
        hx.append(f32(x))
    hx[-1][:] = 2.0  # constant tensor: histc widens to [v-1, v+1]
    save("kernel_histc_x.npy", f32(np.stack(hx)))
    hres = [torch.histc(torch.from_numpy(x), 2048, min=lo, max=hi).numpy()
            for x, (lo, hi) in zip(hx, hcases)]
    save("kernel_histc.npy", f32(np.stack(hres)))
    k["histc"] = {"x": "kernel_histc_x.npy", "hist": "kernel_histc.npy",
                  "ranges": [list(r) for r in hcases]}
    # The non-linear search alone, on synthetic histograms with fractional
    # counts, empty bins, outliers and plateaus.
    hists, ranges, res = [], [], []
    grid = np.linspace(-1.0, 1.0, 2048)
    for i in range(16):
        kind = i % 4
        if kind == 0:
            h = rng.poisson(1000 * np.exp(-((grid - rng.uniform(-0.5, 0.5)) / rng.uniform(0.05, 0.4)) ** 2))
        elif kind == 1:
            h = rng.exponential(1.0, size=2048) * (rng.random(2048) < 0.3)
        elif kind == 2:
            h = np.zeros(2048)
            h[0] = rng.uniform(1e4, 1e5)
            h[1:1200] = rng.uniform(0, 50, size=1199)
            h[rng.integers(1200, 2048, size=5)] = 1.0
        else:
            h = (rng.poisson(200 * np.exp(-np.abs(grid) * 8)) + rng.random(2048) / 128.0)
            h[rng.random(2048) < 0.2] = 0.0
        lo = float(np.float32(rng.uniform(-4.0, 0.5)))
        hi = float(np.float32(lo + rng.uniform(0.01, 8.0)))
        obs = HistogramObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=True)
        obs.histogram.copy_(torch.from_numpy(f32(h)))
        obs.min_val.copy_(torch.tensor(lo))
        obs.max_val.copy_(torch.tensor(hi))
        new_min, new_max = obs._non_linear_param_search()
        scale, zp = obs.calculate_qparams()
        errors = [[a, b, float(obs._compute_quantization_error(a, b))] for a, b in ERROR_BINS]
        hists.append(f32(h))
        ranges.append([lo, hi])
        res.append({"search_min": scalar(new_min), "search_max": scalar(new_max),
                    "scale": scalar(scale), "zero_point": int(zp.reshape(-1)[0].item()),
                    "errors": errors})
    save("kernel_search_hist.npy", f32(np.stack(hists)))
    k["search"] = {"file": "kernel_search_hist.npy", "ranges": ranges, "results": res}
    golden["kernels"] = k


def save(name, arr):
    np.save(os.path.join(OUT, name), arr, allow_pickle=False)


def scalar(t):
    return float(t.reshape(-1)[0].item())


def observe(obs, data):
    """Feeds obs each batch of data; returns obs, its scale and zero point."""
    for batch in data:
        obs(torch.from_numpy(batch.copy()))
    return (obs,) + tuple(obs.calculate_qparams())


def per_tensor(obs, scale, zp):
    return {"min": scalar(obs.min_val), "max": scalar(obs.max_val),
            "scale": scalar(scale), "zero_point": int(zp.reshape(-1)[0].item())}


def activation_results(name, data):
    results = {}
    for cfg, make in ACT_CONFIGS.items():
        obs, scale, zp = observe(make(), data)
        r = per_tensor(obs, scale, zp)
        if isinstance(obs, HistogramObserver):
            new_min, new_max = obs._non_linear_param_search()
            r["search_min"] = scalar(new_min)
            r["search_max"] = scalar(new_max)
            hname = name + ".hist.npy"
            save(hname, f32(obs.histogram.numpy()))
            r["histogram"] = hname
        results[cfg] = r
    return results


def weight_results(name, data):
    results = {}
    for cfg, make in PC_CONFIGS.items():
        obs, scale, zp = observe(make(), data)
        results[cfg] = {
            "min": [float(v) for v in obs.min_val.tolist()],
            "max": [float(v) for v in obs.max_val.tolist()],
            "scale": [float(v) for v in scale.tolist()],
            "zero_point": [int(v) for v in zp.tolist()],
        }
    # default_weight_observer: per-tensor qint8 symmetric MinMax.
    results["minmax_s8_sym"] = per_tensor(*observe(
        MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric), data))
    return results


def record(golden, key, cases, results):
    """Saves each case's batches and appends the case with results(name, data) to golden[key]."""
    for name, data in cases.items():
        save(name + ".npy", data)
        golden[key].append({"name": name, "file": name + ".npy", "shape": list(data.shape),
                            "results": results(name, data)})


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240601)
    golden = {"torch_version": torch.__version__, "activation_cases": [], "weight_cases": []}
    record(golden, "activation_cases", activation_cases(rng), activation_results)
    kernel_cases(rng, golden)
    record(golden, "weight_cases", weight_cases(rng), weight_results)
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
