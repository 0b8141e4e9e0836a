//! Whisper's log-mel spectrogram, computed as mlx-whisper's `audio.py` does.
//!
//! 16 kHz samples, a 400-point periodic Hann window every 160 samples, centred frames
//! (the signal reflected at its start), the power spectrum through librosa's Slaney
//! mel filter bank (80 or 128 bands, 0–8 kHz), `log10(max(·, 1e-10))`, floored at
//! 8 below the loudest value, then `(x + 4) / 4`. mlx-whisper pads the audio with 30 s
//! of silence and takes frames `n / 160` of content; a window is 3000 frames, the
//! part after the content zero-filled (not the log-mel of silence: literal zeros, as
//! `pad_or_trim` does).
//!
//! Frames are computed window by window, so a long file never holds its whole
//! spectrogram. The floor uses the loudest value seen so far rather than the whole
//! file's (mlx-whisper computes the whole file first); for audio shorter than one
//! window the two are the same, and elsewhere they differ only in frames more than
//! 80 dB below the loudest.

use std::f64::consts::PI;
use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP_LENGTH: usize = 160;
pub const CHUNK_LENGTH: usize = 30;
/// Samples in a 30-second window.
pub const N_SAMPLES: usize = CHUNK_LENGTH * SAMPLE_RATE;
/// Mel frames in a 30-second window.
pub const N_FRAMES: usize = N_SAMPLES / HOP_LENGTH;
/// Mel frames per second (100).
pub const FRAMES_PER_SECOND: usize = SAMPLE_RATE / HOP_LENGTH;
const N_BINS: usize = N_FFT / 2 + 1;

/// librosa's `filters.mel(sr=16000, n_fft=400, n_mels)` (Slaney scale and norm),
/// `[n_mels, 201]` row-major, as mlx-whisper's `mel_filters.npz` holds it.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let fmax = SAMPLE_RATE as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..N_BINS)
        .map(|k| k as f64 * fmax / (N_BINS - 1) as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = vec![0f32; n_mels * N_BINS];
    for i in 0..n_mels {
        let (d0, d1) = (mel_f[i + 1] - mel_f[i], mel_f[i + 2] - mel_f[i + 1]);
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / d0;
            let upper = (mel_f[i + 2] - f) / d1;
            weights[i * N_BINS + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    weights
}

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(f: f64) -> f64 {
    if f >= MIN_LOG_HZ {
        MIN_LOG_MEL + (f / MIN_LOG_HZ).ln() / log_step()
    } else {
        f / F_SP
    }
}

fn mel_to_hz(m: f64) -> f64 {
    if m >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (m - MIN_LOG_MEL)).exp()
    } else {
        F_SP * m
    }
}

/// Computes log-mel frames from 16 kHz samples.
pub struct MelSpectrogram {
    n_mels: usize,
    filters: Vec<f32>,
    /// Each band's non-zero bins (a triangle): the terms outside add `+0`, which leaves
    /// a sum of non-negative terms exactly as it is.
    bands: Vec<std::ops::Range<usize>>,
    window: Vec<f64>,
    fft: Arc<dyn Fft<f64>>,
}

impl std::fmt::Debug for MelSpectrogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelSpectrogram")
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

/// Samples around a stretch of audio: `samples[i]` is absolute sample `offset + i`;
/// `total` is the length of the whole audio when its end has been reached.
#[derive(Debug, Clone, Copy)]
pub struct Audio<'a> {
    pub samples: &'a [f32],
    pub offset: usize,
    pub total: Option<usize>,
}

impl Audio<'_> {
    /// Absolute sample `i` of the audio as mlx-whisper's STFT sees it: reflected before
    /// the start, silence after the end.
    fn at(&self, i: i64) -> f32 {
        let i = if i < 0 { -i } else { i } as usize;
        if self.total.is_some_and(|t| i >= t) {
            return 0.0;
        }
        i.checked_sub(self.offset)
            .and_then(|j| self.samples.get(j))
            .copied()
            .unwrap_or(0.0)
    }
}

impl MelSpectrogram {
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / N_FFT as f64).cos())
            .collect();
        let filters = mel_filters(n_mels);
        let bands = filters
            .chunks_exact(N_BINS)
            .map(|f| {
                let first = f.iter().position(|&w| w != 0.0).unwrap_or(0);
                let end = f.iter().rposition(|&w| w != 0.0).map_or(first, |i| i + 1);
                first..end
            })
            .collect();
        MelSpectrogram {
            n_mels,
            filters,
            bands,
            window,
            fft: FftPlanner::new().plan_fft_forward(N_FFT),
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// `log10(max(mel power, 1e-10))` of frames `first..first + count`, frame-major
    /// `[count, n_mels]`, before the floor and scaling ([`normalize`]).
    pub fn log10_frames(&self, audio: &Audio<'_>, first: usize, count: usize) -> Vec<f32> {
        /// Frames per task over rayon's threads (each frame is independent).
        const FRAMES: usize = 64;
        let mut out = vec![0f32; count * self.n_mels];
        out.par_chunks_mut(FRAMES * self.n_mels)
            .enumerate()
            .for_each(|(task, rows)| {
                let mut buf = vec![Complex::new(0.0, 0.0); N_FFT];
                let mut scratch = vec![Complex::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
                let mut power = [0f32; N_BINS];
                for (f, row) in rows.chunks_exact_mut(self.n_mels).enumerate() {
                    let frame = first + task * FRAMES + f;
                    let start = (frame * HOP_LENGTH) as i64 - (N_FFT / 2) as i64;
                    for (n, c) in buf.iter_mut().enumerate() {
                        // The product in float32, as MLX multiplies the frame by the window.
                        let x = audio.at(start + n as i64) * self.window[n] as f32;
                        *c = Complex::new(x as f64, 0.0);
                    }
                    self.fft.process_with_scratch(&mut buf, &mut scratch);
                    for (p, c) in power.iter_mut().zip(&buf) {
                        *p = c.norm_sqr() as f32;
                    }
                    for (m, out) in row.iter_mut().enumerate() {
                        let band = self.bands[m].clone();
                        let filt = &self.filters[m * N_BINS..][band.clone()];
                        let e: f32 = filt.iter().zip(&power[band]).map(|(w, p)| w * p).sum();
                        *out = e.max(1e-10).log10();
                    }
                }
            });
        out
    }
}

/// mlx-whisper's floor and scaling: `(max(x, top − 8) + 4) / 4`, in place.
pub fn normalize(log10: &mut [f32], top: f32) {
    let floor = top - 8.0;
    for v in log10 {
        *v = (v.max(floor) + 4.0) / 4.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_librosa_shape_and_norm() {
        let f = mel_filters(80);
        assert_eq!(f.len(), 80 * 201);
        // Every band is a triangle: non-negative, with one peak.
        for m in 0..80 {
            let row = &f[m * 201..(m + 1) * 201];
            assert!(row.iter().all(|&w| w >= 0.0));
            assert!(row.iter().any(|&w| w > 0.0), "band {m} is empty");
        }
        // Values from mlx-whisper's assets/mel_filters.npz.
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-6 * b.abs().max(1e-3);
        assert!(close(f[1], 0.024_862_595), "mel_80[0, 1] = {}", f[1]);
        assert!(
            close(f[79 * 201 + 199], 0.000_448_759),
            "{}",
            f[79 * 201 + 199]
        );
        let g = mel_filters(128);
        assert!(close(g[1], 0.012_373_987), "mel_128[0, 1] = {}", g[1]);
        assert!(
            close(g[127 * 201 + 199], 0.001_114_280_2),
            "{}",
            g[127 * 201 + 199]
        );
    }

    #[test]
    fn silence_is_the_floor() {
        let mel = MelSpectrogram::new(80);
        let zeros = vec![0f32; 16000];
        let audio = Audio {
            samples: &zeros,
            offset: 0,
            total: Some(zeros.len()),
        };
        let frames = mel.log10_frames(&audio, 0, 10);
        assert!(frames.iter().all(|&v| v == -10.0));
    }
}
