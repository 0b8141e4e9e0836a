//! Sample-rate conversion by a polyphase windowed-sinc filter, in a stream.
//!
//! Output sample `n` sits at input time `t = n · in_rate / out_rate`; it is the sum of
//! the input samples around `t` weighted by a Kaiser-windowed sinc low-pass filter with
//! a response like sox's default (`rate -h`, 95 % bandwidth): flat to 95 % of the lower
//! Nyquist frequency ([`PASS_BAND`]; 7.6 kHz for 16 kHz output), [`STOP_BAND_DB`] down
//! from the Nyquist frequency on, so nothing aliases and no image survives. The length
//! follows from that narrow transition band by Kaiser's formula: 354 taps a sample from
//! 22.05 kHz, 708 from 44.1 kHz. Each phase is normalised to unity gain at DC. The
//! kernel's phases are tabulated once; rates whose reduced ratio has more than
//! [`MAX_PHASES`] phases use the nearest of [`MAX_PHASES`] (under 1/1000 of a sample of
//! timing error). Equal rates pass the samples through untouched.

use std::collections::VecDeque;

/// Most kernel phases tabulated.
pub const MAX_PHASES: u64 = 1024;
/// Fraction of the lower Nyquist frequency passed unchanged.
pub const PASS_BAND: f64 = 0.95;
/// Attenuation from the lower Nyquist frequency on.
pub const STOP_BAND_DB: f64 = 100.0;

/// Converts a stream of samples from one rate to another.
#[derive(Debug)]
pub struct Resampler {
    /// `out / in` reduced: `up` output samples for every `down` input samples.
    up: u64,
    down: u64,
    half: i64,
    phases: u64,
    /// `phases × 2·half` taps; phase `p` at input offset `j` (−half < j ≤ half).
    table: Vec<f32>,
    input: VecDeque<f32>,
    /// Absolute index of `input[0]`.
    base: u64,
    /// Absolute index of the next output sample.
    next: u64,
    passthrough: bool,
}

/// The low-pass filter for a rate ratio, in cycles per input sample and input samples.
#[derive(Debug, Clone, Copy)]
struct Filter {
    /// −6 dB point: the middle of the transition band.
    cutoff: f64,
    /// Taps on each side of the output instant.
    half: i64,
    /// Kaiser window shape.
    beta: f64,
}

impl Filter {
    /// Pass band to [`PASS_BAND`] of the lower Nyquist frequency, stop band from it on.
    fn new(ratio: f64) -> Self {
        let nyquist = 0.5 * ratio.min(1.0);
        let width = nyquist * (1.0 - PASS_BAND);
        let a = STOP_BAND_DB;
        // Kaiser's design formulas (Oppenheim & Schafer, eq. 7.62–7.63).
        let beta = 0.1102 * (a - 8.7);
        let taps = (a - 7.95) / (2.285 * 2.0 * std::f64::consts::PI * width);
        Filter {
            cutoff: nyquist - width / 2.0,
            half: (taps / 2.0).ceil() as i64,
            beta,
        }
    }

    /// Windowed sinc at `x` input samples from the output instant.
    fn at(&self, x: f64) -> f64 {
        let half = self.half as f64;
        if x.abs() >= half {
            return 0.0;
        }
        let arg = 2.0 * self.cutoff * x;
        let sinc = if arg == 0.0 {
            1.0
        } else {
            (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
        };
        let r = x / half;
        let window = bessel_i0(self.beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(self.beta);
        2.0 * self.cutoff * sinc * window
    }
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        let g = gcd(in_rate as u64, out_rate as u64).max(1);
        let (up, down) = (out_rate as u64 / g, in_rate as u64 / g);
        let passthrough = up == down;
        let filter = Filter::new(up as f64 / down as f64);
        let half = filter.half;
        let phases = up.min(MAX_PHASES);
        let mut table = Vec::new();
        if !passthrough {
            table.reserve((phases as usize) * (2 * half) as usize);
            for p in 0..phases {
                let frac = p as f64 / phases as f64;
                let taps: Vec<f64> = (-half + 1..=half)
                    .map(|j| filter.at(frac - j as f64))
                    .collect();
                let sum: f64 = taps.iter().sum();
                table.extend(taps.iter().map(|t| (t / sum) as f32));
            }
        }
        Resampler {
            up,
            down,
            half,
            phases,
            table,
            input: VecDeque::new(),
            base: 0,
            next: 0,
            passthrough,
        }
    }

    /// Feeds input samples and appends every output sample they complete to `out`.
    pub fn process(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        if self.passthrough {
            out.extend_from_slice(samples);
            return;
        }
        self.input.extend(samples.iter().copied());
        self.drain(out, false);
    }

    /// Ends the stream: the last output samples, with silence after the input.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if !self.passthrough {
            self.drain(out, true);
        }
    }

    fn drain(&mut self, out: &mut Vec<f32>, end: bool) {
        let total_in = self.base + self.input.len() as u64;
        // The stream's length in output samples, once its end is known.
        let total_out = (total_in * self.up).div_ceil(self.down);
        let width = (2 * self.half) as usize;
        let input: &[f32] = self.input.make_contiguous();
        let (base, end_in) = (self.base as i64, total_in as i64);
        loop {
            let pos = self.next * self.down;
            let centre = pos / self.up;
            if end {
                if self.next >= total_out {
                    break;
                }
            } else if centre + self.half as u64 >= total_in {
                break;
            }
            let phase = (pos % self.up) * self.phases / self.up;
            let taps = &self.table[phase as usize * width..][..width];
            // Taps over input samples `first..first + width`, those outside the stream
            // (before its start, after its end) meeting silence.
            let first = centre as i64 - self.half + 1;
            let lo = (base - first).max(0) as usize;
            let hi = (end_in - first).clamp(0, width as i64) as usize;
            let acc = if lo < hi {
                let from = (first + lo as i64 - base) as usize;
                dot(&taps[lo..hi], &input[from..from + (hi - lo)])
            } else {
                0.0
            };
            out.push(acc);
            self.next += 1;
        }
        // Keep what the next output still needs.
        let keep_from = ((self.next * self.down / self.up) as i64 - self.half).max(0) as u64;
        while self.base < keep_from && !self.input.is_empty() {
            self.input.pop_front();
            self.base += 1;
        }
    }
}

/// `Σ a·b` in eight lanes, which the compiler vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, q) = (1.0, 1.0, x * x / 4.0);
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        (0..(rate as f64 * seconds) as usize)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    fn resample(x: &[f32], from: u32, to: u32, chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(from, to);
        let mut out = Vec::new();
        for c in x.chunks(chunk) {
            r.process(c, &mut out);
        }
        r.finish(&mut out);
        out
    }

    /// Amplitude of `freq` in `x` (a single-bin DFT over whole periods).
    fn amplitude(x: &[f32], freq: f64, rate: u32) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, v) in x.iter().enumerate() {
            let a = 2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64;
            re += *v as f64 * a.cos();
            im += *v as f64 * a.sin();
        }
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    #[test]
    fn keeps_a_tone_in_band_and_its_length() {
        for from in [8000, 11025, 22050, 44100, 48000] {
            let x = tone(440.0, from, 2.0);
            let y = resample(&x, from, 16000, 1000);
            assert_eq!(y.len(), 32000, "{from} Hz");
            // Away from the edges, the tone keeps its amplitude.
            let a = amplitude(&y[4000..28000], 440.0, 16000);
            assert!((a - 1.0).abs() < 0.01, "{from} Hz: amplitude {a}");
        }
    }

    #[test]
    fn removes_what_would_alias() {
        // 11 kHz is above 16 kHz's Nyquist frequency; it must not fold back to 5 kHz.
        let x = tone(11000.0, 44100, 1.0);
        let y = resample(&x, 44100, 16000, 4096);
        let folded = amplitude(&y[2000..14000], 5000.0, 16000);
        assert!(folded < 1e-3, "aliased amplitude {folded}");
    }

    #[test]
    fn keeps_the_band_up_to_95_percent_of_nyquist() {
        // 7.6 kHz is 95 % of 16 kHz's Nyquist frequency (sox's default bandwidth);
        // upsampled 8 kHz audio keeps 95 % of its own 4 kHz.
        for (from, freq) in [(22050, 7600.0), (44100, 7600.0), (8000, 3800.0)] {
            let x = tone(freq, from, 2.0);
            let y = resample(&x, from, 16000, 4096);
            let a = amplitude(&y[4000..28000], freq, 16000);
            assert!(
                (a - 1.0).abs() < 0.01,
                "{from} Hz, {freq} Hz: amplitude {a}"
            );
        }
    }

    #[test]
    fn removes_what_would_alias_just_above_nyquist() {
        // 8.3 kHz at 22.05 kHz would fold back to 7.7 kHz; an 8 kHz input's 3.8 kHz
        // tone has an image at 4.2 kHz.
        for (from, freq, image) in [(22050, 8300.0, 7700.0), (8000, 3800.0, 4200.0)] {
            let x = tone(freq, from, 2.0);
            let y = resample(&x, from, 16000, 4096);
            let a = amplitude(&y[4000..28000], image, 16000);
            assert!(a < 1e-4, "{from} Hz: {image} Hz at amplitude {a}");
        }
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let x = tone(1000.0, 44100, 0.5);
        let a = resample(&x, 44100, 16000, 7);
        let b = resample(&x, 44100, 16000, 100_000);
        assert_eq!(a, b);
    }

    #[test]
    fn equal_rates_pass_through() {
        let x = tone(1000.0, 16000, 0.1);
        assert_eq!(resample(&x, 16000, 16000, 33), x);
    }
}
