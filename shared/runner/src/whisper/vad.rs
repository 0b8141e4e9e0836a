//! The voice-activity gate: an energy detector that keeps Whisper away from silence.
//!
//! Whisper invents text on silence ("Thank you.", looping phrases) — its users' most
//! common complaint — and no MLX peer gates its input. Before a 30-second window is
//! decoded, its 20 ms frames are measured (RMS level in dBFS); the window is skipped
//! when fewer than `min_speech_ms` of them reach `threshold_db`, and a silent lead-in
//! longer than `max_lead_in_ms` is skipped up to `margin_ms` before the first loud
//! frame. Digital silence and faint hiss fall below the default −50 dBFS; speech at
//! any usual recording level is far above it.

use crate::whisper::mel::SAMPLE_RATE;

const FRAME: usize = SAMPLE_RATE / 50; // 20 ms

/// Settings of the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct VadGate {
    /// A 20 ms frame at or above this RMS level (dBFS) counts as sound.
    pub threshold_db: f32,
    /// Sound needed in a window for it to be decoded.
    pub min_speech_ms: u32,
    /// A silent start longer than this is skipped...
    pub max_lead_in_ms: u32,
    /// ...up to this long before the first sound.
    pub margin_ms: u32,
}

impl Default for VadGate {
    fn default() -> Self {
        VadGate {
            threshold_db: -50.0,
            min_speech_ms: 200,
            max_lead_in_ms: 5_000,
            margin_ms: 1_000,
        }
    }
}

impl VadGate {
    pub fn max_lead_in_samples(&self) -> usize {
        self.max_lead_in_ms as usize * SAMPLE_RATE / 1000
    }

    pub fn margin_samples(&self) -> usize {
        self.margin_ms as usize * SAMPLE_RATE / 1000
    }

    /// Offset (samples) of the first loud frame, or `None` when the stretch holds less
    /// sound than `min_speech_ms`.
    pub fn first_speech(&self, samples: &[f32]) -> Option<usize> {
        let threshold = 10f32.powf(self.threshold_db / 20.0);
        let min_frames = (self.min_speech_ms as usize * SAMPLE_RATE / 1000).div_ceil(FRAME);
        let mut first = None;
        let mut loud = 0;
        for (i, frame) in samples.chunks(FRAME).enumerate() {
            let rms = (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt();
            if rms >= threshold {
                first.get_or_insert(i * FRAME);
                loud += 1;
            }
        }
        (loud >= min_frames.max(1)).then_some(first).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(seconds: f32, amplitude: f32) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE as f32) as usize)
            .map(|i| amplitude * (i as f32 * 0.2).sin())
            .collect()
    }

    #[test]
    fn silence_and_hiss_are_skipped_sound_is_not() {
        let gate = VadGate::default();
        assert_eq!(gate.first_speech(&vec![0.0; 16000 * 30]), None);
        assert_eq!(gate.first_speech(&tone(30.0, 0.001)), None); // −63 dBFS
        let mut x = vec![0.0; 16000 * 8];
        x.extend(tone(2.0, 0.1));
        assert_eq!(gate.first_speech(&x), Some(16000 * 8));
        // A click shorter than min_speech_ms is not speech.
        let mut click = vec![0.0; 16000];
        click.extend(tone(0.04, 0.5));
        assert_eq!(gate.first_speech(&click), None);
    }
}
