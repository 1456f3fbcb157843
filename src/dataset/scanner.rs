//! The sans-IO scanner: bytes in, top-level element ranges out.

use super::error::{Error, Limit, LimitExceeded, Malformed, MalformedKind, Unsupported};
use super::layout::{ElementRange, Encapsulated, Fragment, Layout, Length};
use super::{ByteOrder, Limits, Tag, TransferSyntax, Vr};

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// How the elements at one nesting level are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Encoding {
    explicit: bool,
    order: ByteOrder,
}

impl Encoding {
    /// PS3.5 6.2.2: the value of a UN element of undefined length is
    /// encoded implicit VR little endian.
    const IMPLICIT_LE: Encoding = Encoding {
        explicit: false,
        order: ByteOrder::Little,
    };

    fn u16(self, b: [u8; 2]) -> u16 {
        match self.order {
            ByteOrder::Little => u16::from_le_bytes(b),
            ByteOrder::Big => u16::from_be_bytes(b),
        }
    }

    fn u32(self, b: [u8; 4]) -> u32 {
        match self.order {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        }
    }
}

/// One open undefined-length structure.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Inside an undefined-length element value: items or a sequence
    /// delimiter come next.
    Sequence { enc: Encoding },
    /// Inside an undefined-length item: data elements or an item delimiter
    /// come next.
    Item { enc: Encoding },
}

/// The incremental scanner. Feed it a data set (not the Part-10 front; see
/// [`split_part10`](super::split_part10)) in chunks of any size, then call
/// [`finish`](Scanner::finish).
///
/// It keeps no input bytes beyond one element header (12 bytes): values are
/// skipped by count, so memory does not depend on lengths read off the input.
#[derive(Debug, Clone)]
pub struct Scanner {
    base: Encoding,
    limits: Limits,
    /// Offset of the next input byte.
    pos: u64,
    /// Partial header bytes and where that header starts.
    hdr: [u8; 12],
    hdr_len: usize,
    hdr_start: u64,
    /// Value bytes still to skip, the header offset, tag and length of the
    /// element or item they belong to (for errors).
    skip: u64,
    skip_owner: (u64, Tag, u32),
    stack: Vec<Frame>,
    sequence_depth: usize,
    /// The top-level element in progress.
    pending: Option<ElementRange>,
    /// Start of trailing zero padding, once seen.
    padding_start: Option<u64>,
    layout: Layout,
    failed: Option<Error>,
}

impl Scanner {
    /// A scanner for a data set in the given transfer syntax. A deflated
    /// syntax gives a scanner whose every call fails with
    /// [`Unsupported::Deflated`].
    pub fn new(transfer_syntax: TransferSyntax, limits: Limits) -> Scanner {
        let base = Encoding {
            explicit: transfer_syntax.explicit_vr(),
            order: transfer_syntax.byte_order(),
        };
        Scanner {
            base,
            limits,
            pos: 0,
            hdr: [0; 12],
            hdr_len: 0,
            hdr_start: 0,
            skip: 0,
            skip_owner: (0, Tag(0, 0), 0),
            stack: Vec::new(),
            sequence_depth: 0,
            pending: None,
            padding_start: None,
            layout: Layout {
                transfer_syntax,
                elements: Vec::new(),
                len: 0,
                trailing_padding: None,
            },
            failed: transfer_syntax
                .is_deflated()
                .then_some(Error::Unsupported(Unsupported::Deflated)),
        }
    }

    /// Number of bytes fed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether the bytes fed so far end exactly at a top-level element
    /// boundary or inside trailing zero padding (so `finish` would succeed).
    pub fn at_boundary(&self) -> bool {
        self.failed.is_none() && self.pending.is_none() && self.skip == 0 && self.hdr_len == 0
    }

    /// Top-level elements completed so far.
    pub fn elements(&self) -> &[ElementRange] {
        &self.layout.elements
    }

    /// Feed the next chunk. Returns the top-level elements this chunk
    /// completed (empty: more bytes are needed). After an error the scanner
    /// keeps returning that error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<&[ElementRange], Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let before = self.layout.elements.len();
        if let Err(e) = self.feed_inner(chunk) {
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(self.layout.elements.get(before..).unwrap_or(&[]))
    }

    /// End of input: the layout, or a precise error if the input ended
    /// inside an element.
    pub fn finish(self) -> Result<Layout, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let end = self.pos;
        if self.hdr_len > 0 {
            return Err(Malformed {
                offset: self.hdr_start,
                tag: None,
                kind: MalformedKind::HeaderTruncated {
                    have: self.hdr_len,
                    need: self.header_need(),
                },
            }
            .into());
        }
        if self.skip > 0 {
            let (offset, tag, length) = self.skip_owner;
            return Err(Malformed {
                offset,
                tag: Some(tag),
                kind: MalformedKind::ValuePastEnd { length, end },
            }
            .into());
        }
        if let Some(p) = &self.pending {
            return Err(Malformed {
                offset: p.header_offset,
                tag: Some(p.tag),
                kind: MalformedKind::Unterminated { end },
            }
            .into());
        }
        let mut layout = self.layout;
        layout.len = end;
        layout.trailing_padding = self.padding_start.map(|start| start..end);
        Ok(layout)
    }

    fn enc(&self) -> Encoding {
        match self.stack.last() {
            Some(Frame::Sequence { enc } | Frame::Item { enc }) => *enc,
            None => self.base,
        }
    }

    fn expecting_items(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Sequence { .. }))
    }

    /// Header bytes needed, given those read so far.
    fn header_need(&self) -> usize {
        if self.hdr_len < 8 {
            return 8;
        }
        let enc = self.enc();
        let group = enc.u16([self.hdr[0], self.hdr[1]]);
        if enc.explicit
            && group != 0xFFFE
            && !self.expecting_items()
            && Vr([self.hdr[4], self.hdr[5]]).has_long_header()
        {
            12
        } else {
            8
        }
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let new_pos = self.pos.checked_add(chunk.len() as u64);
        match new_pos {
            Some(p) if p <= self.limits.max_total_bytes => {}
            _ => {
                return Err(LimitExceeded {
                    limit: Limit::MaxTotalBytes,
                    max: self.limits.max_total_bytes,
                    offset: self.limits.max_total_bytes,
                }
                .into());
            }
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.padding_start.is_some() {
                if let Some(i) = rest.iter().position(|&b| b != 0) {
                    let offset = self.pos + i as u64;
                    return Err(Malformed {
                        offset,
                        tag: None,
                        kind: MalformedKind::DataAfterPadding,
                    }
                    .into());
                }
                self.pos += rest.len() as u64;
                return Ok(());
            }
            if self.skip > 0 {
                let n = usize::try_from(self.skip).map_or(rest.len(), |s| s.min(rest.len()));
                rest = rest.get(n..).unwrap_or(&[]);
                self.pos += n as u64;
                self.skip -= n as u64;
                if self.skip == 0 {
                    self.complete_if_top_level();
                }
                continue;
            }
            if self.hdr_len == 0 {
                self.hdr_start = self.pos;
            }
            let need = self.header_need();
            let take = need.saturating_sub(self.hdr_len).min(rest.len());
            let (head, tail) = rest.split_at(take);
            if let Some(dst) = self.hdr.get_mut(self.hdr_len..self.hdr_len + take) {
                dst.copy_from_slice(head);
            }
            self.hdr_len += take;
            self.pos += take as u64;
            rest = tail;
            if self.hdr_len == self.header_need() {
                self.on_header()?;
                self.hdr_len = 0;
            }
        }
        Ok(())
    }

    fn malformed(&self, tag: Option<Tag>, kind: MalformedKind) -> Error {
        Malformed {
            offset: self.hdr_start,
            tag,
            kind,
        }
        .into()
    }

    fn push_sequence(&mut self, enc: Encoding) -> Result<(), Error> {
        if self.sequence_depth >= self.limits.max_depth {
            return Err(LimitExceeded {
                limit: Limit::MaxDepth,
                max: self.limits.max_depth as u64,
                offset: self.hdr_start,
            }
            .into());
        }
        self.sequence_depth += 1;
        self.stack.push(Frame::Sequence { enc });
        Ok(())
    }

    /// A complete header lies in `self.hdr[..self.hdr_len]`, starting at
    /// `self.hdr_start`; `self.pos` is the first value byte.
    fn on_header(&mut self) -> Result<(), Error> {
        let enc = self.enc();
        let h = self.hdr;
        let tag = Tag(enc.u16([h[0], h[1]]), enc.u16([h[2], h[3]]));
        if self.expecting_items() {
            let length = enc.u32([h[4], h[5], h[6], h[7]]);
            return match tag {
                Tag::ITEM if length == UNDEFINED => {
                    self.stack.push(Frame::Item { enc });
                    Ok(())
                }
                Tag::ITEM => {
                    if self.stack.len() == 1
                        && let Some(enc) =
                            self.pending.as_mut().and_then(|p| p.encapsulated.as_mut())
                    {
                        enc.items.push(Fragment {
                            item_offset: self.hdr_start,
                            value_offset: self.pos,
                            length,
                        });
                    }
                    self.start_skip(tag, length);
                    Ok(())
                }
                Tag::SEQUENCE_DELIMITER => {
                    // A non-zero length here is tolerated: nothing follows
                    // the 8 header bytes either way.
                    self.stack.pop();
                    self.sequence_depth = self.sequence_depth.saturating_sub(1);
                    if self.stack.is_empty()
                        && let Some(enc) =
                            self.pending.as_mut().and_then(|p| p.encapsulated.as_mut())
                    {
                        enc.delimiter_offset = self.hdr_start;
                    }
                    self.complete_if_top_level();
                    Ok(())
                }
                _ => Err(self.malformed(Some(tag), MalformedKind::ExpectedItem)),
            };
        }
        // A data element (top level or inside an undefined-length item).
        if self.stack.is_empty() && h.get(..8).is_some_and(|b| b.iter().all(|&b| b == 0)) {
            // Eight zero bytes where a top-level element should start: NUL
            // padding to the end of the input (some writers pad files).
            self.padding_start = Some(self.hdr_start);
            return Ok(());
        }
        if tag.is_item_or_delimiter() {
            if tag == Tag::ITEM_DELIMITER && matches!(self.stack.last(), Some(Frame::Item { .. })) {
                self.stack.pop();
                return Ok(());
            }
            return Err(self.malformed(Some(tag), MalformedKind::UnexpectedDelimiter));
        }
        let (vr, length) = if enc.explicit {
            let vr = Vr([h[4], h[5]]);
            if !vr.is_known() {
                return Err(self.malformed(Some(tag), MalformedKind::InvalidVr(vr)));
            }
            let length = if vr.has_long_header() {
                enc.u32([h[8], h[9], h[10], h[11]])
            } else {
                u32::from(enc.u16([h[6], h[7]]))
            };
            if length == UNDEFINED && !vr.allows_undefined_length() {
                return Err(self.malformed(Some(tag), MalformedKind::UndefinedLengthNotAllowed(vr)));
            }
            (Some(vr), length)
        } else {
            (None, enc.u32([h[4], h[5], h[6], h[7]]))
        };
        let top_level = self.stack.is_empty();
        if top_level {
            self.pending = Some(ElementRange {
                tag,
                vr,
                header_offset: self.hdr_start,
                header_len: self.hdr_len as u8,
                value_offset: self.pos,
                length: if length == UNDEFINED {
                    Length::Undefined
                } else {
                    Length::Defined(length)
                },
                end: self.pos,
                encapsulated: (length == UNDEFINED && tag.is_pixel_data())
                    .then(Encapsulated::default),
            });
        }
        if length == UNDEFINED {
            let inner = if vr == Some(Vr::UN) {
                Encoding::IMPLICIT_LE
            } else {
                enc
            };
            self.push_sequence(inner)?;
        } else {
            self.start_skip(tag, length);
        }
        Ok(())
    }

    fn start_skip(&mut self, tag: Tag, length: u32) {
        self.skip = u64::from(length);
        self.skip_owner = (self.hdr_start, tag, length);
        if self.skip == 0 {
            self.complete_if_top_level();
        }
    }

    fn complete_if_top_level(&mut self) {
        if self.stack.is_empty()
            && self.skip == 0
            && let Some(mut p) = self.pending.take()
        {
            p.end = self.pos;
            self.layout.elements.push(p);
        }
    }
}

/// Scan a whole data set in one call.
pub fn scan(
    transfer_syntax: TransferSyntax,
    data_set: &[u8],
    limits: Limits,
) -> Result<Layout, Error> {
    let mut scanner = Scanner::new(transfer_syntax, limits);
    scanner.feed(data_set)?;
    scanner.finish()
}
