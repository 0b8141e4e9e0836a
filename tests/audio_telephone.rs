//! mlxk-audio on telephone and dictaphone WAV (A-law, µ-law at 8 kHz, IMA and Microsoft
//! ADPCM, made by sox from jfk.wav; scripts/fixtures-audio.sh telephone): each transcribes
//! token for token as ffmpeg's 16-bit PCM decode of the same file does.

use crate::audio::{clip, model, stream};
use crate::harness::{model_lock, TestCache};

const AUDIO: &str = env!("CARGO_BIN_EXE_mlxk-audio");

#[test]
fn telephone_wav_transcribes_as_its_pcm_decode() {
    let _model = model_lock();
    let cache = TestCache::new();
    let names = ["alaw", "ulaw-8k", "ima-adpcm", "ms-adpcm"];
    let mut args = vec![
        "--model".to_string(),
        model("whisper-tiny.en"),
        "--json".into(),
    ];
    for n in names {
        args.push(clip(&format!("telephone/{n}.wav")));
        args.push(clip(&format!("telephone/{n}.pcm.wav")));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = stream(&cache.run(AUDIO, &args).expect_code(0).stdout());
    assert_eq!(s.transcripts.len(), 2 * names.len());
    let tokens = |file: &str| -> Vec<Vec<u32>> {
        s.segments
            .iter()
            .filter(|g| g.file == file)
            .map(|g| g.tokens.clone())
            .collect()
    };
    for n in names {
        let (ours, pcm) = (
            clip(&format!("telephone/{n}.wav")),
            clip(&format!("telephone/{n}.pcm.wav")),
        );
        assert!(!tokens(&ours).is_empty(), "{n}");
        assert_eq!(tokens(&ours), tokens(&pcm), "{n}");
        let text = &s.transcripts.iter().find(|t| t.file == ours).unwrap().text;
        assert!(text.contains("ask not what your country"), "{n}: {text}");
    }
}
