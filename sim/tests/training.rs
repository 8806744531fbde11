//! Functional training through compiled programs: every layer type's gradients against finite
//! differences of the program's own forward pass, a few BDWP iterations against a plain-loop
//! reference, the N:M masks of every recipe at every iteration, the INT16 datapath against
//! exact mode, determinism, and dense digits accuracy.

use nmsat_compiler::arch::Arch;
use nmsat_compiler::datapath::quantize;
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::isa::{q16, PruneAlong};
use nmsat_compiler::model::{load_model, parse_model, Model};
use nmsat_compiler::prune::{nm_mask, nm_prune, Nm};
use nmsat_compiler::schedule::compile;
use nmsat_sim::functional::data::{digits, Dataset};
use nmsat_sim::functional::recipe::TrainRecipe;
use nmsat_sim::functional::train::{
    train, weight_forms, weight_tensors, Hooks, IterationView, NoHooks, Rng, TrainConfig,
};
use nmsat_sim::functional::{forward_phase, machine, run, Datapath, Functional};

fn arch() -> Arch {
    Arch::load("sat-vcu1525").unwrap()
}

fn config(model: Model, recipe: TrainRecipe, nm: Nm, epochs: u64) -> TrainConfig {
    TrainConfig {
        arch: arch(),
        model,
        recipe,
        nm,
        datapath: Datapath::F32,
        epochs,
        batch: 32,
        seed: 1,
        lr: 0.05,
        momentum: 0.9,
        srste_lambda: 2e-4,
        dense_layers: vec![],
    }
}

/// The first `n` training and test samples of the digits.
fn small_digits(n: usize) -> Dataset {
    let mut d = digits();
    d.train_x.truncate(n * 64);
    d.train_y.truncate(n);
    d.test_x.truncate(n * 64);
    d.test_y.truncate(n);
    d
}

/// Mean softmax cross-entropy of `logits` (rows of `classes`) against `labels`.
fn mean_ce(logits: &[f32], labels: &[i16], classes: usize) -> f64 {
    let mut s = 0.0;
    for (r, &l) in labels.iter().enumerate() {
        let z: Vec<f64> = logits[r * classes..(r + 1) * classes]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let mx = z.iter().cloned().fold(f64::MIN, f64::max);
        let lse = mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
        s += lse - z[l as usize];
    }
    s / labels.len() as f64
}

/// Checks the weight gradients one dense training program leaves in DRAM (`<layer>.dw`)
/// against central differences of the loss through the same program's FF instructions.
fn gradients_match_finite_differences(yaml: &str, batch: u64) {
    let arch = arch();
    let model = parse_model("t.yaml", yaml).unwrap();
    let prog = compile(&arch, &model, &TrainOptions::dense(batch))
        .unwrap()
        .program;
    let last = model.layers.last().unwrap();
    let classes = last.out.numel() as usize;
    let logits = format!("{}.y", last.name);
    let mut rng = Rng::new(7);
    let input: Vec<f32> = (0..batch * model.input.numel())
        .map(|_| rng.uniform() as f32)
        .collect();
    let labels: Vec<i16> = (0..batch)
        .map(|_| (rng.next_u64() % classes as u64) as i16)
        .collect();
    let weights: Vec<(String, Vec<f32>)> = weight_tensors(&model)
        .into_iter()
        .map(|(w, rows, k)| {
            let b = (3.0 / k as f64).sqrt();
            (
                w,
                (0..rows * k).map(|_| (b * rng.uniform()) as f32).collect(),
            )
        })
        .collect();
    let fresh = |ws: &[(String, Vec<f32>)]| {
        let mut m = machine(Datapath::F32, &arch, &prog);
        m.write_real(&prog, "input", &input).unwrap();
        m.write_int(&prog, "labels", &labels).unwrap();
        for (name, v) in ws {
            m.write_real(&prog, name, v).unwrap();
        }
        m
    };
    let loss = |ws: &[(String, Vec<f32>)]| {
        let mut m = fresh(ws);
        run(m.as_mut(), &arch, &prog, forward_phase).unwrap();
        mean_ce(&m.read_real(&prog, &logits).unwrap(), &labels, classes)
    };
    let mut m = fresh(&weights);
    run(m.as_mut(), &arch, &prog, |_| true).unwrap();
    // Large enough for f32 losses, small enough that (with these few pooling windows) no max
    // changes its winner.
    let h = 4e-3;
    let mut errors = Vec::new();
    for (li, (name, w)) in weights.iter().enumerate() {
        let dw = m.read_real(&prog, &name.replace(".w", ".dw")).unwrap();
        let mut checked = 0;
        for _ in 0..12 {
            let i = (rng.next_u64() % w.len() as u64) as usize;
            let at = |d: f32| {
                let mut ws = weights.clone();
                ws[li].1[i] += d;
                loss(&ws)
            };
            let fd = (at(h as f32) - at(-h as f32)) / (2.0 * h);
            let g = dw[i] as f64;
            if (fd - g).abs() > 2e-3 + 0.05 * g.abs() {
                errors.push(format!(
                    "{name}[{i}]: program gradient {g}, finite difference {fd}"
                ));
            }
            checked += (g.abs() > 1e-4) as usize;
        }
        assert!(checked >= 3, "{name}: too few non-zero gradients checked");
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn linear_relu_gradients() {
    gradients_match_finite_differences(
        "name: t\ninput: {tokens: 1, dim: 12}\nlayers:
  - {name: fc1, op: linear, out_features: 16}
  - {name: r, op: relu}
  - {name: fc2, op: linear, out_features: 5}\n",
        6,
    );
}

#[test]
fn conv_pool_gradients() {
    // Stride 1 and 2, padding, a grouped 1×1 conv, overlapping padded max pooling and a
    // global average pool: every stride phase of the transposed convolutions.
    gradients_match_finite_differences(
        "name: t\ninput: {channels: 2, height: 6, width: 6}\nlayers:
  - {name: c1, op: conv2d, out_channels: 4, kernel: 3, padding: 1, bias: false}
  - {name: p1, op: maxpool, kernel: 3, stride: 2, padding: 1}
  - {name: c2, op: conv2d, out_channels: 8, kernel: 3, stride: 2, padding: 1, bias: false}
  - {name: c3, op: conv2d, out_channels: 8, kernel: 1, groups: 2, bias: false}
  - {name: gap, op: global_avgpool}
  - {name: fc, op: linear, out_features: 4, bias: false}\n",
        2,
    );
}

#[test]
fn batchnorm_avgpool_gradients() {
    gradients_match_finite_differences(
        "name: t\ninput: {channels: 3, height: 4, width: 4}\nlayers:
  - {name: c1, op: conv2d, out_channels: 8, kernel: 3, padding: 1, bias: false}
  - {name: bn, op: batchnorm}
  - {name: r, op: relu}
  - {name: ap, op: avgpool, kernel: 2, stride: 2}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out_features: 4, bias: false}\n",
        4,
    );
}

#[test]
fn token_block_gradients() {
    // Layer norm, GELU, softmax and a residual add. (The class token is left out: a reshape
    // moves no data, so its gradient is not the FF's; see `sim/src/exact`.)
    gradients_match_finite_differences(
        "name: t\ninput: {tokens: 3, dim: 8}\nlayers:
  - {name: a, op: linear, out_features: 8}
  - {name: ln, op: layernorm}
  - {name: g, op: gelu}
  - {name: b, op: linear, out_features: 8}
  - {name: sm, op: softmax}
  - {name: res, op: add, inputs: [sm, a]}
  - {name: fc, op: linear, out_features: 4}\n",
        3,
    );
}

/// The plain-loop BDWP iteration of the tiny MLP (64 → 32 → ReLU → 10) in f32: FF through
/// the FF masks, the loss gradient, BP of fc2 through the BP mask of `W2ᵀ`, the dense weight
/// gradients, and SGD with momentum and the SR-STE term on the FF-dropped weights.
struct MlpReference {
    w: [Vec<f32>; 2],
    v: [Vec<f32>; 2],
}

impl MlpReference {
    const DIMS: [(usize, usize); 2] = [(32, 64), (10, 32)];

    /// One iteration; `srste` runs BP through the FF-masked `W2` instead of BDWP's BP mask.
    fn step(&mut self, x: &[f32], labels: &[i16], nm: Nm, o: &TrainOptions, srste: bool) {
        let b = labels.len();
        let prune = |w: &[f32], cols: usize| -> Vec<f32> {
            w.chunks(cols).flat_map(|r| nm_prune(r, nm)).collect()
        };
        let (w1f, w2f) = (prune(&self.w[0], 64), prune(&self.w[1], 32));
        let bp_src = if srste { &w2f } else { &self.w[1] };
        let mut w2t = vec![0f32; 32 * 10];
        for o_ in 0..10 {
            for j in 0..32 {
                w2t[j * 10 + o_] = bp_src[o_ * 32 + j];
            }
        }
        let w2b = if srste { w2t } else { prune(&w2t, 10) };
        let mut dw1 = vec![0f32; 32 * 64];
        let mut dw2 = vec![0f32; 10 * 32];
        for s in 0..b {
            let xs = &x[s * 64..(s + 1) * 64];
            let h: Vec<f32> = (0..32)
                .map(|j| (0..64).map(|i| w1f[j * 64 + i] * xs[i]).sum())
                .collect();
            let a: Vec<f32> = h.iter().map(|&v| v.max(0.0)).collect();
            let z: Vec<f32> = (0..10)
                .map(|c| (0..32).map(|j| w2f[c * 32 + j] * a[j]).sum())
                .collect();
            let mx = z.iter().cloned().fold(f32::MIN, f32::max);
            let e: Vec<f32> = z.iter().map(|v| (v - mx).exp()).collect();
            let sum: f32 = e.iter().sum();
            let g: Vec<f32> = (0..10)
                .map(|c| (e[c] / sum - (labels[s] as usize == c) as u8 as f32) / b as f32)
                .collect();
            for j in 0..32 {
                let da: f32 = (0..10).map(|c| w2b[j * 10 + c] * g[c]).sum();
                let dh = if h[j] > 0.0 { da } else { 0.0 };
                for i in 0..64 {
                    dw1[j * 64 + i] += dh * xs[i];
                }
                for c in 0..10 {
                    dw2[c * 32 + j] += g[c] * a[j];
                }
            }
        }
        let (lr, mu, lambda) = (
            q16(o.lr) as f32 / 65536.0,
            q16(o.momentum) as f32 / 65536.0,
            q16(o.srste_lambda) as f32 / 65536.0,
        );
        for (l, dw) in [dw1, dw2].into_iter().enumerate() {
            let cols = MlpReference::DIMS[l].1;
            let keep: Vec<bool> = self.w[l]
                .chunks(cols)
                .flat_map(|r| nm_mask(r, nm))
                .collect();
            for i in 0..dw.len() {
                let decay = if keep[i] { 0.0 } else { lambda * self.w[l][i] };
                self.v[l][i] = mu * self.v[l][i] + dw[i] + decay;
                self.w[l][i] -= lr * self.v[l][i];
            }
        }
    }
}

/// Records each iteration's batch and the weights before the first and after the last.
#[derive(Default)]
struct Recorder {
    batches: Vec<(Vec<f32>, Vec<i16>)>,
    first: Vec<Vec<f32>>,
    last: Vec<Vec<f32>>,
}

impl Hooks for Recorder {
    fn before(&mut self, v: &IterationView) -> Result<(), String> {
        let p = &v.compiled.program;
        self.batches.push((
            v.machine.read_real(p, "input")?,
            v.machine
                .read_real(p, "labels")?
                .iter()
                .map(|&l| l as i16)
                .collect(),
        ));
        if v.iteration == 0 {
            self.first = vec![
                v.machine.read_real(p, "fc1.w")?,
                v.machine.read_real(p, "fc2.w")?,
            ];
        }
        Ok(())
    }
    fn after(&mut self, v: &IterationView) -> Result<(), String> {
        let p = &v.compiled.program;
        self.last = vec![
            v.machine.read_real(p, "fc1.w")?,
            v.machine.read_real(p, "fc2.w")?,
        ];
        Ok(())
    }
}

#[test]
fn bdwp_and_srste_iterations_equal_the_plain_reference() {
    for recipe in [TrainRecipe::Bdwp, TrainRecipe::SrSte] {
        iterations_equal_the_plain_reference(recipe);
    }
}

fn iterations_equal_the_plain_reference(recipe: TrainRecipe) {
    let nm = Nm { n: 2, m: 8 };
    let mut cfg = config(load_model("tiny-mlp").unwrap(), recipe, nm, 1);
    // A large λ, so that a missing SR-STE term would show.
    cfg.srste_lambda = 0.05;
    let mut rec = Recorder::default();
    train(&cfg, &small_digits(96), &mut rec).unwrap();
    assert_eq!(rec.batches.len(), 3);
    let mut r = MlpReference {
        w: [rec.first[0].clone(), rec.first[1].clone()],
        v: [vec![0.0; 32 * 64], vec![0.0; 10 * 32]],
    };
    let opts = TrainOptions {
        lr: cfg.lr,
        momentum: cfg.momentum,
        srste_lambda: cfg.srste_lambda,
        ..TrainOptions::bdwp(32, nm)
    };
    for (x, y) in &rec.batches {
        r.step(x, y, nm, &opts, recipe == TrainRecipe::SrSte);
    }
    for l in 0..2 {
        let moved = r.w[l]
            .iter()
            .zip(&rec.first[l])
            .filter(|(a, b)| a != b)
            .count();
        assert!(
            moved > r.w[l].len() / 2,
            "layer {l}: only {moved} weights moved"
        );
        for (i, (a, b)) in r.w[l].iter().zip(&rec.last[l]).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 + 1e-4 * a.abs(),
                "{recipe:?} layer {l} weight {i}: reference {a}, program {b}"
            );
        }
    }
}

/// Checks every weight form of every iteration against the dense weights the iteration
/// started from: at most N non-zeros per M-group; the FF form (and a linear layer's BP form,
/// from `Wᵀ`) exactly the N:M pruning of them; MDGF's decayed weights exactly the kept
/// weights plus the dropped ones times the decay. Records the stage sequence.
#[derive(Default)]
struct MaskChecker {
    dense: Vec<(String, Vec<f32>, u64, u64)>,
    stages: Vec<String>,
    forms_checked: usize,
}

impl Hooks for MaskChecker {
    fn before(&mut self, v: &IterationView) -> Result<(), String> {
        let p = &v.compiled.program;
        self.dense = weight_tensors(v.model)
            .into_iter()
            .map(|(w, rows, k)| Ok((w.clone(), v.machine.read_real(p, &w)?, rows, k)))
            .collect::<Result<_, String>>()?;
        Ok(())
    }

    fn after(&mut self, v: &IterationView) -> Result<(), String> {
        let p = &v.compiled.program;
        let label = v.stage.label();
        if self.stages.last() != Some(&label) {
            self.stages.push(label);
        }
        let forms = weight_forms(v.compiled);
        assert_eq!(
            forms.is_empty(),
            v.stage.pattern().is_none(),
            "iteration {}",
            v.iteration
        );
        for f in &forms {
            assert_eq!(Some(f.nm), v.stage.pattern());
            let got = v.machine.read_compressed(p, &f.tensor, f.rows, f.k, f.nm)?;
            for (r, row) in got.chunks(f.k as usize).enumerate() {
                for g in row.chunks(f.nm.m as usize) {
                    let nz = g.iter().filter(|&&x| x != 0.0).count() as u64;
                    assert!(
                        nz <= f.nm.n,
                        "{} row {r}: {nz} non-zeros in {g:?}",
                        f.tensor
                    );
                }
            }
            let layer = f.tensor.split('.').next().unwrap();
            let (_, w, rows, k) = self
                .dense
                .iter()
                .find(|d| d.0 == format!("{layer}.w"))
                .unwrap();
            let (rows, k) = (*rows as usize, *k as usize);
            let view: Option<Vec<f32>> = match f.along {
                PruneAlong::Input => Some(w.clone()),
                // A linear layer's BP form prunes Wᵀ; a conv's its per-phase view.
                PruneAlong::Output if f.rows as usize == k && f.k as usize == rows => Some(
                    (0..k * rows)
                        .map(|i| w[(i % rows) * k + i / rows])
                        .collect(),
                ),
                PruneAlong::Output => None,
            };
            if let Some(view) = view {
                let want: Vec<f32> = view
                    .chunks(f.k as usize)
                    .flat_map(|r| nm_prune(r, f.nm))
                    .collect();
                assert_eq!(got, want, "{} at iteration {}", f.tensor, v.iteration);
            }
            self.forms_checked += 1;
        }
        // SR-STE's BP weights: the FF-masked dense weights.
        for (w, dense, _, k) in &self.dense {
            let Ok(got) = v.machine.read_real(p, &w.replace(".w", ".w_masked")) else {
                continue;
            };
            let nm = v.stage.pattern().expect("SR-STE masks with its pattern");
            let want: Vec<f32> = dense
                .chunks(*k as usize)
                .flat_map(|r| nm_prune(r, nm))
                .collect();
            assert_eq!(got, want, "{w} masked at iteration {}", v.iteration);
            self.forms_checked += 1;
        }
        if let Some(d) = v.stage.decay {
            for (w, dense, _, k) in &self.dense {
                let dec = w.replace(".w", ".w_dec");
                let Ok(got) = v.machine.read_real(p, &dec) else {
                    continue;
                };
                let want: Vec<f32> = dense
                    .chunks(*k as usize)
                    .flat_map(|r| {
                        let keep = nm_mask(r, v.stage.opts.nm);
                        r.iter()
                            .zip(keep)
                            .map(|(&x, k)| if k { x } else { x * d as f32 })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                assert_eq!(got, want, "{dec} at iteration {}", v.iteration);
                self.forms_checked += 1;
            }
        }
        Ok(())
    }
}

#[test]
fn every_recipe_keeps_its_masks_every_iteration() {
    let nm = Nm { n: 2, m: 8 };
    // Two iterations an epoch; the CNN on small batches, to stay fast unoptimized.
    for (model, batch) in [("tiny-mlp", 32), ("../configs/models/digits-cnn.yaml", 4)] {
        let data = small_digits(2 * batch);
        for recipe in TrainRecipe::ALL {
            let mut c = MaskChecker::default();
            let mut cfg = config(load_model(model).unwrap(), recipe, nm, 6);
            cfg.batch = batch as u64;
            let r = train(&cfg, &data, &mut c).unwrap();
            let stages = c.stages.join(" → ");
            let expect = match recipe {
                TrainRecipe::Dense => "dense",
                TrainRecipe::Bdwp | TrainRecipe::SrSte => "2:8",
                TrainRecipe::Sdgf => "dense → 7:8 → 4:8 → 2:8",
                // 12 iterations: the decay runs over the first 8.
                TrainRecipe::MdgfLinear => "decay 1.000 → decay 0.875 → decay 0.750 → decay 0.625 → decay 0.500 → decay 0.375 → decay 0.250 → decay 0.125 → 2:8",
                TrainRecipe::MdgfExp => "decay 1.000 → decay 0.500 → decay 0.250 → decay 0.125 → decay 0.062 → decay 0.031 → decay 0.016 → decay 0.008 → 2:8",
            };
            assert_eq!(stages, expect, "{model} {recipe:?}");
            assert!(
                recipe == TrainRecipe::Dense || c.forms_checked >= 12,
                "{recipe:?}: {}",
                c.forms_checked
            );
            assert!(r.epochs.iter().all(|e| e.loss.is_finite()));
        }
    }
}

#[test]
fn int16_datapath_is_exact_mode() {
    let arch = arch();
    let model = load_model("tiny-mlp").unwrap();
    let prog = compile(
        &arch,
        &model,
        &TrainOptions {
            lr: 0.5,
            ..TrainOptions::bdwp(8, Nm { n: 2, m: 8 })
        },
    )
    .unwrap()
    .program;
    let mut rng = Rng::new(3);
    let mut vals =
        |n: u64, s: f64| -> Vec<f32> { (0..n).map(|_| (s * rng.uniform()) as f32).collect() };
    let inputs = [
        ("input", vals(8 * 64, 1.0)),
        ("fc1.w", vals(32 * 64, 0.3)),
        ("fc2.w", vals(10 * 32, 0.3)),
    ];
    let labels: Vec<i16> = (0..8).map(|i| (i * 3 % 10) as i16).collect();
    let mut f = nmsat_sim::functional::int16::Int16Machine::new(&arch, &prog);
    let mut e = nmsat_sim::exact::Memory::new(&arch, &prog);
    for (name, v) in &inputs {
        f.write_real(&prog, name, v).unwrap();
        let q: Vec<i16> = v
            .iter()
            .map(|&x| quantize(x as f64, arch.frac_bits))
            .collect();
        e.write_i16(&prog, name, &q).unwrap();
    }
    f.write_int(&prog, "labels", &labels).unwrap();
    e.write_i16(&prog, "labels", &labels).unwrap();
    run(&mut f, &arch, &prog, |_| true).unwrap();
    nmsat_sim::simulate_exact_on(&arch, &prog, &mut e).unwrap();
    assert_eq!(f.mem.dram, e.dram);
    let before: Vec<i16> = inputs[1]
        .1
        .iter()
        .map(|&x| quantize(x as f64, arch.frac_bits))
        .collect();
    assert_ne!(
        f.mem.read_i16(&prog, "fc1.w").unwrap(),
        before,
        "the update moved no weight"
    );
}

#[test]
fn runs_are_deterministic_per_seed() {
    let data = small_digits(128);
    let run = |seed| {
        let mut cfg = config(
            load_model("tiny-mlp").unwrap(),
            TrainRecipe::SrSte,
            Nm { n: 1, m: 4 },
            2,
        );
        cfg.seed = seed;
        serde_json::to_string(&train(&cfg, &data, &mut NoHooks).unwrap()).unwrap()
    };
    assert_eq!(run(4), run(4));
    assert_ne!(run(4), run(5));
}

#[test]
fn dense_mlp_learns_the_digits() {
    let r = train(
        &config(
            load_model("tiny-mlp").unwrap(),
            TrainRecipe::Dense,
            Nm { n: 2, m: 8 },
            10,
        ),
        &digits(),
        &mut NoHooks,
    )
    .unwrap();
    assert!(r.final_test_accuracy >= 0.95, "{:?}", r.epochs);
    assert!(r.epochs[0].loss > 2.0 * r.epochs[9].loss);
}
