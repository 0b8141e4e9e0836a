//! Any bytes, as an image file and as a raw EXIF block, through the reader
//! mlxk-vision uses on photos: it must never panic, loop or blow up memory.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mlxk_core::photo::{exif, metadata};

fuzz_target!(|data: &[u8]| {
    let _ = metadata::inspect_reader(Path::new("fuzz.jpg"), &mut Cursor::new(data));
    let _ = exif::read(&mut Cursor::new(data));
    let _ = exif::read_raw(data.to_vec());
});
