//! The bytes read from a connection and not yet answered.

use bytes::BytesMut;

/// Bytes the buffer grows by, and the least room a read is given.
const CHUNK: usize = 4096;

/// A read buffer: `bytes[start..end]` are read and unanswered. Reads go into the initialised
/// room after `end`, so no unsafe code is needed to read into it.
#[derive(Debug)]
pub(crate) struct ReadBuffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    /// An empty buffer with room for one read.
    pub(crate) fn new() -> Self {
        Self {
            bytes: vec![0; CHUNK],
            start: 0,
            end: 0,
        }
    }

    /// The bytes read and not yet answered.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// Whether every byte read was answered.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// How many bytes are unanswered.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Drops the first `n` unanswered bytes (an answered request).
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into after the unanswered bytes: at least a quarter chunk, moving them to
    /// the front or growing the buffer when needed.
    pub(crate) fn room(&mut self) -> &mut [u8] {
        if self.bytes.len() - self.end < CHUNK / 4 {
            if self.start > 0 {
                self.bytes.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.bytes.len() - self.end < CHUNK / 4 {
                self.bytes.resize(self.bytes.len() + CHUNK, 0);
            }
        }
        &mut self.bytes[self.end..]
    }

    /// Notes that a read put `n` bytes into [`ReadBuffer::room`].
    pub(crate) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.bytes.len());
    }

    /// The unanswered bytes, for the stream that takes the connection over.
    pub(crate) fn into_unread(self) -> BytesMut {
        BytesMut::from(self.unread())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_bytes_survive_compaction_and_growth() {
        let mut buffer = ReadBuffer::new();
        let head = b"GET /a HTTP/1.1\r\n\r\n";
        let mut written = 0;
        while written < 3 * CHUNK {
            let room = buffer.room();
            let n = room.len().min(head.len());
            room[..n].copy_from_slice(&head[..n]);
            buffer.filled(n);
            written += n;
            if n == head.len() {
                buffer.consume(n);
            }
        }
        assert!(buffer.is_empty());
        let room = buffer.room();
        room[..4].copy_from_slice(b"GET ");
        buffer.filled(4);
        assert_eq!(buffer.len(), 4);
        assert_eq!(&buffer.into_unread()[..], b"GET ");
    }
}
