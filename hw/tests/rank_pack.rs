//! The run-time N:M rank-and-pack unit against `prune::pack_row` in rust-hdl's simulation:
//! every pattern the lanes allow, whole and partial groups, ties and edges. (Its Verilog is
//! checked inside the core, whose prune unit it is: its 320-bit output is no top-level port.)

mod common;

use common::Rng;
use nmsat_compiler::prune::{group_bytes, pack_row, Nm};
use nmsat_hw::{settle, RankPack};
use rust_hdl::prelude::*;

fn cases(lanes: usize, rng: &mut Rng) -> Vec<(Nm, Vec<i16>)> {
    let mut out = Vec::new();
    for m in 2..=lanes as u64 {
        for n in 1..m {
            let nm = Nm { n, m };
            for c in 0..12 {
                let v = if c % 3 == 2 {
                    1 + rng.next_u64() as usize % m as usize
                } else {
                    m as usize
                };
                let g: Vec<i16> = match c % 4 {
                    0 => rng.vec_i16(v),
                    1 => (0..v).map(|_| rng.small(2)).collect(),
                    _ => (0..v)
                        .map(|_| [i16::MIN, i16::MAX, -1, 0, 1][rng.next_u64() as usize % 5])
                        .collect(),
                };
                out.push((nm, g));
            }
        }
    }
    out
}

fn expected(nm: Nm, g: &[i16]) -> Vec<u8> {
    let mut bytes = pack_row(g, nm);
    bytes.resize(group_bytes(nm), 0);
    bytes
}

fn bytes_of(packed: u128, hi: u128, len: usize) -> Vec<u8> {
    (0..len)
        .map(|b| {
            if b < 16 {
                (packed >> (8 * b)) as u8
            } else {
                (hi >> (8 * (b - 16))) as u8
            }
        })
        .collect()
}

#[test]
fn rust_hdl_update_matches_pack_row() {
    let mut rng = Rng(4);
    let mut uut = RankPack::new(8);
    uut.connect_all();
    for (nm, g) in cases(8, &mut rng) {
        // Lanes beyond the group hold junk that the unit must ignore.
        let mut bus: Bits<256> = 0.into();
        for (l, &w) in g.iter().chain(std::iter::repeat(&7)).take(16).enumerate() {
            bus = bus | (bits::<256>(w as u16 as LiteralType) << (16 * l as LiteralType));
        }
        uut.w.next = bus;
        uut.n.next = bits(nm.n);
        uut.v.next = bits(g.len() as u64);
        uut.ib.next = bits(u64::from(nm.index_bits()));
        settle(&mut uut);
        let p = uut.out_bits.val();
        let lo: u128 = (0..2).fold(0, |a, i| {
            a | (u128::from(p.get_bits::<64>(64 * i).to_u64()) << (64 * i))
        });
        let hi: u128 = (2..4).fold(0, |a, i| {
            a | (u128::from(p.get_bits::<64>(64 * i).to_u64()) << (64 * (i - 2)))
        });
        assert_eq!(
            bytes_of(lo, hi, group_bytes(nm)),
            expected(nm, &g),
            "{nm} {g:?}"
        );
    }
}
