// SPDX-License-Identifier: GPL-2.0

//! The record format every vmlayout file uses (format version 1).
//!
//! ```text
//! # vmlayout format=2 file=layout
//! region map=mm.rst-4level name=direct-map doc_start=0xffff888000000000 ... reason="..."
//! ```
//!
//! One record per line: a record type, then `key=value` fields separated by
//! single spaces. Values are bare when they contain no space, quote,
//! backslash or `=`; otherwise they are double-quoted with `\"` and `\\`
//! escaped. Addresses are `0x` and 16 hex digits. Lines starting with `#`
//! are comments; the first line is always the header above.

use core::fmt::{self, Write};

/// Version in every file's header. Bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 2;

/// Write the header line of file `file`.
pub fn header(out: &mut impl Write, file: &str) -> fmt::Result {
    writeln!(out, "# vmlayout format={FORMAT_VERSION} file={file}")
}

/// A record being written; fields are appended, [`Record::end`] ends the line.
pub struct Record<'w, W: Write> {
    out: &'w mut W,
}

fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .bytes()
            .any(|b| matches!(b, b' ' | b'"' | b'\\' | b'=' | b'\t' | b'\n'))
}

impl<'w, W: Write> Record<'w, W> {
    /// Start a record of type `kind`.
    pub fn new(out: &'w mut W, kind: &str) -> Result<Self, fmt::Error> {
        out.write_str(kind)?;
        Ok(Self { out })
    }

    /// A text field, quoted when it must be.
    pub fn text(self, key: &str, value: &str) -> Result<Self, fmt::Error> {
        write!(self.out, " {key}=")?;
        if !needs_quotes(value) {
            self.out.write_str(value)?;
            return Ok(self);
        }
        self.out.write_char('"')?;
        for c in value.chars() {
            match c {
                '"' | '\\' => {
                    self.out.write_char('\\')?;
                    self.out.write_char(c)?;
                }
                '\n' | '\t' => self.out.write_char(' ')?,
                _ => self.out.write_char(c)?,
            }
        }
        self.out.write_char('"')?;
        Ok(self)
    }

    /// An address or other 64-bit value in hex.
    pub fn hex(self, key: &str, value: u64) -> Result<Self, fmt::Error> {
        write!(self.out, " {key}={value:#018x}")?;
        Ok(self)
    }

    /// An address or `-` when there is none.
    pub fn opt_hex(self, key: &str, value: Option<u64>) -> Result<Self, fmt::Error> {
        match value {
            Some(v) => self.hex(key, v),
            None => self.text(key, "-"),
        }
    }

    /// A decimal number.
    pub fn num(self, key: &str, value: impl fmt::Display) -> Result<Self, fmt::Error> {
        write!(self.out, " {key}={value}")?;
        Ok(self)
    }

    /// End the record.
    pub fn end(self) -> fmt::Result {
        self.out.write_char('\n')
    }
}
