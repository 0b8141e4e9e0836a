//! [`AudioStream`]: a file decoded piece by piece into 16 kHz mono `f32` samples.
//!
//! PCM and float WAV go through hound; MP3, FLAC, Ogg/Vorbis, M4A/AAC and the WAV
//! encodings hound does not read (A-law, µ-law, IMA and Microsoft ADPCM: telephone and
//! dictaphone recordings) through symphonia. Channels are averaged to mono, then the
//! rate is converted ([`crate::resample`]). Memory stays bounded by one decoded packet
//! plus the resampler's kernel, whatever the file's length.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::error::{AudioError, Result};
use crate::resample::Resampler;

/// The rate every stream is converted to: Whisper's.
pub const SAMPLE_RATE: u32 = 16_000;
/// Input frames read per step.
const FRAMES_PER_READ: usize = 16_384;
/// Consecutive undecodable packets tolerated before the stream counts as corrupt.
const MAX_BAD_PACKETS: u32 = 64;

/// What the file holds, as its header says.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// Codec or container, e.g. `wav/pcm16`, `mp3`, `flac`, `vorbis`, `aac`.
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    /// Duration announced by the header, when it announces one.
    pub declared_seconds: Option<f64>,
}

trait Source: Read + Seek + Send + Sync {}
impl<T: Read + Seek + Send + Sync> Source for T {}

enum Inner {
    Wav {
        reader: Box<hound::WavReader<BufReader<Box<dyn Source>>>>,
        float: bool,
        scale: f32,
    },
    Symphonia {
        format: Box<dyn FormatReader>,
        decoder: Box<dyn Decoder>,
        track: u32,
        buffer: Option<SampleBuffer<f32>>,
    },
}

/// A decoding audio file; see the module docs.
pub struct AudioStream {
    inner: Inner,
    info: AudioInfo,
    resampler: Resampler,
    /// Input frames (per channel) decoded so far.
    frames: u64,
    declared_frames: Option<u64>,
    done: bool,
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("info", &self.info)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl AudioStream {
    /// Opens and recognises `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| AudioError::Io {
            path: path.into(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return Err(AudioError::Directory { path: path.into() });
        }
        if meta.len() == 0 {
            return Err(AudioError::EmptyFile);
        }
        let file = File::open(path).map_err(io)?;
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        Self::from_source(file, ext.as_deref())
    }

    /// Recognises audio held in memory (standard input, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(AudioError::EmptyFile);
        }
        Self::from_source(Cursor::new(bytes), None)
    }

    fn from_source<S>(mut source: S, ext: Option<&str>) -> Result<Self>
    where
        S: MediaSource + Read + Seek + 'static,
    {
        let mut head = [0u8; 4096];
        let n =
            read_up_to(&mut source, &mut head).map_err(|e| AudioError::Corrupt(e.to_string()))?;
        source
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| AudioError::Corrupt(e.to_string()))?;
        if n >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
            match wav_format_tag(&head[..n]) {
                Some(WAV_PCM | WAV_FLOAT) | None => return Self::open_wav(Box::new(source)),
                Some(tag) if SYMPHONIA_WAV.contains(&tag) => {
                    return Self::open_symphonia(Box::new(source), Some("wav"))
                }
                Some(tag) => {
                    return Err(AudioError::UnsupportedCodec(format!(
                        "{} in a WAV file (PCM, float, A-law, µ-law and ADPCM WAV are read)",
                        wav_codec_name(tag)
                    )))
                }
            }
        }
        Self::open_symphonia(Box::new(source), ext)
    }

    fn open_wav(source: Box<dyn Source>) -> Result<Self> {
        let reader = hound::WavReader::new(BufReader::new(source)).map_err(wav_error)?;
        let spec = reader.spec();
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(AudioError::Corrupt(
                "WAV header with no channels or rate".into(),
            ));
        }
        let float = spec.sample_format == hound::SampleFormat::Float;
        if float && spec.bits_per_sample != 32 {
            return Err(AudioError::UnsupportedCodec(format!(
                "{}-bit floating-point WAV",
                spec.bits_per_sample
            )));
        }
        let frames = reader.duration() as u64;
        let info = AudioInfo {
            codec: format!(
                "wav/{}{}",
                if float { "float" } else { "pcm" },
                spec.bits_per_sample
            ),
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            declared_seconds: Some(frames as f64 / spec.sample_rate as f64),
        };
        Ok(AudioStream {
            inner: Inner::Wav {
                reader: Box::new(reader),
                float,
                scale: 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32,
            },
            resampler: Resampler::new(spec.sample_rate, SAMPLE_RATE),
            info,
            frames: 0,
            declared_frames: Some(frames),
            done: false,
        })
    }

    fn open_symphonia(source: Box<dyn MediaSource>, ext: Option<&str>) -> Result<Self> {
        let stream = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                stream,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::Unsupported(_) => AudioError::NotAudio,
                SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    AudioError::NotAudio
                }
                other => AudioError::Corrupt(other.to_string()),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or(AudioError::NotAudio)?;
        let params = track.codec_params.clone();
        let codec = symphonia::default::get_codecs()
            .get_codec(params.codec)
            .map(|d| d.short_name.to_string());
        let Some(codec) = codec else {
            return Err(AudioError::UnsupportedCodec(format!(
                "{} in {} file",
                codec_name(params.codec),
                ext.map(|e| format!("a .{e}"))
                    .unwrap_or_else(|| "an audio".into())
            )));
        };
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| AudioError::UnsupportedCodec(format!("{codec}: {e}")))?;
        let sample_rate = params
            .sample_rate
            .ok_or_else(|| AudioError::Corrupt("no sample rate in the stream header".into()))?;
        let channels = params.channels.map(|c| c.count() as u16).unwrap_or(1);
        let declared_frames = params.n_frames;
        Ok(AudioStream {
            info: AudioInfo {
                codec,
                sample_rate,
                channels,
                declared_seconds: declared_frames.map(|n| n as f64 / sample_rate as f64),
            },
            inner: Inner::Symphonia {
                track: track.id,
                format,
                decoder,
                buffer: None,
            },
            resampler: Resampler::new(sample_rate, SAMPLE_RATE),
            frames: 0,
            declared_frames,
            done: false,
        })
    }

    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// Seconds of input decoded so far.
    pub fn decoded_seconds(&self) -> f64 {
        self.frames as f64 / self.info.sample_rate as f64
    }

    /// The next 16 kHz mono samples, or `None` at the end. An error ends the stream.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<f32>>> {
        let mut out = Vec::new();
        while out.is_empty() {
            if self.done {
                return Ok(None);
            }
            match self.read_mono()? {
                Some(mono) => {
                    self.resampler.process(&mono, &mut out);
                }
                None => {
                    self.done = true;
                    self.check_complete()?;
                    self.resampler.finish(&mut out);
                    if out.is_empty() {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(Some(out))
    }

    /// Every remaining sample.
    pub fn read_to_end(mut self) -> Result<Vec<f32>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk()? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    fn check_complete(&self) -> Result<()> {
        if self.frames == 0 {
            return Err(AudioError::NoSamples);
        }
        if let Some(declared) = self.declared_frames {
            let rate = self.info.sample_rate as u64;
            // Encoders pad and trim a little at either end; half a second is not that.
            if declared > self.frames + rate / 2 {
                return Err(AudioError::Truncated(format!(
                    "decoded {:.1} s of the {:.1} s the header announces",
                    self.frames as f64 / rate as f64,
                    declared as f64 / rate as f64
                )));
            }
        }
        Ok(())
    }

    /// One read's worth of input frames averaged to mono; `None` at the end.
    fn read_mono(&mut self) -> Result<Option<Vec<f32>>> {
        let channels = self.info.channels.max(1) as usize;
        let interleaved = match &mut self.inner {
            Inner::Wav {
                reader,
                float,
                scale,
            } => {
                let want = FRAMES_PER_READ * channels;
                let mut v = Vec::with_capacity(want);
                if *float {
                    for s in reader.samples::<f32>().take(want) {
                        v.push(s.map_err(wav_read_error)?);
                    }
                } else {
                    for s in reader.samples::<i32>().take(want) {
                        v.push(s.map_err(wav_read_error)? as f32 * *scale);
                    }
                }
                if v.len() % channels != 0 {
                    return Err(AudioError::Truncated("the last frame is incomplete".into()));
                }
                v
            }
            Inner::Symphonia {
                format,
                decoder,
                track,
                buffer,
            } => {
                let mut bad = 0;
                loop {
                    let packet = match format.next_packet() {
                        Ok(p) => p,
                        Err(SymError::IoError(e))
                            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                        {
                            return Ok(None)
                        }
                        Err(SymError::ResetRequired) => return Ok(None),
                        Err(e) => return Err(AudioError::Corrupt(e.to_string())),
                    };
                    if packet.track_id() != *track {
                        continue;
                    }
                    match decoder.decode(&packet) {
                        Ok(decoded) => {
                            if decoded.frames() == 0 {
                                continue;
                            }
                            let spec = *decoded.spec();
                            let channels_now = spec.channels.count();
                            if channels_now != channels {
                                return Err(AudioError::Corrupt(format!(
                                    "channel count changed from {channels} to {channels_now}"
                                )));
                            }
                            let needed = decoded.capacity() as u64;
                            let buf = match buffer {
                                Some(b) if b.capacity() as u64 >= needed * channels as u64 => b,
                                _ => buffer.insert(SampleBuffer::new(needed, spec)),
                            };
                            buf.copy_interleaved_ref(decoded);
                            break buf.samples().to_vec();
                        }
                        Err(SymError::DecodeError(e)) => {
                            bad += 1;
                            if bad > MAX_BAD_PACKETS {
                                return Err(AudioError::Corrupt(e.to_string()));
                            }
                        }
                        Err(SymError::IoError(e))
                            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                        {
                            return Ok(None)
                        }
                        Err(e) => return Err(AudioError::Corrupt(e.to_string())),
                    }
                }
            }
        };
        if interleaved.is_empty() {
            return Ok(None);
        }
        let frames = interleaved.len() / channels;
        self.frames += frames as u64;
        if channels == 1 {
            return Ok(Some(interleaved));
        }
        let inv = 1.0 / channels as f32;
        Ok(Some(
            interleaved
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() * inv)
                .collect(),
        ))
    }
}

/// The format tag of a WAV file's `fmt ` chunk (the sub-format's for
/// WAVE_FORMAT_EXTENSIBLE), if it is within `head`.
/// WAV format tags (`WAVE_FORMAT_*`): PCM and IEEE float, read by hound.
const WAV_PCM: u16 = 1;
const WAV_FLOAT: u16 = 3;
/// Microsoft ADPCM, A-law, µ-law and IMA ADPCM, read by symphonia's RIFF reader.
const SYMPHONIA_WAV: [u16; 4] = [2, 6, 7, 0x11];

fn wav_format_tag(head: &[u8]) -> Option<u16> {
    let le16 = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let mut pos = 12usize;
    while pos + 8 <= head.len() {
        let size = u32::from_le_bytes(head[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if &head[pos..pos + 4] == b"fmt " {
            let tag = le16(body)?;
            return if tag == 0xFFFE {
                le16(body + 24)
            } else {
                Some(tag)
            };
        }
        pos = body.checked_add(size)?.checked_add(size & 1)?;
    }
    None
}

fn wav_codec_name(tag: u16) -> String {
    match tag {
        2 => "Microsoft ADPCM".into(),
        6 => "A-law".into(),
        7 => "µ-law".into(),
        0x11 => "IMA ADPCM".into(),
        0x31 => "GSM 6.10".into(),
        0x55 => "MP3".into(),
        other => format!("format {other:#06x}"),
    }
}

fn codec_name(codec: symphonia::core::codecs::CodecType) -> String {
    use symphonia::core::codecs as c;
    match codec {
        c::CODEC_TYPE_OPUS => "Opus".into(),
        c::CODEC_TYPE_ALAC => "ALAC".into(),
        c::CODEC_TYPE_WAVPACK => "WavPack".into(),
        c::CODEC_TYPE_SPEEX => "Speex".into(),
        c::CODEC_TYPE_EAC3 => "E-AC-3".into(),
        c::CODEC_TYPE_DCA => "DTS".into(),
        other => format!("codec {other}"),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn wav_error(e: hound::Error) -> AudioError {
    match e {
        hound::Error::Unsupported => {
            AudioError::UnsupportedCodec("a WAV encoding other than PCM or 32-bit float".into())
        }
        hound::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Truncated("the WAV header is cut short".into())
        }
        other => AudioError::Corrupt(other.to_string()),
    }
}

fn wav_read_error(e: hound::Error) -> AudioError {
    let cut = || AudioError::Truncated("the WAV data ends before its header says".into());
    match e {
        hound::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => cut(),
        // hound's word for a read that hit the end of the file.
        hound::Error::IoError(e) if e.to_string().contains("enough bytes") => cut(),
        other => AudioError::Corrupt(other.to_string()),
    }
}
