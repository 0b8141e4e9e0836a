#!/usr/bin/env python3
"""Reference transcripts from Python mlx-whisper, for mlxk-audio's agreement tests.

    python scripts/reference_mlx_whisper.py MODEL_DIR AUDIO... [--language L] [--task T]
        [--temperature T] [--initial-prompt P] [--no-condition] [--mel-frames N]
        [--word-timestamps]

Runs `mlx_whisper.transcribe` in float32 (fp16=False) on MLX's CPU and prints one JSON
line per file: `{"file", "language", "text", "segments": [{"start", "end", "text",
"tokens", "avg_logprob", "no_speech_prob", "temperature"}]}`. With `--mel-frames N`
it also prints the first N log-mel frames of the first 30-second window ("mel"),
and the detected-language probabilities for multilingual models ("language_probs").
With `--word-timestamps` each segment also has its "words": [{"word", "start", "end",
"probability"}] (mlx-whisper's timing.py; segment times then follow the words).
Audio is read with numpy from 16-bit PCM WAV when it is one (mlx-whisper's own
loader would call ffmpeg), so both sides see the same samples.
"""
import argparse
import json
import sys
import wave

import numpy as np


def load_wav(path):
    try:
        with wave.open(path, "rb") as w:
            if w.getsampwidth() != 2 or w.getframerate() != 16000:
                return None
            data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            data = data.reshape(-1, w.getnchannels()).mean(axis=1) if w.getnchannels() > 1 else data
            return data.astype(np.float32) / 32768.0
    except (wave.Error, EOFError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("audio", nargs="+")
    ap.add_argument("--language")
    ap.add_argument("--task", default="transcribe")
    ap.add_argument("--temperature", type=float, action="append")
    ap.add_argument("--initial-prompt")
    ap.add_argument("--no-condition", action="store_true")
    ap.add_argument("--mel-frames", type=int, default=0)
    ap.add_argument("--word-timestamps", action="store_true")
    args = ap.parse_args()
    import mlx.core as mx
    import mlx_whisper
    from mlx_whisper.audio import N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim
    from mlx_whisper.load_models import load_model

    mx.set_default_device(mx.cpu)
    temperature = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    if args.temperature:
        temperature = args.temperature[0] if len(args.temperature) == 1 else tuple(args.temperature)
    for path in args.audio:
        audio = load_wav(path)
        source = audio if audio is not None else path
        result = mlx_whisper.transcribe(
            source,
            path_or_hf_repo=args.model,
            fp16=False,
            language=args.language,
            task=args.task,
            temperature=temperature,
            initial_prompt=args.initial_prompt,
            condition_on_previous_text=not args.no_condition,
            word_timestamps=args.word_timestamps,
        )
        keys = ("start", "end", "text", "tokens", "avg_logprob", "no_speech_prob", "temperature")
        if args.word_timestamps:
            keys += ("words",)
        line = {
            "file": path,
            "language": result["language"],
            "text": result["text"],
            "segments": [{k: s[k] for k in keys} for s in result["segments"]],
        }
        if args.mel_frames:
            model = load_model(args.model, dtype=mx.float32)
            mel = log_mel_spectrogram(source, n_mels=model.dims.n_mels, padding=N_SAMPLES)
            line["mel"] = np.array(mel[: args.mel_frames]).tolist()
            if model.is_multilingual:
                segment = pad_or_trim(mel, N_FRAMES, axis=-2)
                _, probs = model.detect_language(segment)
                line["language_probs"] = {k: p for k, p in sorted(probs.items(), key=lambda kv: -kv[1])[:5]}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())
