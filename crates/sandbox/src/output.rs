//! Cutting long outputs to a size, with a note that says how much was cut.

use std::collections::VecDeque;

use serde::Deserialize;

/// A text cut to a limit: its head and tail, and how many bytes were left out between them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct Clipped {
    pub head: String,
    pub tail: String,
    pub omitted: u64,
}

impl Clipped {
    /// The text with, where bytes were left out, a note in their place.
    pub fn render(&self, limit: usize) -> String {
        if self.omitted == 0 {
            return format!("{}{}", self.head, self.tail);
        }
        format!(
            "{}\n[... {} bytes cut here: each output keeps its first and last {} bytes ...]\n{}",
            self.head,
            self.omitted,
            limit / 2,
            self.tail
        )
    }
}

/// A byte stream kept up to a limit: the first half of the limit, and the last half as a ring.
#[derive(Debug)]
pub(crate) struct CappedBuffer {
    limit: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    omitted: u64,
}

impl CappedBuffer {
    /// An empty buffer keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        CappedBuffer { limit, head: Vec::new(), tail: VecDeque::new(), omitted: 0 }
    }

    /// Appends `bytes`, forgetting the middle of the stream once it is over the limit.
    pub fn push(&mut self, mut bytes: &[u8]) {
        let head_room = (self.limit / 2).saturating_sub(self.head.len());
        let into_head = head_room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..into_head]);
        bytes = &bytes[into_head..];
        let tail_limit = self.limit - self.limit / 2;
        if bytes.len() >= tail_limit {
            self.omitted += (self.tail.len() + bytes.len() - tail_limit) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - tail_limit..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(tail_limit);
        self.tail.drain(..overflow);
        self.omitted += overflow as u64;
        self.tail.extend(bytes);
    }

    /// What was kept, as text (invalid UTF-8, e.g. a character cut in two, becomes U+FFFD).
    pub fn clipped(&self) -> Clipped {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        Clipped {
            head: String::from_utf8_lossy(&self.head).into_owned(),
            tail: String::from_utf8_lossy(&tail).into_owned(),
            omitted: self.omitted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_streams_are_kept_whole() {
        let mut buffer = CappedBuffer::new(10);
        buffer.push(b"abc");
        buffer.push(b"def");
        assert_eq!(buffer.clipped().render(10), "abcdef");
    }

    #[test]
    fn long_streams_keep_head_and_tail_and_say_how_much_was_cut() {
        for chunk in [1, 3, 7, 100] {
            let mut buffer = CappedBuffer::new(10);
            let data: Vec<u8> = (b'a'..=b'z').collect();
            for piece in data.chunks(chunk) {
                buffer.push(piece);
            }
            let clipped = buffer.clipped();
            assert_eq!((clipped.head.as_str(), clipped.tail.as_str(), clipped.omitted), ("abcde", "vwxyz", 16), "chunks of {chunk}");
            assert!(clipped.render(10).contains("[... 16 bytes cut here"), "{}", clipped.render(10));
        }
    }
}
