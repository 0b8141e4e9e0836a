//! mlxk's JPEG decoding against Pillow's (the decoder mlx-vlm's processors start from):
//! every readable JPEG of the photo fixtures (real photos from Pillow's and goexif's
//! test sets, exiftool-made copies with GPS, dates and all eight orientations) and
//! Pillow-encoded variants (4:2:0, 4:2:2, 4:4:4, progressive, quality 50, grayscale,
//! CMYK, an odd size), decoded by `mlxk_core::photo::decode` with their EXIF
//! orientation applied: within the default budget, the same pixels as
//! `ImageOps.exif_transpose(Image.open(p)).convert("RGB")`
//! (`scripts/pillow_pixels.py`, run in the `vlm` venv: Pillow 13, libjpeg-turbo);
//! over it (the 50-megapixel photo), reduced within the budget, aspect kept.

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

#[test]
fn jpeg_pixels_are_pillows() {
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
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "scripts/pillow_pixels.py: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<Line> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
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
        let want = std::fs::read(out.path().join(&line.rgb)).unwrap();
        let differing = ours
            .as_raw()
            .iter()
            .zip(&want)
            .filter(|(a, b)| a != b)
            .count();
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
