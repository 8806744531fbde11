//! A scratchpad with its contents: one banked scratchpad of the PIUMA-like model
//! ([`Scratchpad`]: size, banks, bank width, latency) and its bytes.
//!
//! The SAT core's three regions in exact mode ([`crate::exact::Memory`]) are instances of it,
//! and their banks are timed by the same functions as a block's ([`super::timing`]).

use super::timing;
use nmsat_compiler::arch::piuma::Scratchpad;
use std::ops::Range;

/// A banked scratchpad and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spad {
    desc: Scratchpad,
    data: Vec<u8>,
}

impl Spad {
    /// A zeroed scratchpad as `desc` describes it.
    pub fn new(desc: Scratchpad) -> Spad {
        Spad {
            desc,
            data: vec![0; desc.bytes as usize],
        }
    }

    /// What it is: size, banks, bank width, latency.
    pub fn desc(&self) -> &Scratchpad {
        &self.desc
    }

    /// The bytes at `range`.
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.data[range]
    }

    /// The bytes at `range`, to write.
    pub fn bytes_mut(&mut self, range: Range<usize>) -> &mut [u8] {
        &mut self.data[range]
    }

    /// Bank of byte `offset` ([`timing::spad_bank`]).
    pub fn bank(&self, offset: u64) -> u64 {
        timing::spad_bank(&self.desc, offset)
    }

    /// Cycles a contiguous stream of `bytes` takes through the banks
    /// ([`timing::stream_cycles`]).
    pub fn stream_cycles(&self, bytes: u64) -> u64 {
        timing::stream_cycles(&self.desc, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Streaming equals the busiest bank of the word-by-word split, and banks go round
        /// robin word by word.
        #[test]
        fn stream_is_the_busiest_bank(banks in 1u64..=33, width in 1u64..=16, bytes in 0u64..5000) {
            let s = Spad::new(Scratchpad { bytes: banks * width * 64, banks, bank_width_bytes: width, latency: 1 });
            let mut p = nmsat_compiler::arch::piuma::Piuma::load("piuma-block").unwrap();
            p.scratchpad = *s.desc();
            let mut busiest = 0;
            timing::range_per_bank(&p, 0, bytes, |_, n| busiest = busiest.max(n));
            prop_assert_eq!(s.stream_cycles(bytes), busiest);
            for w in 0..3 * banks {
                prop_assert_eq!(s.bank(w * width + width - 1), w % banks);
            }
        }
    }

    #[test]
    fn holds_its_bytes() {
        let mut s = Spad::new(Scratchpad {
            bytes: 64,
            banks: 2,
            bank_width_bytes: 8,
            latency: 1,
        });
        s.bytes_mut(8..12).copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(s.bytes(6..14), &[0, 0, 1, 2, 3, 4, 0, 0]);
        assert_eq!(s.bank(8), 1);
    }
}
