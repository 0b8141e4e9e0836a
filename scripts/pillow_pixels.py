#!/usr/bin/env python3
"""Pillow's pixels of JPEG photos, the reference for mlxk's own decoder.

    python scripts/pillow_pixels.py --photos DIR --out DIR

Writes, for every readable *.jpg under --photos (recursively) and for variants of
pillow/flower.jpg that Pillow itself encodes into OUT/variants/ (4:2:0, 4:2:2, 4:4:4,
progressive, quality 50, grayscale, CMYK, an odd size), the pixels mlx-vlm's processors
start from: `ImageOps.exif_transpose(Image.open(path)).convert("RGB")` (as mlx-vlm loads an
image), as OUT/<n>.rgb (raw uint8, row by row) and one JSON line per file on stdout:
    {"path", "rgb" (file name under OUT), "width", "height", "mode", "sampling", "progressive"}
Files Pillow cannot read (truncated ones in the fixtures) are skipped.
"""

import argparse
import json
from pathlib import Path

from PIL import Image, ImageOps, JpegImagePlugin


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    photos, out = Path(args.photos), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(photos.rglob("*.jpg")) + variants(photos, out)
    for n, path in enumerate(files):
        try:
            image = Image.open(path)
            image.load()
        except OSError:
            continue
        sampling = JpegImagePlugin.get_sampling(image) if image.mode != "CMYK" else -1
        info = {"mode": image.mode, "sampling": {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(sampling, "-"),
                "progressive": bool(image.info.get("progressive", 0))}
        rgb = ImageOps.exif_transpose(image).convert("RGB")
        name = f"{n}.rgb"
        (out / name).write_bytes(rgb.tobytes())
        print(json.dumps({"path": str(path), "rgb": name, "width": rgb.width, "height": rgb.height, **info}))


if __name__ == "__main__":
    main()
