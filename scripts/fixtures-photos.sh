#!/usr/bin/env bash
# Real photos with EXIF for mlxk-vision's tests and benchmark (docs/fixtures.md, "Photos").
#
#   scripts/fixtures-photos.sh     builds (once) and prints the photo directory
#
# Under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}/photos:
#   pillow/        Pillow 13.0.0's test photos (PyPI sdist, Tests/images): cameras, GPS, malformed EXIF
#   goexif/        Debian golang-github-rwcarlsen-goexif-dev: sample1.jpg and 58 camera photos
#   goexif-corrupt/  its corrupt/ files (EXIF made to break parsers)
#   made/          copies of flower.jpg given by exiftool GPS in all four hemispheres, altitudes,
#                  GPS UTC times, time zones, all eight orientations, make/model/lens, no EXIF
#   orient-ref/    Pillow's ImageOps.exif_transpose of each oriented photo, as PNG (the reference)
#   big/           a 50-megapixel JPEG and PNG (memory-bound decoding)
# Idempotent: rebuilt only when the stamp (this script's hash) is stale; built in a temporary
# directory and renamed into place. Progress on stderr, the directory on stdout.
# Needs: exiftool (Debian libimage-exiftool-perl), golang-github-rwcarlsen-goexif-dev,
# python3 with venv (scripts/venv.sh photos), PyPI the first time. No stdin is read.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
OUT="$CACHE/photos"
GOEXIF=/usr/share/gocode/src/github.com/rwcarlsen/goexif/exif
PILLOW_SDIST="pillow-13.0.0.tar.gz"
PILLOW_SHA256="cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510"

log() { printf '[fixtures-photos] %s\n' "$*" >&2; }
die() { printf '[fixtures-photos] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE/downloads" "$CACHE/stamps"
exec 9>"$CACHE/.photos.lock"
flock 9

want="$(sha256sum "${BASH_SOURCE[0]}" "$ROOT/scripts/requirements/photos.txt" | sha256sum | cut -d' ' -f1)"
if [[ -d "$OUT" && "$(cat "$CACHE/stamps/photos" 2>/dev/null)" == "$want" ]]; then
  printf '%s\n' "$OUT"
  exit 0
fi

command -v exiftool >/dev/null || die "exiftool missing: apt-get install libimage-exiftool-perl"
[[ -f "$GOEXIF/sample1.jpg" ]] || die "goexif photos missing: apt-get install golang-github-rwcarlsen-goexif-dev"
PY="$(bash "$ROOT/scripts/venv.sh" photos)"

sdist="$CACHE/downloads/$PILLOW_SDIST"
if [[ ! -f "$sdist" ]] || [[ "$(sha256sum "$sdist" | cut -d' ' -f1)" != "$PILLOW_SHA256" ]]; then
  log "downloading the pillow 13.0.0 sdist from PyPI (47 MB; pip prepares its metadata: minutes)"
  d="$(mktemp -d "$CACHE/downloads/.dl.XXXXXX")"
  trap 'rm -rf "$d"' EXIT
  PIP_ROOT_USER_ACTION=ignore "$PY" -m pip download --quiet --disable-pip-version-check --no-input \
    --no-deps --no-binary :all: -d "$d" pillow==13.0.0 >&2
  [[ "$(sha256sum "$d/$PILLOW_SDIST" | cut -d' ' -f1)" == "$PILLOW_SHA256" ]] || die "$PILLOW_SDIST: sha256 mismatch"
  mv -f "$d/$PILLOW_SDIST" "$sdist"
fi

t0=$SECONDS
tmp="$(mktemp -d "$CACHE/.photos.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{pillow,goexif,goexif-corrupt,made,orient-ref,big}

log "extracting Pillow's test photos"
tar -xzf "$sdist" -C "$tmp" --wildcards 'pillow-13.0.0/Tests/images/*'
src="$tmp/pillow-13.0.0/Tests/images"
for f in flower.jpg flower2.jpg flower.webp flower2.webp ultrahdr.jpg xmp_test.jpg iptc.jpg \
         sugarshack_bad_mpo_header.jpg exif_gps.jpg exif_gps_typeerror.jpg empty_gps_ifd.jpg \
         ifd_tag_type.tiff exif.png exif_imagemagick.png exif_imagemagick_orientation.png \
         exif_typeerror.jpg exif-ifd-offset.jpg invalid-exif.jpg hopper_bad_exif.jpg \
         multiple_exif.jpg broken_exif_dpi.jpg exif-dpi-zerodivision.jpg orientation_rectangle.jpg \
         hopper.jpg hopper.png hopper.gif hopper.webp hopper.tif \
         hopper_orientation_{2..8}.jpg hopper_orientation_{2..8}.webp; do
  cp "$src/$f" "$tmp/pillow/$f"
done
rm -rf "$tmp/pillow-13.0.0"

log "copying goexif's photos"
cp "$GOEXIF/sample1.jpg" "$tmp/goexif/"
cp "$GOEXIF"/samples/* "$tmp/goexif/"
cp "$GOEXIF"/corrupt/* "$tmp/goexif-corrupt/"

log "writing GPS, dates and orientations into copies of flower.jpg (exiftool)"
base="$tmp/pillow/flower.jpg"
mk() { local name="$1"; shift; exiftool -q -m -n -o "$tmp/made/$name" "$@" "$base" >&2; }
# The four hemispheres, altitudes above and below the sea, GPS UTC time.
mk gps-ne.jpg -GPSLatitude=39.91556 -GPSLatitudeRef=N -GPSLongitude=116.39083 -GPSLongitudeRef=E \
  -GPSAltitude=44.5 -GPSAltitudeRef=0 -GPSDateStamp=2023:12:06 -GPSTimeStamp=14:03:07
mk gps-nw.jpg -GPSLatitude=32.79 -GPSLatitudeRef=N -GPSLongitude=16.92 -GPSLongitudeRef=W \
  -Make=Apple '-Model=iPhone SE' -OffsetTimeOriginal=+00:00
mk gps-se.jpg -GPSLatitude=33.8568 -GPSLatitudeRef=S -GPSLongitude=151.2153 -GPSLongitudeRef=E \
  -GPSAltitude=12.25 -GPSAltitudeRef=1
mk gps-sw.jpg -GPSLatitude=22.951916 -GPSLatitudeRef=S -GPSLongitude=43.210487 -GPSLongitudeRef=W \
  -GPSDateStamp=2024:02:29 -GPSTimeStamp=23:59:59.75
# Time zones on the camera's clock, and a doubled make.
mk tz-east.jpg '-DateTimeOriginal=2024:07:01 09:30:00' -OffsetTimeOriginal=+09:00 \
  -Make=Apple '-Model=Apple iPhone SE' '-LensModel=iPhone SE back camera 4.15mm f/2.2'
mk tz-west.jpg '-DateTimeOriginal=2024:01:15 18:45:10' -OffsetTimeOriginal=-05:30
mk tz-none.jpg '-DateTimeOriginal=2019:03:31 23:00:00' '-DateTime=2025:01:01 00:00:00'
mk no-exif.jpg -all=
for o in 1 2 3 4 5 6 7 8; do mk "orient-$o.jpg" -Orientation="$o"; done

log "orientation references and 50-megapixel images (Pillow)"
"$PY" - "$tmp" <<'PY'
import sys, pathlib
from PIL import Image, ImageOps
root = pathlib.Path(sys.argv[1])
sources = sorted((root / "made").glob("orient-*.jpg")) + sorted((root / "pillow").glob("hopper_orientation_*"))
for p in sources:
    with Image.open(p) as im:
        out = ImageOps.exif_transpose(im).convert("RGB")
        out.save(root / "orient-ref" / (p.name.replace(".", "_") + ".png"))
w, h = 8660, 5774  # 50.0 megapixels
g = Image.linear_gradient("L").resize((w, h))
big = Image.merge("RGB", (g, g.transpose(Image.Transpose.ROTATE_90).resize((w, h)), g.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
big.save(root / "big" / "big-50mp.jpg", quality=80)
big.save(root / "big" / "big-50mp.png", compress_level=1)
PY

[[ -d "$OUT" ]] && { old="$(mktemp -d "$CACHE/.photos-old.XXXXXX")"; mv "$OUT" "$old/"; rm -rf "$old"; }
mv "$tmp" "$OUT"
trap - EXIT
printf '%s' "$want" >"$CACHE/stamps/photos.tmp" && mv -f "$CACHE/stamps/photos.tmp" "$CACHE/stamps/photos"
log "photos ready in $((SECONDS - t0)) s: $(find "$OUT" -type f | wc -l) files"
printf '%s\n' "$OUT"
