#!/usr/bin/env python3
"""Pillow's pixels of JPEG or PNG images, the reference for mlxk's own decoder.

    python scripts/pillow_pixels.py --photos DIR --out DIR [--format jpeg|png]

jpeg (the default): every readable *.jpg under --photos (recursively) and variants of
pillow/flower.jpg that Pillow itself encodes into OUT/variants/ (4:2:0, 4:2:2, 4:4:4,
progressive, quality 50, grayscale, CMYK, an odd size).
png: every *.png under --photos of at most 40 megapixels, and PNGs of every colour type
and depth made from pillow/flower.jpg into OUT/png-variants/ (Pillow's encoder for the
modes it writes: RGB, RGBA, L, LA, 1, P with and without tRNS, 4-bit P, I;16; written
here for those it does not: 16-bit RGB, RGBA and gray+alpha, and interlaced (Adam7) ones),
some with a pixel budget below their size ("max_pixels"): their reference is then
Pillow's bilinear resize to the size mlxk reduces to (sides scaled by sqrt(budget / pixels),
rounded down), as mlxk's decoder reduces them.
For each, the pixels mlx-vlm's processors start from:
`ImageOps.exif_transpose(Image.open(path)).convert("RGB")` (as mlx-vlm loads an image), as
OUT/<n>.rgb (raw uint8, row by row) and one JSON line per file on stdout:
    {"path", "rgb" (file name under OUT), "width", "height", "mode", "sampling", "progressive",
     "interlaced", "max_pixels" (null: no budget), "orientation" (EXIF, as Pillow reads it)}
Files Pillow cannot read (truncated ones in the fixtures) are skipped.
"""

import argparse
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin

FULL_DECODE_LIMIT = 40_000_000
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def variants(photos: Path, out: Path) -> list:
    src = Image.open(photos / "pillow" / "flower.jpg").convert("RGB")
    big = src.resize((src.width * 3, src.height * 3), Image.BICUBIC)
    dst = out / "variants"
    dst.mkdir(parents=True, exist_ok=True)
    made = []
    for name, kw in {
        "420": dict(subsampling=2),
        "422": dict(subsampling=1),
        "444": dict(subsampling=0),
        "progressive-420": dict(subsampling=2, progressive=True),
        "progressive-444": dict(subsampling=0, progressive=True),
        "quality-50": dict(quality=50),
    }.items():
        path = dst / f"{name}.jpg"
        big.save(path, **{"quality": 90, **kw})
        made.append(path)
    for name, image in {"gray": big.convert("L"), "cmyk": big.convert("CMYK"),
                        "odd-size": big.crop((0, 0, 1001, 777))}.items():
        path = dst / f"{name}.jpg"
        image.save(path, quality=90)
        made.append(path)
    return made


def write_png(path: Path, samples: np.ndarray, color_type: int, interlaced: bool = False):
    """A PNG of `samples` (height × width × channels, uint8 or big-endian uint16), written
    here: Pillow writes no 16-bit colour and no interlacing."""
    h, w = samples.shape[:2]
    depth = 16 if samples.dtype.itemsize == 2 else 8

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def rows(a):  # filter type 0 before each row
        flat = np.ascontiguousarray(a).reshape(a.shape[0], -1).view(np.uint8)
        return np.concatenate([np.zeros((a.shape[0], 1), np.uint8), flat], axis=1).tobytes()

    passes = [samples[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7] if interlaced else [samples]
    raw = b"".join(rows(p) for p in passes if p.size)
    header = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlaced))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def png_variants(photos: Path, out: Path) -> list:
    """(path, max_pixels) of PNGs of every colour type and depth, some over a budget."""
    src = Image.open(photos / "pillow" / "flower.jpg").convert("RGB")
    big = src.resize((src.width * 2, src.height * 2), Image.BICUBIC).crop((0, 0, 901, 677))
    dst = out / "png-variants"
    dst.mkdir(parents=True, exist_ok=True)
    rgb = np.asarray(big)
    rng = np.random.default_rng(7)
    alpha = Image.linear_gradient("L").resize(big.size)
    made = []

    def save(name, image, budget=None, **kw):
        path = dst / f"{name}.png"
        image.save(path, **kw)
        made.append((path, budget))

    def raw(name, samples, color_type, interlaced=False, budget=None):
        path = dst / f"{name}.png"
        write_png(path, samples, color_type, interlaced)
        made.append((path, budget))

    save("rgb", big)
    save("rgba", Image.merge("RGBA", (*big.split(), alpha)))
    save("gray", big.convert("L"))
    save("gray-alpha", Image.merge("LA", (big.convert("L"), alpha)))
    save("bilevel", big.convert("1"))
    save("palette", big.quantize(256))
    save("palette-trns", big.quantize(256), transparency=0)
    save("palette-4bit", big.quantize(16), bits=4)
    # 16-bit gray (Pillow's I;16): values 0..1020, clipped at 255 by convert("RGB").
    save("gray16", Image.fromarray(np.asarray(big.convert("L")).astype(np.uint16) * 4))
    # 16-bit samples whose low byte is noise: only the high byte may survive.
    wide = lambda a: ((a.astype(np.uint16) << 8) | rng.integers(0, 256, a.shape, dtype=np.uint16)).astype(">u2")
    rgba = np.dstack([rgb, np.asarray(alpha)])
    raw("rgb16", wide(rgb), 2)
    raw("rgba16", wide(rgba), 6)
    raw("gray-alpha16", wide(np.dstack([np.asarray(big.convert("L")), np.asarray(alpha)])), 4)
    raw("interlaced", rgb, 2, interlaced=True)
    raw("interlaced-gray16", (np.asarray(big.convert("L")).astype(np.uint16) * 3).astype(">u2")[..., None],
        0, interlaced=True)
    # Over a budget: reduced row by row (both passes horizontal first; a tall image,
    # vertical first; interlaced).
    raw("reduced-rgb16", wide(rgb), 2, budget=150_000)
    raw("reduced-tall", wide(np.ascontiguousarray(rgb[:, :120])), 2, budget=20_000)
    raw("reduced-interlaced", rgb, 2, interlaced=True, budget=100_000)
    save("reduced-palette", big.quantize(256), budget=200_000)
    return made


def budget_size(w: int, h: int, max_pixels: int) -> tuple:
    """The size mlxk's decoder reduces a w×h image to within max_pixels pixels."""
    if w * h <= max_pixels:
        return w, h
    f = math.sqrt(max_pixels / (w * h))
    return max(1, math.floor(w * f)), max(1, math.floor(h * f))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--format", choices=["jpeg", "png"], default="jpeg")
    args = ap.parse_args()
    photos, out = Path(args.photos), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.format == "jpeg":
        files = [(p, None) for p in sorted(photos.rglob("*.jpg")) + variants(photos, out)]
    else:
        files = [(p, None) for p in sorted(photos.rglob("*.png"))] + png_variants(photos, out)
    for n, (path, budget) in enumerate(files):
        try:
            image = Image.open(path)
            if image.format == "PNG" and image.width * image.height > FULL_DECODE_LIMIT:
                continue  # refused by mlxk before decoding
            image.load()
        except OSError:
            continue
        jpeg = image.format == "JPEG"
        sampling = JpegImagePlugin.get_sampling(image) if jpeg and image.mode != "CMYK" else -1
        info = {"mode": image.mode, "sampling": {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(sampling, "-"),
                "progressive": bool(image.info.get("progressive", 0)),
                "interlaced": bool(image.info.get("interlace", 0)), "max_pixels": budget,
                "orientation": image.getexif().get(0x0112)}
        rgb = ImageOps.exif_transpose(image).convert("RGB")
        if budget is not None:
            rgb = rgb.resize(budget_size(rgb.width, rgb.height, budget), Image.BILINEAR)
        name = f"{n}.rgb"
        (out / name).write_bytes(rgb.tobytes())
        print(json.dumps({"path": str(path), "rgb": name, "width": rgb.width, "height": rgb.height, **info}))


if __name__ == "__main__":
    main()
