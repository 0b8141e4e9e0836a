#!/usr/bin/env python3
"""mlx-whisper on one 30-second window, for checks that need more than a transcript.

    python scripts/reference_whisper_window.py MODEL_DIR AUDIO OUT_PREFIX --text TEXT

Loads MODEL_DIR with mlx-whisper (float32 on MLX's CPU, as `transcribe(fp16=False)`
does), makes the first window's log-mel of AUDIO (16-bit PCM WAV, read with numpy) and:
- feeds the decoder the start-of-transcript sequence for English transcription without
  timestamps followed by TEXT encoded by the model's own tokenizer (teacher forcing, as
  `model(mel, tokens)`), and writes the logits at every position to OUT_PREFIX.f32
  (float32, little-endian, row-major [positions, vocabulary]);
- decodes the window greedily without timestamps (`mlx_whisper.decoding.decode` with
  `DecodingOptions(language="en", without_timestamps=True, temperature=0, fp16=False)`).
OUT_PREFIX.json holds the fed tokens, the vocabulary size and the greedy tokens.
"""
import argparse
import json
import wave

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("audio")
    ap.add_argument("out")
    ap.add_argument("--text", required=True)
    args = ap.parse_args()
    import mlx.core as mx
    from mlx_whisper.audio import N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim
    from mlx_whisper.decoding import DecodingOptions, decode
    from mlx_whisper.load_models import load_model
    from mlx_whisper.tokenizer import get_tokenizer

    mx.set_default_device(mx.cpu)
    model = load_model(args.model, dtype=mx.float32)
    with wave.open(args.audio, "rb") as w:
        assert w.getsampwidth() == 2 and w.getframerate() == 16000 and w.getnchannels() == 1
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    mel = log_mel_spectrogram(audio, n_mels=model.dims.n_mels, padding=N_SAMPLES)
    segment = pad_or_trim(mel[:N_FRAMES], N_FRAMES, axis=-2).astype(mx.float32)
    tok = get_tokenizer(
        model.is_multilingual, num_languages=model.num_languages, language="en", task="transcribe"
    )
    tokens = list(tok.sot_sequence_including_notimestamps) + tok.encode(args.text)
    logits = model.logits(mx.array([tokens]), model.embed_audio(segment[None]))[0]
    np.asarray(logits.astype(mx.float32)).astype("<f4").tofile(args.out + ".f32")
    options = DecodingOptions(language="en", without_timestamps=True, temperature=0.0, fp16=False)
    result = decode(model, segment, options)
    with open(args.out + ".json", "w") as f:
        json.dump({"tokens": tokens, "vocab": model.dims.n_vocab, "greedy": result.tokens}, f)


if __name__ == "__main__":
    main()
