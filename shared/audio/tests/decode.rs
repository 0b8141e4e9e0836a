//! The decoders on the real clips of scripts/fixtures-audio.sh: every container gives
//! the same 11 s of speech, bad files each give their own error.

use std::path::PathBuf;

use mlxk_audio_io::{decode_bytes, decode_file, AudioError, AudioStream};

fn audio(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("MLXK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/mlxk-fixtures")
        });
    let path = root.join("audio").join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is absent; scripts/fixtures-audio.sh clips makes it",
            path.display()
        );
    }
    eprintln!(
        "SKIPPED: {} is absent; run scripts/fixtures-audio.sh clips",
        path.display()
    );
    None
}

#[test]
fn every_container_decodes_to_the_same_length() {
    let Some(wav) = audio("jfk.wav") else { return };
    let reference = decode_file(&wav).unwrap();
    assert_eq!(reference.len(), 176_000);
    for f in [
        "jfk.mp3",
        "jfk.flac",
        "jfk.ogg",
        "jfk.m4a",
        "jfk-44k-stereo.wav",
    ] {
        let samples = decode_file(&audio(f).unwrap()).unwrap();
        // Lossy codecs pad a frame or two at either end.
        let diff = samples.len() as i64 - reference.len() as i64;
        assert!(diff.abs() < 3000, "{f}: {} samples", samples.len());
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        let ratio = rms(&samples) / rms(&reference);
        assert!((0.9..1.1).contains(&ratio), "{f}: level ratio {ratio}");
    }
    // FLAC is lossless: the very same samples.
    assert_eq!(decode_file(&audio("jfk.flac").unwrap()).unwrap(), reference);
    // In memory as from a file.
    let bytes = std::fs::read(audio("jfk.mp3").unwrap()).unwrap();
    assert_eq!(
        decode_bytes(&bytes).unwrap(),
        decode_file(&audio("jfk.mp3").unwrap()).unwrap()
    );
    let stream = AudioStream::open(&audio("jfk-44k-stereo.wav").unwrap()).unwrap();
    assert_eq!(
        (stream.info().sample_rate, stream.info().channels),
        (44100, 2)
    );
}

#[test]
fn bad_files_each_get_their_error() {
    let Some(dir) = audio("bad") else { return };
    let err = |f: &str| decode_file(&dir.join(f)).unwrap_err();
    assert!(matches!(err("not-audio.wav"), AudioError::NotAudio));
    assert!(matches!(err("empty.wav"), AudioError::EmptyFile));
    assert!(matches!(err("zero-seconds.wav"), AudioError::NoSamples));
    assert!(matches!(err("truncated.mp3"), AudioError::Truncated(_)));
    assert!(matches!(err("opus.ogg"), AudioError::UnsupportedCodec(m) if m.contains("Opus")));
    let gsm = decode_file(&audio("telephone/gsm.wav").unwrap()).unwrap_err();
    assert!(matches!(gsm, AudioError::UnsupportedCodec(m) if m.contains("GSM 6.10")));
    assert!(matches!(
        decode_file(&dir),
        Err(AudioError::Directory { .. })
    ));
    // A WAV cut in its data: hound's reader hits the end early.
    let wav = std::fs::read(audio("jfk.wav").unwrap()).unwrap();
    let cut = decode_bytes(&wav[..100_000]);
    assert!(matches!(cut, Err(AudioError::Truncated(_))), "{cut:?}");
    assert!(matches!(decode_bytes(&[]), Err(AudioError::EmptyFile)));
}

/// Telephone and dictaphone WAV (A-law, µ-law at 8 kHz, IMA and Microsoft ADPCM, made by
/// sox from jfk.wav): our decode gives ffmpeg's decode of the same files to 16-bit PCM,
/// sample for sample, then the same 16 kHz stream. (sox's own ADPCM decoders round each
/// step differently, up to 82 16-bit steps away from ffmpeg's.)
#[test]
fn telephone_wav_decodes_as_ffmpeg_decodes_it() {
    let Some(dir) = audio("telephone") else {
        return;
    };
    for name in ["alaw", "ulaw-8k", "ms-adpcm", "ima-adpcm"] {
        let ours = AudioStream::open(&dir.join(format!("{name}.wav"))).unwrap();
        let rate = ours.info().sample_rate;
        assert_eq!(rate, if name == "ulaw-8k" { 8000 } else { 16000 }, "{name}");
        let ours = decode_file(&dir.join(format!("{name}.wav"))).unwrap();
        let ffmpeg = decode_file(&dir.join(format!("{name}.pcm.wav"))).unwrap();
        assert_eq!(ours, ffmpeg, "{name}");
    }
}
