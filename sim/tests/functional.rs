//! One BDWP training iteration of the tiny MLP in exact mode equals an independent integer
//! reference written with plain loops: FF, loss gradient, BP, WU, the SGD step, and the packed
//! N:M forms the prune unit generated.

use nmsat_compiler::arch::Arch;
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::model::load_model;
use nmsat_compiler::prune::{pack_row, Nm};
use nmsat_compiler::schedule::compile;

mod reference;
use reference::*;

#[test]
fn tiny_mlp_iteration_equals_the_integer_reference() {
    let arch = Arch::load("sat-small").unwrap();
    let f = arch.frac_bits;
    let model = load_model("tiny-mlp").unwrap();
    let nm = Nm { n: 2, m: 8 };
    let batch = 8;
    // A large learning rate, so that the Q.8 update visibly moves the weights.
    let opts = TrainOptions {
        lr: 0.5,
        ..TrainOptions::bdwp(batch as u64, nm)
    };
    let prog = compile(&arch, &model, &opts).unwrap().program;
    nmsat_compiler::check::check(&arch, &prog).unwrap();

    let (i_, h, o_) = (64, 32, 10);
    let x = values(1, batch * i_, 256);
    let labels: Vec<i16> = (0..batch).map(|b| (b * 7 % o_) as i16).collect();
    let w1 = values(2, h * i_, 64);
    let w2 = values(3, o_ * h, 64);
    let v1 = values(4, h * i_, 8);
    let v2 = values(5, o_ * h, 8);
    let mem = run_exact(
        &arch,
        &prog,
        &[
            ("input", &x[..]),
            ("labels", &labels[..]),
            ("fc1.w", &w1[..]),
            ("fc2.w", &w2[..]),
            ("fc1.v", &v1[..]),
            ("fc2.v", &v2[..]),
        ],
    );
    let read = |name: &str| mem.read_i16(&prog, name).unwrap();

    // Forward: activations are pixel-major [batch × features].
    let w1f = prune_rows(&w1, i_, Some(nm));
    let y1 = transpose(
        &matmul(&w1f, &transpose(&x, batch, i_), h, i_, batch, f),
        h,
        batch,
    );
    assert_eq!(read("fc1.y"), y1, "fc1 forward");
    let a1: Vec<i16> = y1.iter().map(|&v| v.max(0)).collect();
    assert_eq!(read("relu1.y"), a1, "relu forward");
    let w2f = prune_rows(&w2, h, Some(nm));
    let y2 = transpose(
        &matmul(&w2f, &transpose(&a1, batch, h), o_, h, batch, f),
        o_,
        batch,
    );
    assert_eq!(read("fc2.y"), y2, "fc2 forward");

    // Loss gradient.
    let g = loss_grad(&y2, &labels, o_, f);
    assert_eq!(read("loss.dy"), g, "loss gradient");

    // The packed N:M forms: FF along the input dimension, BP along the output dimension.
    let packed = |w: &[i16], width: usize| {
        w.chunks(width)
            .flat_map(|r| pack_row(r, nm))
            .collect::<Vec<u8>>()
    };
    let bytes = |name: &str| {
        let t = prog.tensors.iter().find(|t| t.name == name).unwrap();
        mem.dram[t.addr as usize..(t.addr + t.bytes) as usize].to_vec()
    };
    assert_eq!(bytes("fc1.w_ff"), packed(&w1, i_), "fc1 FF form");
    assert_eq!(bytes("fc2.w_ff"), packed(&w2, h), "fc2 FF form");
    let w2t = transpose(&w2, o_, h);
    assert_eq!(bytes("fc2.w_bp"), packed(&w2t, o_), "fc2 BP form");

    // Backward: dX of fc2 through the BP form, then the ReLU gradient.
    let w2b = prune_rows(&w2t, o_, Some(nm));
    let dx2 = transpose(
        &matmul(&w2b, &transpose(&g, batch, o_), h, o_, batch, f),
        h,
        batch,
    );
    assert_eq!(read("fc2.dx"), dx2, "fc2 BP");
    let da1: Vec<i16> = dx2
        .iter()
        .zip(&y1)
        .map(|(&d, &y)| if y > 0 { d } else { 0 })
        .collect();
    assert_eq!(read("relu1.dx"), da1, "relu BP");

    // Weight gradients (dense) and the update.
    let dw2 = matmul(&transpose(&g, batch, o_), &a1, o_, batch, h, f);
    let dw1 = matmul(&transpose(&da1, batch, h), &x, h, batch, i_, f);
    assert_eq!(read("fc2.dw"), dw2, "fc2 WU");
    assert_eq!(read("fc1.dw"), dw1, "fc1 WU");
    let (w1n, v1n) = sgd(&w1, &dw1, &v1, i_, true, nm, &opts);
    let (w2n, v2n) = sgd(&w2, &dw2, &v2, h, true, nm, &opts);
    assert_eq!(read("fc1.w"), w1n, "fc1 update");
    assert_eq!(read("fc1.v"), v1n, "fc1 momentum");
    assert_eq!(read("fc2.w"), w2n, "fc2 update");
    assert_eq!(read("fc2.v"), v2n, "fc2 momentum");
    // The update moved the weights: the test would notice a skipped step.
    let moved = w1n.iter().zip(&w1).filter(|(a, b)| a != b).count();
    assert!(moved > w1.len() / 10, "only {moved} weights moved");
}
