# Generates pil_reference.json, the expected output of runtime.Transform's 8-bit
# stages (channel conversion, Resize, CenterCrop, Pad) for a few small images, computed
# with Pillow (convert, resize with BILINEAR) and numpy versions of torchvision's
# resize-size, center_crop and pad code. runtime/preprocess_test.go compares against it.
# Run with Debian's python3-pil and python3-numpy:  /usr/bin/python3 gen_pil_reference.py
import json

import numpy as np
from PIL import Image

rng = np.random.default_rng(20240601)


def torchvision_like(a, channels, resize, crop, pad):
    im = Image.fromarray(a, "RGB" if a.ndim == 3 else "L")
    if channels == 1 and im.mode == "RGB":
        im = im.convert("L")
    if channels == 3 and im.mode == "L":
        im = im.convert("RGB")
    if resize:
        w, h = im.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = resize, int(resize * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_w, new_h) != (w, h):
            im = im.resize((new_w, new_h), Image.BILINEAR)
    x = np.asarray(im)
    if x.ndim == 2:
        x = x[:, :, None]
    if crop:
        ih, iw = x.shape[:2]
        if crop > iw or crop > ih:
            l = (crop - iw) // 2 if crop > iw else 0
            t = (crop - ih) // 2 if crop > ih else 0
            r = (crop - iw + 1) // 2 if crop > iw else 0
            b = (crop - ih + 1) // 2 if crop > ih else 0
            x = np.pad(x, ((t, b), (l, r), (0, 0)))
            ih, iw = x.shape[:2]
        top = int(round((ih - crop) / 2.0))
        left = int(round((iw - crop) / 2.0))
        x = x[top:top + crop, left:left + crop]
    if pad:
        x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    return x.transpose(2, 0, 1)


cases = []
for name, (h, w, c), tf in [
    ("rgb downscale crop pad", (37, 53, 3), (3, 24, 24, 22, 20, 2)),
    ("rgb upscale crop", (9, 7, 3), (3, 15, 15, 16, 15, 0)),
    ("rgb strong downscale", (64, 47, 3), (3, 13, 13, 13, 13, 0)),
    ("gray to rgb resize", (30, 19, 1), (3, 18, 12, 12, 0, 0)),
    ("rgb to gray resize crop", (41, 41, 3), (1, 28, 28, 32, 28, 0)),
    ("crop larger than image", (11, 8, 1), (1, 13, 13, 0, 13, 0)),
    ("odd crop offsets", (20, 17, 3), (3, 10, 10, 0, 10, 0)),
    ("no resize needed", (24, 30, 1), (1, 28, 28, 24, 24, 2)),
]:
    a = rng.integers(0, 256, size=(h, w, c) if c == 3 else (h, w), dtype=np.uint8)
    ch, oh, ow, resize, crop, pad = tf
    out = torchvision_like(a, ch, resize, crop, pad)
    assert out.shape == (ch, oh, ow), (name, out.shape)
    cases.append(dict(name=name, h=h, w=w, c=c,
                      transform=dict(channels=ch, height=oh, width=ow, resize=resize, crop=crop, pad=pad),
                      src=a.reshape(-1).tolist(), want=out.reshape(-1).tolist()))

with open("pil_reference.json", "w") as f:
    json.dump(dict(generator="gen_pil_reference.py", pillow=Image.__version__ if hasattr(Image, "__version__") else "", cases=cases), f, separators=(",", ":"))
