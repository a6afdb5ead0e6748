//! The bytes of a `data_received` or a `write`, when a recorder keeps them.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The content of a `data_received` or `write` (trace format v1, optional
/// fields `data` and `data_cut`): at most [`Data::MAX_BYTES`] bytes, and
/// whether the event's bytes were longer than that.
///
/// A trace then changes when the content changes, not only when the count
/// does. In a file, `data` is standard base64 with padding, so that a line
/// with the most data stays far under the reader's 1 MiB limit; the reader
/// checks that it decodes and that it holds all of the event's `bytes`
/// unless `data_cut` is true.
///
/// ```
/// use callorder_trace::Data;
/// let data = Data::new(b"hello\r\n");
/// assert_eq!(data.bytes(), b"hello\r\n");
/// assert!(!data.is_cut());
/// assert_eq!(data.to_base64(), "aGVsbG8NCg==");
///
/// let big = vec![7u8; Data::MAX_BYTES + 1];
/// let kept = Data::new(&big);
/// assert_eq!(kept.bytes().len(), Data::MAX_BYTES);
/// assert!(kept.is_cut());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Data(Box<Kept>);

/// Boxed, so that a record without data (nearly all) pays one word for it.
#[derive(Clone, PartialEq, Eq)]
struct Kept {
    bytes: Box<[u8]>,
    cut: bool,
}

impl Data {
    /// The most bytes one event's `data` holds: 64 KiB.
    pub const MAX_BYTES: usize = 64 * 1024;

    /// The longest `data` text in a file: the base64 of
    /// [`MAX_BYTES`](Data::MAX_BYTES) bytes.
    pub const MAX_BASE64_LEN: usize = Self::MAX_BYTES.div_ceil(3) * 4;

    /// The first [`MAX_BYTES`](Data::MAX_BYTES) of `bytes`, cut when there
    /// were more.
    pub fn new(bytes: &[u8]) -> Data {
        let cut = bytes.len() > Self::MAX_BYTES;
        Data(Box::new(Kept {
            bytes: bytes[..bytes.len().min(Self::MAX_BYTES)].into(),
            cut,
        }))
    }

    /// The first bytes of an event's content, `cut` when the event had
    /// more (a recorder may keep fewer than [`MAX_BYTES`](Data::MAX_BYTES));
    /// `None` when `bytes` is over that limit.
    ///
    /// ```
    /// use callorder_trace::Data;
    /// let first = Data::from_parts(b"GET ".to_vec(), true).unwrap();
    /// assert!(first.is_cut());
    /// assert!(Data::from_parts(vec![0; Data::MAX_BYTES + 1], true).is_none());
    /// ```
    pub fn from_parts(bytes: Vec<u8>, cut: bool) -> Option<Data> {
        (bytes.len() <= Self::MAX_BYTES).then(|| {
            Data(Box::new(Kept {
                bytes: bytes.into_boxed_slice(),
                cut,
            }))
        })
    }

    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }

    /// Whether the event's bytes were longer than those kept (`data_cut`).
    pub fn is_cut(&self) -> bool {
        self.0.cut
    }

    /// The bytes as the file holds them: standard base64 with padding.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes())
    }

    /// Whether these bytes can be those of an event of `len` bytes: all of
    /// them, or fewer when cut.
    pub fn fits(&self, len: u64) -> bool {
        let kept = self.bytes().len() as u64;
        if self.is_cut() {
            kept < len
        } else {
            kept == len
        }
    }
}

// By hand: 64 KiB of bytes, one number a line, buried every failing
// assertion that showed a record.
impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 32;
        let bytes = self.bytes();
        let head = &bytes[..bytes.len().min(SHOWN)];
        f.debug_struct("Data")
            .field("len", &bytes.len())
            .field("cut", &self.is_cut())
            .field("head", &String::from_utf8_lossy(head))
            .finish()
    }
}

/// Decodes the `data` text of a file; the message says what was expected.
/// The text is measured before it is decoded, so that no more than the
/// limit is ever decoded.
pub(crate) fn decode(text: &str) -> Result<Box<[u8]>, String> {
    let too_long = |found: String| {
        format!(
            "expected at most {} bytes (base64 of at most {} characters), found {found}",
            Data::MAX_BYTES,
            Data::MAX_BASE64_LEN,
        )
    };
    if text.len() > Data::MAX_BASE64_LEN {
        return Err(too_long(format!("{} characters", text.len())));
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("expected standard base64 with padding: {e}"))?;
    // The longest text allowed decodes to up to 2 bytes more than the limit.
    if bytes.len() > Data::MAX_BYTES {
        return Err(too_long(format!("{} bytes", bytes.len())));
    }
    Ok(bytes.into_boxed_slice())
}
