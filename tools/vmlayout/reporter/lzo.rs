// SPDX-License-Identifier: GPL-2.0

//! LZO1X decompression, for the pages of kdump-compressed dumps saved
//! with `makedumpfile -l` (the RHEL family's default) or QEMU's
//! `kdump-lzo`. The format is liblzo2's `lzo1x_1_compress` output, decoded
//! as `lzo1x_decompress_safe()` decodes it (lib/lzo/ in the kernel,
//! minilzo): every read of the input and every copy into the output is
//! bounds-checked, so corrupted data is an error, never a panic or a read
//! outside either buffer.

/// Where the decoder is: the labels of liblzo's decoder.
enum State {
    /// An instruction that may start a literal run.
    Next,
    /// Right after a literal run: a short match reaches 2 KiB further.
    AfterLiterals,
    /// A match instruction.
    Match(usize),
    /// 1 to 3 trailing literals, then a match instruction.
    Trailing(usize),
}

/// Decompress `src` into `out`: how many bytes it gave.
pub fn decompress(src: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let mut d = Decoder {
        src,
        out,
        ip: 0,
        op: 0,
    };
    let mut state = match d.src.first() {
        Some(&first) if first > 17 => {
            d.ip = 1;
            match usize::from(first) - 17 {
                t if t < 4 => State::Trailing(t),
                t => {
                    d.literals(t)?;
                    State::AfterLiterals
                }
            }
        }
        Some(_) => State::Next,
        None => return Err("lzo: no data".into()),
    };
    loop {
        state = match state {
            State::Next => d.next()?,
            State::AfterLiterals => d.after_literals()?,
            State::Match(t) => match d.matched(t)? {
                Some(state) => state,
                None => return Ok(d.op),
            },
            State::Trailing(t) => {
                d.literals(t)?;
                State::Match(d.byte()?)
            }
        };
    }
}

struct Decoder<'a> {
    src: &'a [u8],
    out: &'a mut [u8],
    ip: usize,
    op: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<usize, String> {
        let b = *self.src.get(self.ip).ok_or("lzo: input overrun")?;
        self.ip += 1;
        Ok(usize::from(b))
    }

    /// A little-endian 16-bit distance field.
    fn le16(&mut self) -> Result<usize, String> {
        Ok(self.byte()? | self.byte()? << 8)
    }

    /// A length that did not fit its instruction: `base` plus 255 per zero
    /// byte plus the first non-zero byte.
    fn extended(&mut self, base: usize) -> Result<usize, String> {
        let mut t = base;
        loop {
            match self.byte()? {
                0 => t = t.checked_add(255).ok_or("lzo: length overflow")?,
                b => return Ok(t + b),
            }
        }
    }

    fn literals(&mut self, n: usize) -> Result<(), String> {
        let from = self
            .src
            .get(self.ip..self.ip + n)
            .ok_or("lzo: input overrun")?;
        let to = self
            .out
            .get_mut(self.op..self.op + n)
            .ok_or("lzo: output overrun")?;
        to.copy_from_slice(from);
        (self.ip, self.op) = (self.ip + n, self.op + n);
        Ok(())
    }

    /// Copy `len` bytes from `dist` back (they may overlap what is copied).
    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), String> {
        if dist > self.op || dist == 0 {
            return Err("lzo: match before the start of the output".into());
        }
        if self.op + len > self.out.len() {
            return Err("lzo: output overrun".into());
        }
        for _ in 0..len {
            self.out[self.op] = self.out[self.op - dist];
            self.op += 1;
        }
        Ok(())
    }

    /// After a match: the two low bits of the byte before last are the
    /// number of literals that follow it.
    fn after_match(&self) -> Result<State, String> {
        let at = self.ip.checked_sub(2).ok_or("lzo: bad match")?;
        Ok(match usize::from(self.src[at] & 3) {
            0 => State::Next,
            t => State::Trailing(t),
        })
    }

    fn next(&mut self) -> Result<State, String> {
        let t = self.byte()?;
        if t >= 16 {
            return Ok(State::Match(t));
        }
        let t = if t == 0 { self.extended(15)? } else { t };
        self.literals(t + 3)?;
        Ok(State::AfterLiterals)
    }

    fn after_literals(&mut self) -> Result<State, String> {
        let t = self.byte()?;
        if t >= 16 {
            return Ok(State::Match(t));
        }
        let dist = 1 + 0x800 + (t >> 2) + (self.byte()? << 2);
        self.copy_match(dist, 3)?;
        self.after_match()
    }

    /// A match instruction `t`: `None` at the end-of-stream marker.
    fn matched(&mut self, t: usize) -> Result<Option<State>, String> {
        let (dist, len) = if t >= 64 {
            (1 + ((t >> 2) & 7) + (self.byte()? << 3), (t >> 5) + 1)
        } else if t >= 32 {
            let len = if t & 31 == 0 {
                self.extended(31)?
            } else {
                t & 31
            };
            (1 + (self.le16()? >> 2), len + 2)
        } else if t >= 16 {
            let len = if t & 7 == 0 { self.extended(7)? } else { t & 7 };
            let dist = ((t & 8) << 11) + (self.le16()? >> 2);
            if dist == 0 {
                return Ok(None);
            }
            (dist + 0x4000, len + 2)
        } else {
            (1 + (t >> 2) + (self.byte()? << 2), 2)
        };
        self.copy_match(dist, len)?;
        self.after_match().map(Some)
    }
}
