//! Hand-made tar streams for inputs the `tar` crate's builder refuses to write: any name
//! bytes, any type flag, link targets, PAX records, GNU long names, lying size fields.
//!
//! ```
//! use wharf_test_support::raw_tar::RawTar;
//! let tar = RawTar::new()
//!     .file("demo-1.0.0/Cargo.toml", "[package]\n")
//!     .link(b"demo-1.0.0/src/lib.rs", b'2', 0o777, b"/etc/passwd")
//!     .finish();
//! assert_eq!(tar.len(), 5 * 512);
//! ```

use tar::{EntryType, Header};

/// Header format of a hand-made entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `ustar  \0` magic, as cargo writes.
    Gnu,
    /// `ustar\000` magic, as PAX writers use.
    Ustar,
}

/// A tar stream built block by block.
#[derive(Debug, Clone, Default)]
pub struct RawTar {
    bytes: Vec<u8>,
}

/// A 512-byte header with the raw `name` bytes, type flag, declared size and mode, dated
/// [`crate::CARGO_MTIME`].
pub fn header(format: Format, name: &[u8], typeflag: u8, size: u64, mode: u32) -> [u8; 512] {
    linked_header(format, name, typeflag, size, mode, b"")
}

/// [`header`] with a link target (`linkname`), as symlink and hard-link entries carry.
pub fn linked_header(
    format: Format,
    name: &[u8],
    typeflag: u8,
    size: u64,
    mode: u32,
    link: &[u8],
) -> [u8; 512] {
    let mut header = match format {
        Format::Gnu => Header::new_gnu(),
        Format::Ustar => Header::new_ustar(),
    };
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    header.set_entry_type(EntryType::new(typeflag));
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(crate::CARGO_MTIME);
    header.set_cksum();
    *header.as_bytes()
}

impl RawTar {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends raw bytes as they are (a header, garbage, ...).
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// Appends `data` padded with zeros to a whole block.
    pub fn data(mut self, data: &[u8]) -> Self {
        self.bytes.extend_from_slice(data);
        let padding = data.len().next_multiple_of(512) - data.len();
        self.bytes.extend(std::iter::repeat_n(0, padding));
        self
    }

    /// A GNU-format entry whose header size equals `data.len()`.
    pub fn entry(self, name: &[u8], typeflag: u8, mode: u32, data: &[u8]) -> Self {
        let size = data.len() as u64;
        self.raw(&header(Format::Gnu, name, typeflag, size, mode))
            .data(data)
    }

    /// A GNU-format entry without data that points at `target` (type `2` symlink, `1` hard
    /// link).
    pub fn link(self, name: &[u8], typeflag: u8, mode: u32, target: &[u8]) -> Self {
        self.raw(&linked_header(Format::Gnu, name, typeflag, 0, mode, target))
    }

    /// A regular file, mode 0644.
    pub fn file(self, name: &str, data: &str) -> Self {
        self.entry(name.as_bytes(), b'0', 0o644, data.as_bytes())
    }

    /// A PAX extended header (`x`) with the given records, in ustar format.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let mut data = Vec::new();
        for (key, value) in records {
            data.extend(pax_record(key, value));
        }
        self.pax_raw(&data)
    }

    /// A PAX extended header with arbitrary record bytes.
    pub fn pax_raw(self, data: &[u8]) -> Self {
        self.raw(&header(
            Format::Ustar,
            b"PaxHeaders/entry",
            b'x',
            data.len() as u64,
            0o644,
        ))
        .data(data)
    }

    /// A GNU long-name entry (`L`) carrying `name` plus its NUL terminator.
    pub fn long_name(self, name: &[u8]) -> Self {
        let mut data = name.to_vec();
        data.push(0);
        self.entry(b"././@LongLink", b'L', 0o644, &data)
    }

    /// The stream followed by the two zero blocks of the end-of-archive marker.
    pub fn finish(self) -> Vec<u8> {
        let mut bytes = self.bytes;
        bytes.extend(std::iter::repeat_n(0, 1024));
        bytes
    }

    /// The stream as is, without an end-of-archive marker.
    pub fn unfinished(self) -> Vec<u8> {
        self.bytes
    }
}

/// One PAX record with its self-inclusive decimal length.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3;
    let mut length = body_len + 1;
    while length.to_string().len() + body_len != length {
        length += 1;
    }
    let mut out = format!("{length} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}
