//! TensorBoard's event files (`webtune train --report-to tensorboard`): a run's scalars under the
//! tags transformers' `TensorBoardCallback` gives them (`train/loss`, `eval/accuracy`, …), so
//! `tensorboard --logdir OUTPUT/runs` shows a webtune run beside a Trainer's.
//!
//! The format is TensorFlow's: a TFRecord file (each record its length, the length's masked
//! CRC-32C, the bytes, their masked CRC-32C) of `Event` protobuf messages. No maintained crate
//! writes it: `tensorboard-rs` was last released in March 2022, its repository says it is not
//! active, and it brings protobuf 2 and image codecs; `syntaxdot-summary` (scalars only, written to
//! avoid `tfrecord`'s many dependencies) is a beta of one project's tooling. So the three messages are
//! declared here with `prost` (the field numbers of TensorFlow's `event.proto` and `summary.proto`)
//! and framed with the `crc32c` crate; `tests/integration/cli.rs` reads a run's file back with
//! TensorBoard's own reader.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use crate::{Error, Result};

/// tensorflow/core/util/event.proto's `Event`: the fields a scalar log uses (its `oneof what`
/// holds one of `file_version` and `summary`; as plain optional fields they encode alike).
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(string, optional, tag = "3")]
    file_version: Option<String>,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

/// tensorflow/core/framework/summary.proto's `Summary`.
#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

/// `Summary.Value` with its `simple_value`: what TensorBoard's scalars dashboard reads.
#[derive(Clone, PartialEq, prost::Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
}

/// One run's event file, `events.out.tfevents.<seconds>.webtune.<pid>` in its own folder (TensorBoard
/// shows each folder under `--logdir` as a run).
pub struct SummaryWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl SummaryWriter {
    /// A new event file in `dir` (created if need be), headed by the format's version record.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join(format!("events.out.tfevents.{}.webtune.{}", wall_time() as u64, std::process::id()));
        let file = File::create(&path).map_err(|e| Error::io(path.display(), e))?;
        let mut writer = SummaryWriter { path, file: BufWriter::new(file) };
        writer.write(&Event { wall_time: wall_time(), file_version: Some("brain.Event:2".into()), ..Event::default() })?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Scalars logged at one step, in one event.
    pub fn add_scalars(&mut self, step: usize, scalars: &[(&str, f64)]) -> Result<()> {
        let value = scalars
            .iter()
            .map(|&(tag, v)| SummaryValue { tag: tag.to_string(), simple_value: Some(v as f32) })
            .collect();
        self.write(&Event { wall_time: wall_time(), step: step as i64, summary: Some(Summary { value }), ..Event::default() })
    }

    /// Flushed after every event: TensorBoard reads the file while the run goes on.
    fn write(&mut self, event: &Event) -> Result<()> {
        let data = event.encode_to_vec();
        let length = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&length);
        record.extend_from_slice(&masked_crc(&length).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.file.write_all(&record).and_then(|()| self.file.flush()).map_err(|e| Error::io(self.path.display(), e))
    }
}

fn wall_time() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// TFRecord's checksum: CRC-32C, rotated and offset (so that a CRC of data that holds CRCs is not
/// trivially zero).
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_framed_as_tfrecord_frames_them() {
        // TensorFlow's own check value for CRC-32C ("123456789" → 0xe3069283), masked.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8));
        let dir = std::env::temp_dir().join(format!("webtune-tb-{}", std::process::id()));
        let mut w = SummaryWriter::create(&dir).unwrap();
        w.add_scalars(7, &[("train/loss", 0.5)]).unwrap();
        let bytes = std::fs::read(w.path()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Two records, each one's length matching its bytes, the second one holding the scalar.
        let mut at = 0;
        let mut events = Vec::new();
        while at < bytes.len() {
            let length = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            assert_eq!(u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()), masked_crc(&bytes[at..at + 8]));
            let data = &bytes[at + 12..at + 12 + length];
            assert_eq!(u32::from_le_bytes(bytes[at + 12 + length..at + 16 + length].try_into().unwrap()), masked_crc(data));
            events.push(Event::decode(data).unwrap());
            at += 16 + length;
        }
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        let value = &events[1].summary.as_ref().unwrap().value[0];
        assert_eq!((events[1].step, value.tag.as_str(), value.simple_value), (7, "train/loss", Some(0.5)));
    }
}
