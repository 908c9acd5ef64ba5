//! The frames host and driver exchange: a 4-byte big-endian length, then a JSON object.

use std::collections::BTreeMap;

use agentos_core::{FunctionDefinition, ToolSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::output::Clipped;

/// Frames longer than this are a protocol violation (the driver cuts every text it sends).
pub(crate) const MAX_FRAME_BYTES: usize = 64 << 20;

/// Host to driver.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum HostFrame<'a> {
    /// The first frame: the tools and library functions to define and the size each output is
    /// cut to.
    Init { tools: &'a [ToolSpec], library: &'a [FunctionDefinition], output_limit: usize },
    /// Run `code` as the next cell.
    Exec { code: &'a str },
    /// The answer to call `id`: the tool's output when `ok`, else its error.
    Reply { id: u64, ok: bool, text: &'a str },
}

/// Driver to host.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum DriverFrame {
    /// The driver is listening; the library functions it could not define, by name, with why.
    Ready {
        #[serde(default)]
        library_failures: BTreeMap<String, String>,
    },
    /// The code called a host tool.
    Call { id: u64, name: String, arguments: Value },
    /// The cell finished.
    Done(Box<Done>),
}

/// How a cell finished.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Done {
    pub value: Option<Clipped>,
    pub exception: Option<RaisedException>,
    pub final_answer: Option<Clipped>,
    /// The top-level functions the cell defined.
    #[serde(default)]
    pub functions: Vec<FunctionDefinition>,
    /// Calls of library functions during the cell, by name.
    #[serde(default)]
    pub library_calls: BTreeMap<String, u32>,
    /// Those of the calls that raised, by name.
    #[serde(default)]
    pub library_raised: BTreeMap<String, u32>,
}

/// An exception the cell raised.
#[derive(Debug, Deserialize)]
pub(crate) struct RaisedException {
    #[serde(rename = "type")]
    pub type_name: String,
    pub message: Clipped,
    pub traceback: Clipped,
}

/// `frame` as bytes on the wire.
pub(crate) fn encode(frame: &HostFrame<'_>) -> Vec<u8> {
    let json = serde_json::to_vec(frame).expect("host frames are plain data");
    let mut bytes = Vec::with_capacity(json.len() + 4);
    bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&json);
    bytes
}

/// Bytes read from the driver, cut into frames.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    buffer: Vec<u8>,
}

impl FrameReader {
    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or what is wrong with it.
    pub fn next_frame(&mut self) -> Result<Option<DriverFrame>, String> {
        let Some(header) = self.buffer.get(..4) else { return Ok(None) };
        let size = u32::from_be_bytes(header.try_into().expect("4 bytes")) as usize;
        if size > MAX_FRAME_BYTES {
            return Err(format!("the driver announced a frame of {size} bytes (at most {MAX_FRAME_BYTES})"));
        }
        if self.buffer.len() < 4 + size {
            return Ok(None);
        }
        let frame =
            serde_json::from_slice(&self.buffer[4..4 + size]).map_err(|e| format!("the driver sent a frame that is not valid: {e}"));
        self.buffer.drain(..4 + size);
        frame.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(json: &str) -> Vec<u8> {
        let mut bytes = (json.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(json.as_bytes());
        bytes
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut bytes = wire(r#"{"type":"call","id":1,"name":"add","arguments":{"a":1}}"#);
        bytes.extend(wire(r#"{"type":"done","value":{"head":"2","tail":"","omitted":0}}"#));
        let mut reader = FrameReader::default();
        let mut frames = Vec::new();
        for byte in bytes {
            reader.push(&[byte]);
            if let Some(frame) = reader.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert!(matches!(&frames[0], DriverFrame::Call { id: 1, name, .. } if name == "add"));
        assert!(matches!(&frames[1], DriverFrame::Done(done) if done.value.as_ref().is_some_and(|v| v.head == "2")));
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        let mut reader = FrameReader::default();
        reader.push(&u32::MAX.to_be_bytes());
        assert!(reader.next_frame().unwrap_err().contains("bytes"));
        let mut reader = FrameReader::default();
        reader.push(&wire(r#"{"type":"nonsense"}"#));
        assert!(reader.next_frame().unwrap_err().contains("not valid"));
    }

    #[test]
    fn host_frames_carry_a_length_prefix() {
        let bytes = encode(&HostFrame::Exec { code: "1+1" });
        assert_eq!(u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize, bytes.len() - 4);
        assert_eq!(&bytes[4..], br#"{"type":"exec","code":"1+1"}"#);
    }
}
