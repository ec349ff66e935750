//! Bitcoin's serialization primitives: little-endian integers and compact
//! sizes, read with the offset of each failure.

/// Why a read failed, with the offset it failed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// More bytes were needed at this offset.
    Truncated(u64),
    /// The compact size at this offset has a shorter encoding.
    NonCanonical(u64),
    /// The count or length at this offset is larger than what is left.
    Oversized(u64),
}

/// A cursor over bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if self.remaining() < n {
            return Err(ReadError::Truncated(self.bytes.len() as u64));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, ReadError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, ReadError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A compact size, canonical (the shortest encoding).
    pub fn compact_size(&mut self) -> Result<u64, ReadError> {
        let at = self.offset();
        let (value, min) = match self.u8()? {
            0xfd => {
                let b = self.take(2)?;
                (u64::from(u16::from_le_bytes([b[0], b[1]])), 0xfd)
            }
            0xfe => (u64::from(self.u32()?), 0x1_0000),
            0xff => (self.u64()?, 0x1_0000_0000),
            n => return Ok(u64::from(n)),
        };
        if value < min {
            return Err(ReadError::NonCanonical(at));
        }
        Ok(value)
    }

    /// A compact size that counts items of at least `min_item` bytes each:
    /// refused when what is left cannot hold that many.
    pub fn count(&mut self, min_item: usize) -> Result<usize, ReadError> {
        let at = self.offset();
        let n = self.compact_size()?;
        if n.saturating_mul(min_item as u64) > self.remaining() as u64 {
            return Err(ReadError::Oversized(at));
        }
        Ok(n as usize)
    }

    /// A compact-size length, then that many bytes.
    pub fn var_bytes(&mut self) -> Result<&'a [u8], ReadError> {
        let n = self.count(1)?;
        self.take(n)
    }
}

/// Appends `n` as a compact size.
pub fn put_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Appends a compact-size length and `bytes`.
pub fn put_var_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_compact_size(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_sizes_round_trip_and_must_be_canonical() {
        for n in [
            0u64,
            0xfc,
            0xfd,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
        ] {
            let mut out = Vec::new();
            put_compact_size(&mut out, n);
            assert_eq!(Reader::new(&out).compact_size(), Ok(n));
        }
        assert_eq!(
            Reader::new(&[0xfd, 0xfc, 0x00]).compact_size(),
            Err(ReadError::NonCanonical(0))
        );
        assert_eq!(
            Reader::new(&[0xfe, 0x01]).compact_size(),
            Err(ReadError::Truncated(2))
        );
        assert_eq!(
            Reader::new(&[0x05, 0x01]).count(1),
            Err(ReadError::Oversized(0))
        );
    }
}
