//! mlxk's JPEG and PNG decoding against Pillow's (the decoder mlx-vlm's processors start
//! from), decoded by `mlxk_core::photo::decode` with their EXIF orientation applied and
//! compared with `ImageOps.exif_transpose(Image.open(p)).convert("RGB")`
//! (`scripts/pillow_pixels.py`, run in the `vlm` venv: Pillow 13, libjpeg-turbo).
//! JPEG: every readable JPEG of the photo fixtures (real photos from Pillow's and goexif's
//! test sets, exiftool-made copies with GPS, dates and all eight orientations) and
//! Pillow-encoded variants (4:2:0, 4:2:2, 4:4:4, progressive, quality 50, grayscale,
//! CMYK, an odd size): within the default budget, the same pixels; over it (the
//! 50-megapixel photo), reduced within the budget, aspect kept.
//! PNG: the fixtures' PNGs and variants of every colour type and depth (RGB, RGBA, L, LA,
//! 1-bit, palettes with and without tRNS, 4-bit palette, 16-bit gray, RGB, RGBA and
//! gray+alpha, interlaced), some over a pixel budget: the same pixels, and over the
//! budget the same as Pillow's bilinear resize of them (mlxk resizes the rows as they
//! are decoded).

use std::path::{Path, PathBuf};
use std::process::Command;

use mlxk_core::photo::{decode, metadata};
use serde::Deserialize;

use crate::harness::fixtures::photos;

#[derive(Deserialize)]
struct Line {
    path: PathBuf,
    rgb: String,
    width: u32,
    height: u32,
    mode: String,
    sampling: String,
    progressive: bool,
    interlaced: bool,
    /// The pixel budget the reference was reduced to (PNG); `None`: the default.
    max_pixels: Option<u64>,
    /// The EXIF orientation as Pillow reads it.
    orientation: Option<u16>,
}

/// The `vlm` venv's interpreter (scripts/venv.sh vlm).
fn vlm_python() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(Path::new(root).join("scripts/venv.sh"))
        .arg("vlm")
        .output()
        .expect("run scripts/venv.sh vlm");
    assert!(out.status.success(), "scripts/venv.sh vlm failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .expect("the venv's python")
        .trim()
        .to_string()
}

/// Pillow's pixels of the photo fixtures' files of `format` (`jpeg` or `png`) and of the
/// variants the script makes, in a temporary directory kept while they are compared.
fn pillow(format: &str) -> (PathBuf, tempfile::TempDir, Vec<Line>) {
    let photos = photos();
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pillow_pixels.py");
    let run = Command::new(vlm_python())
        .env_remove("LD_LIBRARY_PATH")
        .arg(script)
        .arg("--photos")
        .arg(&photos)
        .arg("--out")
        .arg(out.path())
        .arg("--format")
        .arg(format)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "scripts/pillow_pixels.py: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (photos, out, lines)
}

/// How many of `ours`' values differ from the reference's.
fn differing(ours: &image::RgbImage, reference: &Path) -> usize {
    let want = std::fs::read(reference).unwrap();
    assert_eq!(ours.as_raw().len(), want.len());
    ours.as_raw()
        .iter()
        .zip(&want)
        .filter(|(a, b)| a != b)
        .count()
}

#[test]
fn jpeg_pixels_are_pillows() {
    let (photos, out, lines) = pillow("jpeg");
    let kinds = |f: &dyn Fn(&Line) -> bool| lines.iter().filter(|l| f(l)).count();
    assert!(lines.len() >= 40, "{} photos", lines.len());
    assert!(kinds(&|l| l.progressive) >= 2 && kinds(&|l| l.mode == "CMYK") == 1);
    assert!(kinds(&|l| l.mode == "L") >= 2 && kinds(&|l| l.sampling == "4:2:2") >= 2);
    let mut reduced = 0;
    for line in &lines {
        let orientation = metadata::inspect(&line.path).unwrap().orientation;
        let ours = decode::decode(&line.path, orientation, decode::DEFAULT_MAX_PIXELS).unwrap();
        let name = line
            .path
            .strip_prefix(&photos)
            .unwrap_or(&line.path)
            .display();
        if u64::from(line.width) * u64::from(line.height) > decode::DEFAULT_MAX_PIXELS {
            // Over the budget: decoded at a reduced DCT scale, aspect kept.
            let (w, h) = ours.dimensions();
            assert!(
                u64::from(w) * u64::from(h) <= decode::DEFAULT_MAX_PIXELS,
                "{name}"
            );
            let aspect = |w: u32, h: u32| f64::from(w) / f64::from(h);
            assert!(
                (aspect(w, h) - aspect(line.width, line.height)).abs() < 0.01,
                "{name}"
            );
            reduced += 1;
            continue;
        }
        assert_eq!(ours.dimensions(), (line.width, line.height), "{name}: size");
        let differing = differing(&ours, &out.path().join(&line.rgb));
        assert_eq!(
            differing,
            0,
            "{name} ({} {}{}): {differing} values differ from Pillow's",
            line.mode,
            line.sampling,
            if line.progressive {
                ", progressive"
            } else {
                ""
            }
        );
    }
    assert_eq!(
        reduced, 1,
        "the 50-megapixel photo is the one over the budget"
    );
    eprintln!(
        "{} JPEGs decoded exactly as Pillow decodes them, {reduced} reduced to the budget",
        lines.len() - reduced
    );
}

#[test]
fn png_pixels_are_pillows() {
    let (photos, out, lines) = pillow("png");
    let kinds = |f: &dyn Fn(&Line) -> bool| lines.iter().filter(|l| f(l)).count();
    assert!(lines.len() >= 40, "{} PNGs", lines.len());
    for mode in ["RGB", "RGBA", "L", "LA", "1", "P", "I;16"] {
        assert!(kinds(&|l| l.mode == mode) >= 1, "no {mode} PNG");
    }
    assert!(kinds(&|l| l.interlaced) >= 3 && kinds(&|l| l.max_pixels.is_some()) >= 4);
    for line in &lines {
        // Our orientation (ImageMagick's raw EXIF profile too, as Pillow reads it).
        let orientation = metadata::inspect(&line.path).unwrap().orientation;
        if let Some(o) = line.orientation.filter(|&o| o > 1) {
            assert_eq!(orientation, Some(o), "{}: orientation", line.path.display());
        }
        let budget = line.max_pixels.unwrap_or(decode::DEFAULT_MAX_PIXELS);
        let ours = decode::decode(&line.path, orientation, budget).unwrap();
        let name = line
            .path
            .strip_prefix(&photos)
            .or_else(|_| line.path.strip_prefix(out.path()))
            .unwrap_or(&line.path)
            .display();
        assert_eq!(ours.dimensions(), (line.width, line.height), "{name}: size");
        let differing = differing(&ours, &out.path().join(&line.rgb));
        assert_eq!(
            differing,
            0,
            "{name} ({}{}{}): {differing} values differ from Pillow's",
            line.mode,
            if line.interlaced { ", interlaced" } else { "" },
            line.max_pixels
                .map(|m| format!(", reduced within {m} pixels"))
                .unwrap_or_default()
        );
    }
    eprintln!(
        "{} PNGs decoded exactly as Pillow decodes them, {} of them reduced as Pillow resizes them",
        lines.len(),
        kinds(&|l| l.max_pixels.is_some())
    );
}
