# Writes testdata/jpeg: small photo-like JPEGs of every chroma layout, with sizes that
# are not multiples of 16, and what libjpeg-turbo makes of them:
#   NAME.jpg     the file (Pillow writes 4:4:4, 4:2:2, 4:2:0, gray, CMYK; the helper
#                jpeg_raw.c writes 4:4:0, 4:1:1, 4:1:0 with libjpeg-turbo itself)
#   NAME.png     Pillow's decode: Image.open(p).convert("RGB"), or mode L for gray files
#   NAME.planes  the component planes of libjpeg-turbo's IDCT before upsampling and
#                color conversion (jpeg_raw.c), so that the Go tests check upsampling
#                and color conversion apart from the IDCT
#   goldens.json the cases, and the Pillow and libjpeg-turbo versions
# runtime/jpeg_test.go compares runtime.DecodeJPEG against them.
#
# With --unseen DIR it instead writes larger photo-like JPEGs that no test has seen
# (and copies of the JPEG photos found on the machine) into DIR, each with the 224x224
# uint8 input torchvision's Resize(256), CenterCrop(224) gives on Pillow's decode
# (NAME.tv.npy, CHW); tools/jpegagree measures ptqc against them.
#
# Needs Debian's python3-pil, python3-numpy and libjpeg62-turbo-dev (and cc):
#   /usr/bin/python3 tools/jpeg_goldens/jpeg_goldens.py [--unseen DIR]
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "testdata", "jpeg")


def photo(h, w, seed):
    """A photo-like RGB image: smooth color gradients, soft and hard edged shapes,
    blurred texture and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(4):
            fx, fy = rng.uniform(0.2, 3) / w, rng.uniform(0.2, 3) / h
            img[:, :, c] += rng.uniform(20, 50) * np.cos(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 6.3))
        img[:, :, c] += rng.uniform(60, 190)
    for _ in range(12):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.03, 0.3) * h, rng.uniform(0.03, 0.3) * w
        d = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2
        m = np.clip((1 - d) / rng.uniform(0.01, 0.5), 0, 1)[:, :, None]
        img = img * (1 - m) + rng.uniform(0, 255, 3) * m
    n = rng.normal(0, 1, (h, w, 3))
    for _ in range(2):
        n = (np.roll(n, 1, 0) + n + np.roll(n, -1, 0) + np.roll(n, 1, 1) + np.roll(n, -1, 1)) / 5 * 1.6
    img += 10 * n + rng.normal(0, 3, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def fashion(h, w, seed):
    """A Fashion-MNIST image upscaled (bicubic) and colorized over a gradient."""
    import gzip
    rng = np.random.default_rng(seed)
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        a = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[seed]
    g = np.asarray(Image.fromarray(a).resize((w, h), Image.BICUBIC)).astype(np.float64) / 255
    fg = rng.uniform(0, 255, 3)
    yy = np.linspace(0, 1, h)[:, None, None]
    bg = rng.uniform(0, 255, 3) * (1 - yy) + rng.uniform(0, 255, 3) * yy
    img = bg * (1 - g[:, :, None]) + fg * g[:, :, None] + rng.normal(0, 2, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def build_helper(tmp):
    exe = os.path.join(tmp, "jpeg_raw")
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "jpeg_raw.c"), "-ljpeg"], check=True)
    return exe


# layouts the helper writes: luma and chroma sampling factors, color space
HELPER = {"440": (1, 2, 1, 1, "ycc"), "411": (4, 1, 1, 1, "ycc"), "410": (4, 2, 1, 1, "ycc"),
          "221212": (2, 2, 1, 2, "ycc"), "420rst": (2, 2, 1, 1, "ycc"), "rgb444": (1, 1, 1, 1, "rgb"),
          "rgb420": (2, 2, 1, 1, "rgb"), "ycck": (1, 1, 1, 1, "ycck"), "ycck420": (2, 2, 1, 1, "ycck")}


def write_jpeg(path, a, layout, quality, progressive, helper, optimize=False):
    im = Image.fromarray(a)
    if layout == "gray":
        im.convert("L").save(path, quality=quality, progressive=progressive, optimize=optimize)
    elif layout == "cmyk":
        im.convert("CMYK").save(path, quality=quality, progressive=progressive, optimize=optimize)
    elif layout in ("444", "422", "420"):
        im.save(path, quality=quality, progressive=progressive, optimize=optimize,
                subsampling={"444": 0, "422": 1, "420": 2}[layout])
    else:
        hy, vy, hc, vc, space = HELPER[layout]
        h, w = a.shape[:2]
        restart = 3 if "rst" in layout else 0
        pix = np.asarray(im.convert("CMYK")) if space == "ycck" else a
        out = subprocess.run([helper, "enc", str(w), str(h), str(quality), str(hy), str(vy), str(hc), str(vc),
                              str(int(progressive)), str(restart), space],
                             input=pix.tobytes(), stdout=subprocess.PIPE, check=True).stdout
        with open(path, "wb") as f:
            f.write(out)


def pil_decode(path):
    im = Image.open(path)
    return im if im.mode == "L" else im.convert("RGB")


def check_planes(raw, im):
    """The planes must be what libjpeg-turbo's decode starts from: for a 4:4:4 YCbCr or a
    gray file, Pillow's YCbCr / L output is the planes themselves."""
    n = struct.unpack_from("<I", raw)[0]
    off, planes = 4, []
    for _ in range(n):
        w, h = struct.unpack_from("<II", raw, off)
        planes.append(np.frombuffer(raw, np.uint8, w * h, off + 8).reshape(h, w))
        off += 8 + w * h
    assert off == len(raw)
    if n == 1:
        assert np.array_equal(planes[0], np.asarray(im))
    return planes


def goldens():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        helper = build_helper(tmp)
        for name, (h, w), seed, layout, quality, prog, src in [
            ("420_q90_161x97", (97, 161), 1, "420", 90, False, photo),
            ("420_q70_opt_prog_117x88", (88, 117), 27, "420", 70, "optimize", photo),
            ("420_q75_203x150", (150, 203), 2, "420", 75, False, photo),
            ("420_q95_prog_150x113", (113, 150), 3, "420", 95, True, photo),
            ("420_q90_fashion_140x140", (140, 140), 4, "420", 90, False, fashion),
            ("422_q90_127x75", (75, 127), 5, "422", 90, False, photo),
            ("422_q80_prog_99x130", (130, 99), 6, "422", 80, True, photo),
            ("444_q90_100x75", (75, 100), 7, "444", 90, False, photo),
            ("444_q85_prog_101x67", (67, 101), 8, "444", 85, True, photo),
            ("440_q90_90x61", (61, 90), 9, "440", 90, False, photo),
            ("411_q90_93x50", (50, 93), 10, "411", 90, False, photo),
            ("410_q90_prog_75x53", (53, 75), 11, "410", 90, True, photo),
            ("221212_q90_77x45", (45, 77), 12, "221212", 90, False, photo),
            ("420rst_q90_100x70", (70, 100), 21, "420rst", 90, False, photo),
            ("420rst_q85_prog_90x66", (66, 90), 22, "420rst", 85, True, photo),
            ("rgb444_q90_60x45", (45, 60), 23, "rgb444", 90, False, photo),
            ("rgb420_q90_61x43", (43, 61), 24, "rgb420", 90, False, photo),
            ("ycck_q90_50x37", (37, 50), 25, "ycck", 90, False, photo),
            ("ycck420_q90_prog_51x35", (35, 51), 26, "ycck420", 90, True, photo),
            ("gray_q90_121x83", (83, 121), 13, "gray", 90, False, photo),
            ("gray_q75_prog_67x99", (99, 67), 14, "gray", 75, True, photo),
            ("cmyk_q90_70x47", (47, 70), 15, "cmyk", 90, False, photo),
            # chroma 1 or 2 samples wide or high: libjpeg-turbo's box-filter fallback
            ("420_q90_3x5", (5, 3), 16, "420", 90, False, photo),
            ("420_q90_4x3", (3, 4), 17, "420", 90, False, photo),
            ("422_q90_5x2", (2, 5), 18, "422", 90, False, photo),
            ("420_q90_1x1", (1, 1), 19, "420", 90, False, photo),
            ("420_q90_6x1", (1, 6), 20, "420", 90, False, photo),
        ]:
            a = src(h, w, seed)
            path = os.path.join(OUT, name + ".jpg")
            opt = prog == "optimize"  # progressive with optimized Huffman tables
            prog = bool(prog)
            write_jpeg(path, a, layout, quality, prog, helper, optimize=opt)
            im = pil_decode(path)
            assert im.size == (w, h), (name, im.size)
            im.save(os.path.join(OUT, name + ".png"), optimize=True)
            raw = subprocess.run([helper, path], stdout=subprocess.PIPE, check=True).stdout
            check_planes(raw, im)
            with open(os.path.join(OUT, name + ".planes"), "wb") as f:
                f.write(raw)
            cases.append(dict(name=name, layout=layout, quality=quality, progressive=prog, width=w, height=h, mode=im.mode))
    with open(os.path.join(OUT, "goldens.json"), "w") as f:
        json.dump(dict(generator="tools/jpeg_goldens/jpeg_goldens.py", pillow=Image.__version__,
                       libjpeg_turbo=subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libjpeg62-turbo"],
                                                    stdout=subprocess.PIPE, text=True).stdout,
                       cases=cases), f, indent=1)
        f.write("\n")


def torchvision_224(im):
    """torchvision's Resize(256) then CenterCrop(224) on a PIL image (BILINEAR with
    antialiasing, as PIL resizes), as uint8 CHW."""
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    ns, nl = 256, int(256 * long / short)
    size = (ns, nl) if w <= h else (nl, ns)
    if size != im.size:
        im = im.resize(size, Image.BILINEAR)
    x = np.asarray(im)
    if x.ndim == 2:
        x = x[:, :, None]
    ih, iw = x.shape[:2]
    top, left = int(round((ih - 224) / 2.0)), int(round((iw - 224) / 2.0))
    return np.ascontiguousarray(x[top:top + 224, left:left + 224].transpose(2, 0, 1))


def unseen(out):
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        helper = build_helper(tmp)
        for name, (h, w), seed, layout, quality, prog in [
            ("u420_q90_512x512", (512, 512), 101, "420", 90, False),
            ("u420_q75_1000x750", (750, 1000), 102, "420", 75, False),
            ("u420_q75_640x427", (427, 640), 103, "420", 75, False),
            ("u420_q90_prog_800x533", (533, 800), 104, "420", 90, True),
            ("u444_q90_640x480", (480, 640), 105, "444", 90, False),
            ("u444_q75_prog_500x375", (375, 500), 106, "444", 75, True),
            ("u422_q90_600x450", (450, 600), 107, "422", 90, False),
            ("u440_q85_480x360", (360, 480), 108, "440", 85, False),
            ("ugray_q90_400x300", (300, 400), 109, "gray", 90, False),
        ]:
            write_jpeg(os.path.join(out, name + ".jpg"), photo(h, w, seed), layout, quality, prog, helper)
        # photographs shipped on this machine (Rust's docs, Go's image tests)
        found = sorted(set(glob.glob("/root/.rustup/toolchains/stable-*/share/doc/rust/html/embedded-book/assets/*.jp*g") +
                           glob.glob("/usr/local/go/src/image/testdata/video-00*.jp*g")))
        for p in found:
            if "truncated" not in p:
                shutil.copy(p, os.path.join(out, "found_" + os.path.basename(p)))
    for p in sorted(glob.glob(os.path.join(out, "*.jp*g"))):
        im = pil_decode(p)
        if im.mode not in ("L", "RGB"):
            continue
        base = os.path.splitext(p)[0]
        np.save(base + ".tv.npy", torchvision_224(im.convert("RGB")))
        np.save(base + ".pil.npy", np.asarray(im.convert("RGB")))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--unseen":
        unseen(sys.argv[2])
    else:
        goldens()
