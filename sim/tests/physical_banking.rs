//! Physically banked regions (`banking: physical`) in the issue model: one operation at a time
//! holds a region's write port, while readers share its `ports` read copies.

use nmsat_compiler::arch::{Arch, RegionId};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::isa::Program;
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::Nm;
use nmsat_compiler::schedule::compile;
use nmsat_sim::machine::Schedule;
use nmsat_sim::{simulate_exact, simulate_fast};

fn sat_small(physical: bool) -> Arch {
    let text = include_str!("../../configs/arch/sat-small.yaml");
    let text = if physical {
        text.replace("latency: 1}", "latency: 1, banking: physical}")
    } else {
        text.to_string()
    };
    Arch::parse("sat-small.yaml", &text).unwrap()
}

/// Pairs of instructions that write `region` during a common cycle.
fn overlapping_writers(prog: &Program, s: &Schedule, region: RegionId) -> usize {
    let writers: Vec<usize> = (0..prog.instrs.len())
        .filter(|&j| {
            prog.instrs[j]
                .op
                .sp_writes()
                .iter()
                .any(|b| b.region == region)
        })
        .collect();
    let mut pairs = 0;
    for (i, &a) in writers.iter().enumerate() {
        for &b in &writers[i + 1..] {
            if s.start[a] < s.end[b] && s.start[b] < s.end[a] {
                pairs += 1;
            }
        }
    }
    pairs
}

#[test]
fn writers_of_a_physical_region_take_turns() {
    let model = load_model("digits-cnn").unwrap();
    let opts = TrainOptions::bdwp(4, Nm { n: 2, m: 8 });
    let ideal = sat_small(false);
    let physical = sat_small(true);
    // The banking changes the issue model, not the program.
    let prog = compile(&ideal, &model, &opts).unwrap().program;
    assert_eq!(prog, compile(&physical, &model, &opts).unwrap().program);
    let s_ideal = simulate_fast(&ideal, &prog).unwrap().schedule;
    let s_phys = simulate_fast(&physical, &prog).unwrap().schedule;
    assert_eq!(s_phys, simulate_exact(&physical, &prog).unwrap().schedule);
    let mut overlapped = 0;
    for r in RegionId::ALL {
        // Ideal regions let two operations write at once (this program does so), physical
        // ones never.
        overlapped += overlapping_writers(&prog, &s_ideal, r);
        assert_eq!(overlapping_writers(&prog, &s_phys, r), 0, "{r:?}");
    }
    assert!(overlapped > 0);
    assert!(s_phys.cycles() > s_ideal.cycles());
}
