//! Sample-rate conversion by a polyphase windowed-sinc filter, in a stream.
//!
//! Output sample `n` sits at input time `t = n · in_rate / out_rate`; it is the sum of
//! the input samples around `t` weighted by a low-pass sinc kernel (cut-off at 95 % of
//! the lower Nyquist frequency, 16 zero crossings a side, Kaiser window β = 8.6, about
//! 90 dB of stop-band attenuation), normalised to unity gain at DC. The kernel's phases
//! are tabulated once; rates whose reduced ratio has more than [`MAX_PHASES`] phases use
//! the nearest of [`MAX_PHASES`] (under 1/1000 of a sample of timing error). Equal rates
//! pass the samples through untouched.

use std::collections::VecDeque;

/// Most kernel phases tabulated.
pub const MAX_PHASES: u64 = 1024;
const ZERO_CROSSINGS: f64 = 16.0;
const ROLLOFF: f64 = 0.95;
const KAISER_BETA: f64 = 8.6;

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

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        let g = gcd(in_rate as u64, out_rate as u64).max(1);
        let (up, down) = (out_rate as u64 / g, in_rate as u64 / g);
        let passthrough = up == down;
        let ratio = (up as f64 / down as f64).min(1.0);
        let cutoff = 0.5 * ratio * ROLLOFF;
        let half = (ZERO_CROSSINGS / (2.0 * cutoff)).ceil() as i64;
        let phases = up.min(MAX_PHASES);
        let mut table = Vec::new();
        if !passthrough {
            table.reserve((phases as usize) * (2 * half) as usize);
            for p in 0..phases {
                let frac = p as f64 / phases as f64;
                let taps: Vec<f64> = (-half + 1..=half)
                    .map(|j| kernel(frac - j as f64, cutoff, half as f64))
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
            let first = centre as i64 - self.half + 1;
            let mut acc = 0.0f32;
            for (k, tap) in taps.iter().enumerate() {
                let i = first + k as i64;
                if i >= self.base as i64 && (i as u64) < total_in {
                    acc += tap * self.input[(i as u64 - self.base) as usize];
                }
            }
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

/// Windowed sinc at `x` input samples from the output instant.
fn kernel(x: f64, cutoff: f64, half: f64) -> f64 {
    if x.abs() >= half {
        return 0.0;
    }
    let arg = 2.0 * cutoff * x;
    let sinc = if arg == 0.0 {
        1.0
    } else {
        (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
    };
    let r = x / half;
    let window = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(KAISER_BETA);
    2.0 * cutoff * sinc * window
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
