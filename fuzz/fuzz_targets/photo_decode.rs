//! Any bytes as a JPEG (and as a PNG) through mlxk-vision's pixel decoder: libjpeg-turbo
//! behind a reader that refuses to run past the data, its errors caught as they unwind.
//! It must never panic, loop or blow up memory.
#![no_main]

use std::path::Path;

use image::ImageFormat;
use libfuzzer_sys::fuzz_target;
use mlxk_core::photo::decode;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.jpg");
    for format in [ImageFormat::Jpeg, ImageFormat::Png] {
        let _ = decode::decode_bytes(path, data, format, Some(6), 4_000_000);
    }
});
