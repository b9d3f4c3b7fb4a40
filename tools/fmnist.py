#!/usr/bin/python3
"""Fashion-MNIST MobileNetV2 reference models and PyTorch PTQ goldens for ptqc.

Trains the MobileNetV2 of PyTorch's static quantization tutorial (tools/mnv2.py,
an unmodified copy) on Fashion-MNIST, writes the float model in the format ptqc
reads (model.json + model.safetensors), float goldens, and the results of
PyTorch's eager-mode post-training static quantization (the tutorial's recipe)
for the qconfigs default, fbgemm, qnnpack and onednn.

Environment: Debian's PyTorch 1.13 (/usr/bin/python3), numpy, the Debian
Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist. No safetensors
package is needed: the file is written and read by hand (write_safetensors).

Exact commands used to produce testdata/ (run from the repository root):

    # main model: width 1.0, default inverted residual setting
    /usr/bin/python3 tools/fmnist.py train --out testdata/mobilenetv2_fmnist --epochs 6
    /usr/bin/python3 tools/fmnist.py quant --dir testdata/mobilenetv2_fmnist

    # alternative model, to test generality
    /usr/bin/python3 tools/fmnist.py train --out testdata/mobilenetv2_fmnist_alt \
        --width-mult 0.75 \
        --setting '[[1,16,1,1],[4,24,2,2],[6,32,2,2],[6,64,3,2],[4,96,2,1],[6,160,1,2]]' \
        --epochs 3 --no-data
    /usr/bin/python3 tools/fmnist.py quant --dir testdata/mobilenetv2_fmnist_alt

`quant` calibrates each qconfig in a child process limited to oneDNN's AVX2 kernels
(ONEDNN_MAX_CPU_ISA=AVX2, --calib-isa; the golden qparams were made so and reproduce bit for bit
that way: the float convolutions of calibration round differently per ISA) and converts and
evaluates in its own process at oneDNN's default ISA, which must therefore not be limited (it
refuses to run with ONEDNN_MAX_CPU_ISA set). The evaluation ISA matters: oneDNN's AVX2 u8*s8
kernels (VPMADDUBSW) saturate the pair sums at int16, so without reduce_range (the onednn
qconfig) PyTorch's int8 results there are not the exact int8 arithmetic (alt model: top-1 86.63
instead of 88.82). On a CPU with AVX512-VNNI (the one that made testdata/) oneDNN runs its exact
*_vnni kernels. golden.json records, per qconfig, "onednn_isa": each process's ISA limit and the
convolution/matmul implementations it ran (from oneDNN verbose).

`train` ends by running `export`, which rebuilds the model from the written
model.json + model.safetensors (so the goldens come from exactly the bytes the
Go side reads) and writes the npy files and the float part of golden.json.
`export --dir D [--no-data]` can be rerun alone.

Preprocessing (must match the Go loader bit for bit):
    uint8 28x28 -> zero-pad 2 pixels each side -> 32x32 -> 3 identical channels
    x = float32(p) / 255  (float32)   then   x = (x - 0.286) / 0.353  (float32)

Files per model directory:
    model.json, model.safetensors           float model (state_dict keys as is)
    golden_float_logits.npy                 float32 1000x10, first 1000 test images
    golden.json                             float/pytorch accuracies, qparams, sizes
    pytorch_<qconfig>_preds.npy             int64 10000 predicted classes
    pytorch_<qconfig>_logits1k.npy          float32 1000x10 dequantized logits
  main directory only:
    calib_images.npy / calib_labels.npy     uint8 300x28x28 / int64 300, train set,
                                            numpy.random.default_rng(0).choice(60000, 300, replace=False)
    test_images.npy / test_labels.npy       uint8 1000x28x28 / int64 1000, first test images
"""
import argparse
import copy
import gzip
import io
import json
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnv2 import MobileNetV2, InvertedResidual  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MAIN_DIR = "testdata/mobilenetv2_fmnist"
DEFAULT_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                   [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
MEAN, STD, PAD = 0.286, 0.353, 2
QCONFIGS = ["default", "fbgemm", "qnnpack", "onednn"]
N_CALIB, CALIB_BATCH = 300, 30
N_GOLDEN = 1000


# ---------------------------------------------------------------- data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load_split(split):
    img = read_idx(os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"))
    lab = read_idx(os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return img, lab


def pad_u8(imgs):
    """uint8 tensor (N,28,28) -> uint8 (N,32,32), zero border of PAD pixels."""
    return nn.functional.pad(imgs, (PAD, PAD, PAD, PAD), value=0)


def normalize_u8(imgs32):
    """uint8 tensor (N,H,W) -> float32 (N,3,H,W), the exact ptqc preprocessing."""
    mean = torch.tensor(MEAN, dtype=torch.float32)
    std = torch.tensor(STD, dtype=torch.float32)
    x = imgs32.to(torch.float32).div(255).sub(mean).div(std)
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def preprocess(imgs_np):
    """numpy uint8 (N,28,28) -> float32 tensor (N,3,32,32)."""
    return normalize_u8(pad_u8(torch.from_numpy(np.ascontiguousarray(imgs_np))))


def augment(imgs32, gen, crop_pad=2):
    """Random horizontal flip + random crop with zero padding, on uint8 (B,32,32)."""
    b, h, w = imgs32.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None], imgs32.flip(-1), imgs32)
    x = nn.functional.pad(x, (crop_pad,) * 4, value=0)
    off = torch.randint(0, 2 * crop_pad + 1, (b, 2), generator=gen)
    out = torch.empty_like(imgs32)
    for i in range(b):
        oy, ox = int(off[i, 0]), int(off[i, 1])
        out[i] = x[i, oy:oy + h, ox:ox + w]
    return out


# ---------------------------------------------------------------- safetensors

_DT = {torch.float32: "F32", torch.int64: "I64", torch.float64: "F64", torch.int32: "I32",
       torch.float16: "F16", torch.bfloat16: "BF16", torch.uint8: "U8", torch.int8: "I8"}
_DT_INV = {v: k for k, v in _DT.items()}


PT_METADATA = {"format": "pt"}


def write_safetensors(path, tensors, metadata=PT_METADATA):
    """tensors in key order, then metadata (None: no __metadata__ entry)."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits
            t = t.view(torch.int16)
        b = t.numpy().tobytes()  # little-endian on x86
        header[k] = {"dtype": _DT[tensors[k].dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        dt = _DT_INV[v["dtype"]]
        arr = np.frombuffer(data[base + b:base + e], dtype=torch.empty(0, dtype=dt).numpy().dtype)
        out[k] = torch.from_numpy(arr.copy()).reshape(v["shape"])
    return out


# ---------------------------------------------------------------- model I/O

def model_desc(width_mult, setting):
    return {"arch": "mobilenetv2", "num_classes": 10, "width_mult": width_mult, "round_nearest": 8,
            "inverted_residual_setting": setting, "input": [3, 32, 32],
            "mean": [MEAN] * 3, "std": [STD] * 3,
            "preprocess": {"resize": 0, "crop": 0, "pad": PAD}, "weights": "model.safetensors"}


def build(desc):
    return MobileNetV2(num_classes=desc["num_classes"], width_mult=desc["width_mult"],
                       inverted_residual_setting=desc["inverted_residual_setting"],
                       round_nearest=desc["round_nearest"])


def load_model(d):
    with open(os.path.join(d, "model.json")) as f:
        desc = json.load(f)
    m = build(desc)
    sd = read_safetensors(os.path.join(d, desc["weights"]))
    m.load_state_dict(sd, strict=True)
    m.eval()
    return m, desc


def size_mb(model):
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)  # the tutorial's print_size_of_model
    return buf.getbuffer().nbytes / 1e6


def load_golden(d):
    p = os.path.join(d, "golden.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {}


def dumps(v, depth=0, expand=3):
    """JSON with objects expanded (one key a line) down to depth `expand`, compact below."""
    if isinstance(v, dict) and v and depth < expand:
        pad = " " * (depth + 1)
        items = [f"{pad}{json.dumps(k)}: {dumps(x, depth + 1, expand)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    return json.dumps(v, separators=(",", ":"))


def write_json(path, v, expand=3):
    with open(path, "w") as f:
        f.write(dumps(v, 0, expand) + "\n")


def save_golden(d, g):
    write_json(os.path.join(d, "golden.json"), g, expand=4)


# ---------------------------------------------------------------- eval

@torch.no_grad()
def logits_of(model, x, bs=500):
    return torch.cat([model(x[i:i + bs]) for i in range(0, len(x), bs)]).to(torch.float32)


def accuracy(logits, labels):
    labels = torch.as_tensor(labels)
    pred = logits.argmax(1)  # first maximal index on ties (dequantized logits can tie)
    top5 = logits.topk(5, dim=1).indices
    top1 = (pred == labels).float().mean().item() * 100
    t5 = (top5 == labels[:, None]).any(1).float().mean().item() * 100
    t1k = (pred[:N_GOLDEN] == labels[:N_GOLDEN]).float().mean().item() * 100
    return round(top1, 4), round(t5, 4), round(t1k, 4)


# ---------------------------------------------------------------- train

def fit(model, a, tr_img, tr_lab, batch, max_batches=0):
    """Trains model in place on images tr_img (uint8 N x 28 x 28) and labels tr_lab: a.epochs epochs
    of a.batch images (the last partial batch dropped) in an order drawn from a generator seeded with
    a.seed, SGD (momentum 0.9, Nesterov, a.wd) under OneCycleLR (max a.lr), batch(uint8 B x 32 x 32,
    generator) giving a step's inputs; the test top-1 after each epoch. Returns the epochs' seconds,
    or None after a timing run of max_batches steps."""
    gen = torch.Generator().manual_seed(a.seed)
    te_img, te_lab = load_split("t10k")
    tr32 = pad_u8(torch.from_numpy(tr_img))
    tr_lab_t = torch.from_numpy(tr_lab)
    te_x = preprocess(te_img)
    bs = a.batch
    steps_per_epoch = len(tr32) // bs  # drop last partial batch
    if max_batches:
        steps_per_epoch = min(steps_per_epoch, max_batches)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True,
                          weight_decay=a.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, epochs=a.epochs,
                                                steps_per_epoch=steps_per_epoch,
                                                pct_start=0.25, div_factor=25,
                                                final_div_factor=1e3)
    lossf = nn.CrossEntropyLoss()
    epoch_times = []
    for ep in range(a.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(tr32), generator=gen)
        tot, n = 0.0, 0
        for s in range(steps_per_epoch):
            idx = perm[s * bs:(s + 1) * bs]
            x = batch(tr32[idx], gen)
            y = tr_lab_t[idx]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            n += len(idx)
            if s % 100 == 0:
                print(f"  ep {ep} step {s}/{steps_per_epoch} loss {loss.item():.4f} "
                      f"{time.time() - t0:.1f}s", flush=True)
        dt = time.time() - t0
        epoch_times.append(dt)
        model.eval()
        t1, t5, _ = accuracy(logits_of(model, te_x), te_lab)
        print(f"epoch {ep}: loss {tot / n:.4f} time {dt:.1f}s test top1 {t1:.2f} top5 {t5:.2f}",
              flush=True)
        if max_batches:
            print(f"timing run: {dt / steps_per_epoch:.3f}s/batch, "
                  f"~{dt / steps_per_epoch * (len(tr32) // bs):.0f}s/epoch")
            return None
    return epoch_times


def save_train(a, epoch_times, augmentation):
    """The training recipe into a.out's golden.json."""
    g = load_golden(a.out)
    g["train"] = {"epochs": a.epochs, "batch": a.batch, "max_lr": a.lr, "weight_decay": a.wd,
                  "seed": a.seed, "optimizer": "SGD momentum 0.9 nesterov, OneCycleLR",
                  "augment": augmentation, "epoch_seconds": [round(t, 1) for t in epoch_times]}
    save_golden(a.out, g)


def cmd_train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    setting = json.loads(a.setting) if a.setting else DEFAULT_SETTING
    desc = model_desc(a.width_mult, setting)
    model = build(desc)
    tr_img, tr_lab = load_split("train")
    epoch_times = fit(model, a, tr_img, tr_lab, lambda x, gen: normalize_u8(augment(x, gen)), a.max_batches)
    if epoch_times is None:
        return
    os.makedirs(a.out, exist_ok=True)
    write_json(os.path.join(a.out, "model.json"), desc)
    sd = model.state_dict()
    path = os.path.join(a.out, "model.safetensors")
    write_safetensors(path, sd)
    back = read_safetensors(path)
    assert sorted(back) == sorted(sd), "safetensors keys differ"
    for k in sd:
        assert back[k].dtype == sd[k].dtype and back[k].shape == sd[k].shape and \
            torch.equal(back[k], sd[k]), k
    print(f"wrote {path}: {len(sd)} tensors, round-trip ok")
    save_train(a, epoch_times, "hflip + random crop pad 2")
    a.dir = a.out
    cmd_export(a)


# ---------------------------------------------------------------- export

def cmd_export(a):
    torch.set_num_threads(a.threads)
    d = a.dir
    model, desc = load_model(d)
    te_img, te_lab = load_split("t10k")
    if not a.no_data:
        tr_img, tr_lab = load_split("train")
        idx = np.random.default_rng(0).choice(60000, N_CALIB, replace=False)
        np.save(os.path.join(d, "calib_images.npy"), tr_img[idx])
        np.save(os.path.join(d, "calib_labels.npy"), tr_lab[idx].astype(np.int64))
        np.save(os.path.join(d, "test_images.npy"), te_img[:N_GOLDEN])
        np.save(os.path.join(d, "test_labels.npy"), te_lab[:N_GOLDEN].astype(np.int64))
    export_float(d, model, te_img, te_lab)


def export_float(d, model, te_img, te_lab):
    """The float model's logits of the first N_GOLDEN test images and its accuracy, size and
    parameter count into d."""
    logits = logits_of(model, preprocess(te_img))
    np.save(os.path.join(d, "golden_float_logits.npy"), logits[:N_GOLDEN].numpy().astype(np.float32))
    t1, t5, t1k = accuracy(logits, te_lab)
    sd = model.state_dict()
    g = load_golden(d)
    g.update({"float_top1": t1, "float_top5": t5, "float_top1_1k": t1k, "n": len(te_lab),
              "param_count": int(sum(v.numel() for v in sd.values() if v.is_floating_point())),
              "float_size_mb": round(size_mb(model), 6)})
    save_golden(d, g)
    print(f"{d}: float top1 {t1:.2f} top5 {t5:.2f} top1_1k {t1k:.2f} "
          f"params {g['param_count']} size {g['float_size_mb']:.3f} MB")


# ---------------------------------------------------------------- quant

def _f(x):
    return float(x.item() if torch.is_tensor(x) else x)


def _i(x):
    return int(x.item() if torch.is_tensor(x) else x)


def _wq(w):
    if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        return ([float(v) for v in w.q_per_channel_scales().tolist()],
                [int(v) for v in w.q_per_channel_zero_points().tolist()])
    return [float(w.q_scale())], [int(w.q_zero_point())]


def prepare_one(float_model, qname):
    """The fused, observed (not yet calibrated) model of qconfig qname, and its engine."""
    from torch.ao import quantization as tq
    engine = "qnnpack" if qname == "qnnpack" else "onednn"
    torch.backends.quantized.engine = engine
    m = copy.deepcopy(float_model)
    m.eval()
    m.fuse_model()
    m.qconfig = tq.default_qconfig if qname == "default" else tq.get_default_qconfig(qname)
    tq.prepare(m, inplace=True)
    return m, engine


def calibrate(m, calib_x):
    with torch.no_grad():
        for i in range(0, len(calib_x), CALIB_BATCH):
            m(calib_x[i:i + CALIB_BATCH])


def onednn_impls(fn):
    """Runs fn() with oneDNN verbose on; returns fn's result and the sorted implementation names
    (e.g. "jit_int8:avx512_core_vnni") of the convolution/matmul/inner-product primitives it ran.
    oneDNN prints with C stdio, so fd 1 is redirected to a file for the call."""
    import ctypes
    import tempfile
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as f:
        os.dup2(f.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                out = fn()
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
        f.seek(0)
        impls = set()
        for line in f:
            p = line.split(",")
            if len(p) > 5 and p[:3] == ["onednn_verbose", "exec", "cpu"] and \
                    p[3] in ("convolution", "matmul", "inner_product"):
                impls.add(p[4])
    return out, sorted(impls)


def calibrated_state(float_model, qname, calib_x, isa):
    """Calibrates qconfig qname in a child process whose oneDNN is limited to isa (oneDNN reads
    ONEDNN_MAX_CPU_ISA once per process), returning the observers' state and the implementations
    the child's calibration ran. The float convolutions of calibration round differently per
    ISA and the golden qparams were made under AVX2; the int8 evaluation must not be limited to
    AVX2, whose u8*s8 kernels (VPMADDUBSW) saturate pair sums at int16."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.pt")
        out = os.path.join(tmp, "state.pt")
        torch.save({"model": float_model, "calib_x": calib_x}, model_path)
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(torch.get_num_threads()),
                        "calibrate-child", "--qconfig", qname, "--model", model_path, "--out", out],
                       env=env, check=True)
        res = torch.load(out)
    return res["state"], res["impls"]


def cmd_calibrate_child(a):
    torch.set_num_threads(a.threads)
    src = torch.load(a.model)
    m, _ = prepare_one(src["model"], a.qconfig)
    _, impls = onednn_impls(lambda: calibrate(m, src["calib_x"]))
    torch.save({"state": m.state_dict(), "impls": impls}, a.out)


def quantize_one(float_model, qname, calib_x, calib_isa=None):
    """PyTorch eager PTQ of qconfig qname. With calib_isa, calibration runs in a child process
    limited to that oneDNN ISA (calibrated_state), else here; conversion always runs here.
    Returns the quantized model, its engine, the layers' qparams and the oneDNN implementations
    the calibration ran."""
    m, engine = prepare_one(float_model, qname)
    if calib_isa:
        state, calib_impls = calibrated_state(float_model, qname, calib_x, calib_isa)
        m.load_state_dict(state, strict=True)
    else:
        _, calib_impls = onednn_impls(lambda: calibrate(m, calib_x))
    res_blocks = {n for n, mod in float_model.named_modules()
                  if isinstance(mod, InvertedResidual) and mod.use_res_connect}
    layers = convert(m, lambda n: {} if n.rsplit(".", 1)[0] in res_blocks else None)
    # Work-around for a PyTorch 1.13 bug: with the onednn engine, quantized mean([2, 3]) fails
    # ("required rank 4 tensor to use channels_last format") on the N x C x 1 x 1 channels_last
    # output (strides C,1,C,C) of the last quantized conv. Re-laying it out contiguous changes
    # no value (the mean over 1 x 1 is the identity; int_repr checked equal under qnnpack).
    m.features.register_forward_hook(lambda mod, inp, out: out.clone(memory_format=torch.contiguous_format))
    return m, engine, layers, calib_impls


def convert(m, functional):
    """Converts the calibrated model m in place; returns the qparams of its quantize, conv and linear
    layers and of each QFunctional n for which functional(n) gives a dict (the entry's first keys),
    with their observers' ranges."""
    from torch.ao import quantization as tq
    import torch.nn.quantized as nnq
    import torch.nn.intrinsic.quantized as nniq
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
        elif isinstance(mod, nnq.QFunctional) and functional(n) is not None:
            e = {**functional(n), "scale": _f(mod.scale), "zero_point": _i(mod.zero_point)}
        else:
            continue
        if n in obs:
            e.update(obs[n])
        layers[n] = e
    return layers


def quant_goldens(d, calib_path, qnames, quantize):
    """PyTorch's PTQ of each qconfig in qnames into d: predictions of the 10,000 test images, logits of
    the first N_GOLDEN, and golden.json's accuracies, sizes and qparams. quantize(qname, calibration
    inputs) gives the quantized model, its engine, its layers' qparams and evaluate(run): run()'s
    logits and the golden fields it adds."""
    calib_x = preprocess(np.load(calib_path))
    assert calib_x.shape[0] == N_CALIB
    te_img, te_lab = load_split("t10k")
    te_x = preprocess(te_img)
    g = load_golden(d)
    g.setdefault("pytorch", {})
    g["calib"] = {"images": os.path.basename(calib_path), "n": N_CALIB, "batch": CALIB_BATCH}
    for qname in qnames:
        t0 = time.time()
        qm, engine, layers, evaluate = quantize(qname, calib_x)
        logits, extra = evaluate(lambda: logits_of(qm, te_x))
        t1, t5, t1k = accuracy(logits, te_lab)
        np.save(os.path.join(d, f"pytorch_{qname}_preds.npy"), logits.argmax(1).numpy().astype(np.int64))
        np.save(os.path.join(d, f"pytorch_{qname}_logits1k.npy"),
                logits[:N_GOLDEN].numpy().astype(np.float32))
        g["pytorch"][qname] = {"engine": engine, "top1": t1, "top5": t5, "top1_1k": t1k,
                               "size_mb": round(size_mb(qm), 6), **extra, "layers": layers}
        save_golden(d, g)
        print(f"{d} {qname:8s} ({engine}): top1 {t1:.2f} top5 {t5:.2f} top1_1k {t1k:.2f} "
              f"size {g['pytorch'][qname]['size_mb']:.3f} MB  [{time.time() - t0:.0f}s]" +
              "".join(f"\n  {k} {v}" for k, v in extra.items()), flush=True)


def cmd_quant(a):
    torch.set_num_threads(a.threads)
    if os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA"):
        sys.exit("quant: evaluate at oneDNN's default ISA: unset ONEDNN_MAX_CPU_ISA/DNNL_MAX_CPU_ISA "
                 "(--calib-isa limits calibration alone)")
    model, _ = load_model(a.dir)

    def quantize(qname, calib_x):
        qm, engine, layers, calib_impls = quantize_one(model, qname, calib_x, a.calib_isa)

        def evaluate(run):
            # Which oneDNN kernels made these goldens: the ISA limit of each process
            # (ONEDNN_MAX_CPU_ISA, "default" = the CPU's best) and the convolution/matmul
            # implementations it ran (none for the qnnpack engine's evaluation).
            logits, eval_impls = onednn_impls(run)
            return logits, {"onednn_isa": {"calibrate": {"max_cpu_isa": a.calib_isa or "default", "impls": calib_impls},
                                           "evaluate": {"max_cpu_isa": "default", "impls": eval_impls}}}
        return qm, engine, layers, evaluate

    quant_goldens(a.dir, a.calib or os.path.join(MAIN_DIR, "calib_images.npy"),
                  a.qconfigs.split(",") if a.qconfigs else QCONFIGS, quantize)


# ---------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", default=MAIN_DIR)
    t.add_argument("--width-mult", type=float, default=1.0)
    t.add_argument("--setting", default="", help="inverted_residual_setting as JSON; default: the tutorial's")
    t.add_argument("--epochs", type=int, default=6)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--lr", type=float, default=0.1, help="OneCycle max lr")
    t.add_argument("--wd", type=float, default=4e-5)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-batches", type=int, default=0, help="timing run: stop after this many batches")
    t.add_argument("--no-data", action="store_true", help="do not write calib/test image npys")
    e = sub.add_parser("export")
    e.add_argument("--dir", default=MAIN_DIR)
    e.add_argument("--no-data", action="store_true")
    q = sub.add_parser("quant")
    q.add_argument("--dir", default=MAIN_DIR)
    q.add_argument("--calib", default="", help=f"calib_images.npy (default {MAIN_DIR}/calib_images.npy)")
    q.add_argument("--qconfigs", default="", help="comma list, default " + ",".join(QCONFIGS))
    q.add_argument("--calib-isa", default="AVX2",
                   help="ONEDNN_MAX_CPU_ISA of the calibration process (evaluation: the default ISA); "
                        "empty: calibrate in this process, at the default ISA")
    c = sub.add_parser("calibrate-child", help="internal: one calibration, run by quant")
    c.add_argument("--qconfig", required=True)
    c.add_argument("--model", required=True)
    c.add_argument("--out", required=True)
    a = p.parse_args()
    {"train": cmd_train, "export": cmd_export, "quant": cmd_quant,
     "calibrate-child": cmd_calibrate_child}[a.cmd](a)


if __name__ == "__main__":
    main()
