//! The container of `state.ckpt`: checksums, and named, typed, checksummed sections behind
//! the [`StateWriter`] / [`StateReader`] seam (layout in the parent module's docs).

use super::*;

// ---------------------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------------------

/// A fast 64-bit checksum (four multiply-xorshift lanes over 8-byte words), fed in pieces
/// whose lengths are multiples of 32 bytes except the last. Detects truncation and bit rot;
/// not cryptographic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checksum {
    pub(super) lanes: [u64; 4],
    pub(super) len: u64,
}

impl Checksum {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    pub(super) fn new() -> Self {
        Checksum {
            lanes: [1, 2, 3, 4],
            len: 0,
        }
    }

    fn mix(h: u64, w: u64) -> u64 {
        let h = (h ^ w).wrapping_mul(Self::K);
        h ^ (h >> 29)
    }

    pub(super) fn feed(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            for (l, w) in self.lanes.iter_mut().zip(b.chunks_exact(8)) {
                *l = Self::mix(*l, u64::from_le_bytes(w.try_into().expect("8 bytes")));
            }
        }
        for (i, w) in blocks.remainder().chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..w.len()].copy_from_slice(w);
            self.lanes[i] = Self::mix(self.lanes[i], u64::from_le_bytes(word));
        }
    }

    pub(super) fn finish(&self) -> u64 {
        let mut h = self.len;
        for l in self.lanes {
            h = Self::mix(h, l);
        }
        h
    }
}

pub(super) fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::new();
    c.feed(bytes);
    c.finish()
}

// ---------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------

/// Element types of a section, with their tags and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    U8 = 1,
    U16 = 2,
    U32 = 3,
    U64 = 4,
    F32 = 5,
    F64 = 6,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::U8 => 1,
            Kind::U16 => 2,
            Kind::U32 | Kind::F32 => 4,
            Kind::U64 | Kind::F64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::U8 => "u8",
            Kind::U16 => "u16",
            Kind::U32 => "u32",
            Kind::U64 => "u64",
            Kind::F32 => "f32",
            Kind::F64 => "f64",
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => Kind::U8,
            2 => Kind::U16,
            3 => Kind::U32,
            4 => Kind::U64,
            5 => Kind::F32,
            6 => Kind::F64,
            _ => return None,
        })
    }
}

/// Numbers that a section holds, converted to and from little-endian bytes.
trait Element: Copy {
    const KIND: Kind;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($t:ty, $kind:expr) => {
        impl Element for $t {
            const KIND: Kind = $kind;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
        }
    };
}
element!(u16, Kind::U16);
element!(u32, Kind::U32);
element!(u64, Kind::U64);
element!(f32, Kind::F32);
element!(f64, Kind::F64);

/// A [`StateWriter`] into a buffered file, counting sections and bytes.
pub(super) struct SectionWriter<'a, W: Write> {
    pub(super) out: &'a mut W,
    pub(super) path: &'a Path,
    pub(super) sections: u32,
    pub(super) scratch: Vec<u8>,
}

impl<W: Write> SectionWriter<'_, W> {
    pub(super) fn io(&self) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: self.path.to_path_buf(),
            source,
        }
    }

    pub(super) fn head(&mut self, name: &str, kind: Kind, count: usize) -> Result<()> {
        let mut h = Vec::with_capacity(name.len() + 11);
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h.push(kind as u8);
        h.extend_from_slice(&(count as u64).to_le_bytes());
        self.out.write_all(&h).map_err(self.io())?;
        self.sections += 1;
        Ok(())
    }

    pub(super) fn bytes(&mut self, name: &str, v: &[u8]) -> Result<()> {
        self.head(name, Kind::U8, v.len())?;
        self.out.write_all(v).map_err(self.io())?;
        let sum = checksum(v);
        self.out.write_all(&sum.to_le_bytes()).map_err(self.io())
    }

    fn elements<T: Element>(&mut self, name: &str, v: &[T]) -> Result<()> {
        self.head(name, T::KIND, v.len())?;
        let mut sum = Checksum::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        for piece in v.chunks(IO_CHUNK / T::KIND.size()) {
            scratch.clear();
            for &x in piece {
                x.put(&mut scratch);
            }
            sum.feed(&scratch);
            self.out.write_all(&scratch).map_err(self.io())?;
        }
        self.scratch = scratch;
        self.out
            .write_all(&sum.finish().to_le_bytes())
            .map_err(self.io())
    }
}

impl<W: Write> StateWriter for SectionWriter<'_, W> {
    fn u8s(&mut self, name: &str, v: &[u8]) -> Result<()> {
        self.bytes(name, v)
    }
    fn u16s(&mut self, name: &str, v: &[u16]) -> Result<()> {
        self.elements(name, v)
    }
    fn u32s(&mut self, name: &str, v: &[u32]) -> Result<()> {
        self.elements(name, v)
    }
    fn u64s(&mut self, name: &str, v: &[u64]) -> Result<()> {
        self.elements(name, v)
    }
    fn f32s(&mut self, name: &str, v: &[f32]) -> Result<()> {
        self.elements(name, v)
    }
    fn f64s(&mut self, name: &str, v: &[f64]) -> Result<()> {
        self.elements(name, v)
    }
}

/// A [`StateReader`] over a buffered file, checking every section's name, type, length and
/// checksum.
pub(super) struct SectionReader<R: Read> {
    pub(super) inp: R,
    pub(super) path: PathBuf,
    pub(super) sections: u32,
    pub(super) scratch: Vec<u8>,
}

impl<R: Read> SectionReader<R> {
    pub(super) fn corrupt(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::Input {
            path: self.path.clone(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(super) fn read_exact(&mut self, key: &str, buf: &mut [u8]) -> Result<()> {
        self.inp.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.corrupt(key, "the file ends early (truncated checkpoint)")
            } else {
                Error::Io {
                    path: self.path.clone(),
                    source: e,
                }
            }
        })
    }

    pub(super) fn u64_raw(&mut self, key: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(key, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a section head and checks it against what the caller expects.
    pub(super) fn head(&mut self, name: &str, kind: Kind, count: usize) -> Result<()> {
        let mut len = [0u8; 2];
        self.read_exact(name, &mut len)?;
        let mut found = vec![0u8; usize::from(u16::from_le_bytes(len))];
        self.read_exact(name, &mut found)?;
        let mut tag = [0u8; 1];
        self.read_exact(name, &mut tag)?;
        let n = self.u64_raw(name)?;
        let found = String::from_utf8_lossy(&found).into_owned();
        let found_kind = Kind::from_tag(tag[0]);
        if found != name || found_kind != Some(kind) || n != count as u64 {
            return Err(self.corrupt(
                name,
                format!(
                    "expected {count} × {} here, the checkpoint has section `{found}` of {n} × {} \
                     (written by a run of another algorithm, rule or size)",
                    kind.name(),
                    found_kind.map_or("?", Kind::name)
                ),
            ));
        }
        self.sections += 1;
        Ok(())
    }

    pub(super) fn check(&mut self, name: &str, sum: u64) -> Result<()> {
        if self.u64_raw(name)? != sum {
            return Err(self.corrupt(name, "checksum mismatch (corrupt checkpoint)"));
        }
        Ok(())
    }

    pub(super) fn bytes(&mut self, name: &str, out: &mut [u8]) -> Result<()> {
        self.head(name, Kind::U8, out.len())?;
        self.read_exact(name, out)?;
        let sum = checksum(out);
        self.check(name, sum)
    }

    fn elements<T: Element>(&mut self, name: &str, out: &mut [T]) -> Result<()> {
        self.head(name, T::KIND, out.len())?;
        let size = T::KIND.size();
        let mut sum = Checksum::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        for piece in out.chunks_mut(IO_CHUNK / size) {
            scratch.resize(piece.len() * size, 0);
            self.read_exact(name, &mut scratch)?;
            sum.feed(&scratch);
            for (x, b) in piece.iter_mut().zip(scratch.chunks_exact(size)) {
                *x = T::get(b);
            }
        }
        self.scratch = scratch;
        self.check(name, sum.finish())
    }
}

impl<R: Read> StateReader for SectionReader<R> {
    fn u8s(&mut self, name: &str, out: &mut [u8]) -> Result<()> {
        self.bytes(name, out)
    }
    fn u16s(&mut self, name: &str, out: &mut [u16]) -> Result<()> {
        self.elements(name, out)
    }
    fn u32s(&mut self, name: &str, out: &mut [u32]) -> Result<()> {
        self.elements(name, out)
    }
    fn u64s(&mut self, name: &str, out: &mut [u64]) -> Result<()> {
        self.elements(name, out)
    }
    fn f32s(&mut self, name: &str, out: &mut [f32]) -> Result<()> {
        self.elements(name, out)
    }
    fn f64s(&mut self, name: &str, out: &mut [f64]) -> Result<()> {
        self.elements(name, out)
    }
}

pub(super) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn starts_with(path: &Path, magic: &[u8]) -> Result<bool> {
    let mut f = File::open(path).map_err(io_at(path))?;
    let mut buf = vec![0u8; magic.len()];
    Ok(f.read_exact(&mut buf).is_ok() && buf == magic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_sees_every_byte_and_the_length() {
        let a = vec![7u8; 1000];
        let mut b = a.clone();
        b[999] = 8;
        assert_ne!(checksum(&a), checksum(&b));
        assert_ne!(checksum(&a), checksum(&a[..999]));
        assert_ne!(checksum(&[0u8; 8]), checksum(&[0u8; 16]));
        // Fed in 32-byte multiples, the same as fed whole.
        let mut c = Checksum::new();
        c.feed(&a[..320]);
        c.feed(&a[320..]);
        assert_eq!(c.finish(), checksum(&a));
    }

    #[test]
    fn sections_round_trip_and_mismatches_are_named() {
        let mut buf = Vec::new();
        let path = Path::new("x.ckpt");
        {
            let mut w = SectionWriter {
                out: &mut buf,
                path,
                sections: 0,
                scratch: Vec::new(),
            };
            w.u8s("a", &[1, 2, 3]).unwrap();
            w.f64s("b", &[0.1, -0.0, f64::MIN_POSITIVE]).unwrap();
            w.u16s("c", &(0..70_000u32).map(|i| i as u16).collect::<Vec<_>>())
                .unwrap();
        }
        let mut r = SectionReader {
            inp: &buf[..],
            path: path.into(),
            sections: 0,
            scratch: Vec::new(),
        };
        let mut a = [0u8; 3];
        r.u8s("a", &mut a).unwrap();
        assert_eq!(a, [1, 2, 3]);
        let mut b = [0.0; 3];
        r.f64s("b", &mut b).unwrap();
        assert_eq!(
            b.map(f64::to_bits),
            [0.1, -0.0, f64::MIN_POSITIVE].map(f64::to_bits)
        );
        let mut c = vec![0u16; 69_999];
        let e = r.u16s("c", &mut c).unwrap_err().to_string();
        assert!(
            e.contains("`c`") && e.contains("69999 × u16") && e.contains("70000"),
            "{e}"
        );

        // A flipped data byte is caught by the checksum.
        let mut bad = buf.clone();
        bad[2 + 1 + 1 + 8] ^= 1;
        let mut r = SectionReader {
            inp: &bad[..],
            path: path.into(),
            sections: 0,
            scratch: Vec::new(),
        };
        let e = r.u8s("a", &mut a).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        // A truncated file says so.
        let mut r = SectionReader {
            inp: &buf[..30],
            path: path.into(),
            sections: 0,
            scratch: Vec::new(),
        };
        r.u8s("a", &mut a).unwrap();
        let e = r.f64s("b", &mut b).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
