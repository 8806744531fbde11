//! One BDWP training iteration of a small convolutional network in exact mode equals an
//! independent integer reference written with plain loops over NHWC tensors: every forward
//! output (convolutions with stride 1 and 2 and padding, batch norm, max pooling with
//! overlapping padded windows, global average pooling, the classifier), the loss gradient,
//! every input gradient (the stride phases of a transposed convolution, the positions no phase
//! reaches, the batch-norm and pooling gradients), every weight gradient, the SGD step, and the
//! packed N:M forms. One convolution is grouped.

use nmsat_compiler::arch::Arch;
use nmsat_compiler::datapath::{requant, round_shift, saturate};
use nmsat_compiler::graph::TrainOptions;
use nmsat_compiler::model::parse_model;
use nmsat_compiler::prune::{nm_prune, pack_row, Nm};
use nmsat_compiler::schedule::compile;

mod reference;
use reference::*;

const MODEL: &str = "
name: tiny-conv
input: {channels: 4, height: 10, width: 10}
layers:
  - {name: conv1, op: conv2d, out_channels: 8, kernel: 3, padding: 1, bias: false}
  - {name: bn1, op: batchnorm}
  - {name: relu1, op: relu}
  - {name: pool1, op: maxpool, kernel: 3, stride: 2, padding: 1}
  - {name: conv2, op: conv2d, out_channels: 16, kernel: 3, stride: 2, padding: 1, bias: false}
  - {name: bn2, op: batchnorm}
  - {name: relu2, op: relu}
  - {name: conv3, op: conv2d, out_channels: 16, kernel: 1, stride: 2, groups: 2, bias: false}
  - {name: gap, op: global_avgpool}
  - {name: fc, op: linear, out_features: 10, bias: false}
";

/// An NHWC feature map.
#[derive(Clone, Debug, PartialEq)]
struct Map {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    v: Vec<i16>,
}

impl Map {
    fn new(n: usize, h: usize, w: usize, c: usize) -> Map {
        Map {
            n,
            h,
            w,
            c,
            v: vec![0; n * h * w * c],
        }
    }
    fn at(&self, n: usize, h: usize, w: usize, c: usize) -> usize {
        ((n * self.h + h) * self.w + w) * self.c + c
    }
    /// The value at a signed position, `None` outside the image.
    fn get(&self, n: usize, h: i64, w: i64, c: usize) -> Option<i16> {
        let inside = (0..self.h as i64).contains(&h) && (0..self.w as i64).contains(&w);
        inside.then(|| self.v[self.at(n, h as usize, w as usize, c)])
    }
}

/// Conv weights `[co][ci/g][kh][kw]` of `g` groups: `ci` is the input channels of a group.
#[derive(Clone)]
struct Weights {
    co: usize,
    ci: usize,
    k: usize,
    g: usize,
    v: Vec<i16>,
}

impl Weights {
    fn at(&self, co: usize, ci: usize, dy: usize, dx: usize) -> usize {
        ((co * self.ci + ci) * self.k + dy) * self.k + dx
    }
    /// The group of output channel `co`, and the output channels of one group.
    fn group(&self, co: usize) -> usize {
        co / (self.co / self.g)
    }
    fn co_of(&self, group: usize) -> std::ops::Range<usize> {
        let n = self.co / self.g;
        group * n..(group + 1) * n
    }
}

/// Output size of a window.
fn out_size(n: usize, k: usize, s: usize, p: usize) -> usize {
    (n + 2 * p - k) / s + 1
}

/// `y[n][oh][ow][co] = requant(Σ w[co][ci][dy][dx] · x[n][oh·s+dy−p][ow·s+dx−p][ci])`.
fn conv_ff(x: &Map, w: &Weights, s: usize, p: usize, f: u32) -> Map {
    let (oh, ow) = (out_size(x.h, w.k, s, p), out_size(x.w, w.k, s, p));
    let mut y = Map::new(x.n, oh, ow, w.co);
    for n in 0..x.n {
        for i in 0..oh {
            for j in 0..ow {
                for co in 0..w.co {
                    let mut acc: i32 = 0;
                    for ci in 0..w.ci {
                        let xc = w.group(co) * w.ci + ci;
                        for dy in 0..w.k {
                            for dx in 0..w.k {
                                let h = (i * s + dy) as i64 - p as i64;
                                let ww = (j * s + dx) as i64 - p as i64;
                                if let Some(xv) = x.get(n, h, ww, xc) {
                                    let wv = w.v[w.at(co, ci, dy, dx)];
                                    acc = acc.wrapping_add(wv as i32 * xv as i32);
                                }
                            }
                        }
                    }
                    let at = y.at(n, i, j, co);
                    y.v[at] = requant(acc, f);
                }
            }
        }
    }
    y
}

/// `dx[n][ih][iw][ci] = requant(Σ wb[co][ci][dy][dx] · dy[n][oh][ow][co])` over the output
/// positions whose window holds (ih, iw) at (dy, dx).
fn conv_bp(dy: &Map, wb: &Weights, (h, w): (usize, usize), s: usize, p: usize, f: u32) -> Map {
    let mut dx = Map::new(dy.n, h, w, wb.ci * wb.g);
    for n in 0..dy.n {
        for ih in 0..h {
            for iw in 0..w {
                for xc in 0..wb.ci * wb.g {
                    let ci = xc % wb.ci;
                    let mut acc: i32 = 0;
                    for ky in 0..wb.k {
                        for kx in 0..wb.k {
                            let (a, b) = (ih + p, iw + p);
                            if a < ky || b < kx || (a - ky) % s != 0 || (b - kx) % s != 0 {
                                continue;
                            }
                            let (oh, ow) = ((a - ky) / s, (b - kx) / s);
                            for co in wb.co_of(xc / wb.ci) {
                                if let Some(g) = dy.get(n, oh as i64, ow as i64, co) {
                                    let wv = wb.v[wb.at(co, ci, ky, kx)];
                                    acc = acc.wrapping_add(wv as i32 * g as i32);
                                }
                            }
                        }
                    }
                    let at = dx.at(n, ih, iw, xc);
                    dx.v[at] = requant(acc, f);
                }
            }
        }
    }
    dx
}

/// `dw[co][ci][dy][dx] = requant(Σ_{n,oh,ow} dy[n][oh][ow][co] · x[n][oh·s+dy−p][ow·s+dx−p][ci])`.
fn conv_wu(dy: &Map, x: &Map, (k, g): (usize, usize), s: usize, p: usize, f: u32) -> Vec<i16> {
    let mut w = Weights {
        co: dy.c,
        ci: x.c / g,
        k,
        g,
        v: vec![0; dy.c * x.c / g * k * k],
    };
    for co in 0..dy.c {
        for ci in 0..w.ci {
            let xc = w.group(co) * w.ci + ci;
            for ky in 0..k {
                for kx in 0..k {
                    let mut acc: i32 = 0;
                    for n in 0..dy.n {
                        for i in 0..dy.h {
                            for j in 0..dy.w {
                                let h = (i * s + ky) as i64 - p as i64;
                                let ww = (j * s + kx) as i64 - p as i64;
                                if let Some(xv) = x.get(n, h, ww, xc) {
                                    let g = dy.v[dy.at(n, i, j, co)];
                                    acc = acc.wrapping_add(g as i32 * xv as i32);
                                }
                            }
                        }
                    }
                    let at = w.at(co, ci, ky, kx);
                    w.v[at] = requant(acc, f);
                }
            }
        }
    }
    w.v
}

/// The FF form: N:M along each output channel's flattened (ci, dy, dx) row.
fn prune_ff(w: &Weights, nm: Option<Nm>) -> Weights {
    let row = w.ci * w.k * w.k;
    let v = match nm {
        Some(nm) => w.v.chunks(row).flat_map(|r| nm_prune(r, nm)).collect(),
        None => w.v.clone(),
    };
    Weights { v, ..w.clone() }
}

/// The BP form: N:M over every M consecutive output channels of one (ci, dy, dx).
fn prune_bp(w: &Weights, nm: Option<Nm>) -> Weights {
    let Some(nm) = nm else { return w.clone() };
    assert_eq!(w.co % nm.m as usize, 0, "groups of whole output channels");
    let mut out = w.clone();
    for ci in 0..w.ci {
        for ky in 0..w.k {
            for kx in 0..w.k {
                for g in (0..w.co).step_by(nm.m as usize) {
                    let idx: Vec<usize> = (g..g + nm.m as usize)
                        .map(|co| w.at(co, ci, ky, kx))
                        .collect();
                    let vals: Vec<i16> = idx.iter().map(|&i| w.v[i]).collect();
                    for (&i, v) in idx.iter().zip(nm_prune(&vals, nm)) {
                        out.v[i] = v;
                    }
                }
            }
        }
    }
    out
}

/// The packed BP form of one stride phase (a, b): rows ci; the reduction in blocks of M output
/// channels, the phase's taps flipped inside a block (the layout the ISA documents).
fn packed_bp_phase(w: &Weights, s: usize, (a, b): (usize, usize), nm: Nm) -> Vec<u8> {
    let taps = |a: usize| (a..w.k).step_by(s).count();
    let (ka, kb) = (taps(a), taps(b));
    let m = nm.m as usize;
    let mut out = vec![];
    for xc in 0..w.ci * w.g {
        let ci = xc % w.ci;
        let mut row = vec![];
        for blk in w.co_of(xc / w.ci).step_by(m) {
            for u in 0..ka {
                for v in 0..kb {
                    let (ky, kx) = (a + s * (ka - 1 - u), b + s * (kb - 1 - v));
                    for co in blk..blk + m {
                        row.push(w.v[w.at(co, ci, ky, kx)]);
                    }
                }
            }
        }
        out.extend(pack_row(&row, nm));
    }
    out
}

/// Max pooling: the maximum over the window's positions inside the image (padding never
/// wins), and its index `dy·k + dx`, the first on ties.
fn maxpool(x: &Map, k: usize, s: usize, p: usize) -> (Map, Vec<i16>) {
    let (oh, ow) = (out_size(x.h, k, s, p), out_size(x.w, k, s, p));
    let mut y = Map::new(x.n, oh, ow, x.c);
    let mut arg = vec![0; y.v.len()];
    for n in 0..x.n {
        for i in 0..oh {
            for j in 0..ow {
                for c in 0..x.c {
                    let mut best: Option<(i16, usize)> = None;
                    for dy in 0..k {
                        for dx in 0..k {
                            let h = (i * s + dy) as i64 - p as i64;
                            let w = (j * s + dx) as i64 - p as i64;
                            if let Some(v) = x.get(n, h, w, c) {
                                if best.is_none_or(|(b, _)| v > b) {
                                    best = Some((v, dy * k + dx));
                                }
                            }
                        }
                    }
                    let (v, a) = best.expect("every window holds an image position");
                    let at = y.at(n, i, j, c);
                    y.v[at] = v;
                    arg[at] = a as i16;
                }
            }
        }
    }
    (y, arg)
}

/// The max-pooling gradient: each input position sums the dY of the windows it won.
fn maxpool_bp(dy: &Map, arg: &[i16], (h, w): (usize, usize), k: usize, s: usize, p: usize) -> Map {
    let mut dx = Map::new(dy.n, h, w, dy.c);
    let mut sum = vec![0i64; dx.v.len()];
    for n in 0..dy.n {
        for i in 0..dy.h {
            for j in 0..dy.w {
                for c in 0..dy.c {
                    let a = arg[dy.at(n, i, j, c)] as usize;
                    let (ih, iw) = (i * s + a / k - p, j * s + a % k - p);
                    sum[dx.at(n, ih, iw, c)] += dy.v[dy.at(n, i, j, c)] as i64;
                }
            }
        }
    }
    dx.v = sum.into_iter().map(saturate).collect();
    dx
}

/// The global average over an h×w map, through the Q16.16 reciprocal ⌊2^16/(h·w)⌉.
fn global_avg(x: &Map) -> Map {
    let r = ((1 << 16) + x.h * x.w / 2) as i64 / (x.h * x.w) as i64;
    let mut y = Map::new(x.n, 1, 1, x.c);
    for n in 0..x.n {
        for c in 0..x.c {
            let mut s = 0i64;
            for i in 0..x.h {
                for j in 0..x.w {
                    s += x.v[x.at(n, i, j, c)] as i64;
                }
            }
            let at = y.at(n, 0, 0, c);
            y.v[at] = saturate(round_shift(s * r, 16));
        }
    }
    y
}

fn global_avg_bp(dy: &Map, (h, w): (usize, usize)) -> Map {
    let r = ((1 << 16) + h * w / 2) as i64 / (h * w) as i64;
    let mut dx = Map::new(dy.n, h, w, dy.c);
    for n in 0..dy.n {
        for i in 0..h {
            for j in 0..w {
                for c in 0..dy.c {
                    let at = dx.at(n, i, j, c);
                    dx.v[at] = saturate(round_shift(dy.v[dy.at(n, 0, 0, c)] as i64 * r, 16));
                }
            }
        }
    }
    dx
}

/// Per channel over every (n, h, w): the mean (Q.f) and `⌊√(var + 1)⌋` (Q.f) of the batch.
fn channel_moments(x: &Map) -> Vec<(i64, i64)> {
    let rows = (x.n * x.h * x.w) as i64;
    (0..x.c)
        .map(|c| {
            let vals = x.v.iter().skip(c).step_by(x.c).map(|&v| v as i64);
            let (s, q) = vals.fold((0, 0), |(s, q), v| (s + v, q + v * v));
            let mu = div_round(s, rows);
            let var = (div_round(q, rows) - mu * mu).max(0) + 1;
            (mu, (var as f64).sqrt().floor() as i64)
        })
        .collect()
}

/// Batch norm without scale and shift: `y = ⌊(x − μ)·2^f / σ⌉` per channel.
fn batch_norm(x: &Map, f: u32) -> Map {
    let m = channel_moments(x);
    let v =
        x.v.iter()
            .enumerate()
            .map(|(i, &v)| {
                let (mu, sigma) = m[i % x.c];
                saturate(div_round((v as i64 - mu) << f, sigma))
            })
            .collect();
    Map { v, ..x.clone() }
}

/// `dx = ((dy − mean dy)·2^f − y·mean(dy·y) / 2^f) / σ` per channel, σ of the forward input.
fn batch_norm_bp(dy: &Map, y: &Map, x: &Map, f: u32) -> Map {
    let m = channel_moments(x);
    let rows = (x.n * x.h * x.w) as i64;
    let mut sdy = vec![0i64; x.c];
    let mut sdyy = vec![0i64; x.c];
    for (i, (&d, &y)) in dy.v.iter().zip(&y.v).enumerate() {
        sdy[i % x.c] += d as i64;
        sdyy[i % x.c] += d as i64 * y as i64;
    }
    let v =
        dy.v.iter()
            .zip(&y.v)
            .enumerate()
            .map(|(i, (&d, &yv))| {
                let c = i % x.c;
                let t = ((d as i64 - div_round(sdy[c], rows)) << f)
                    - round_shift(yv as i64 * div_round(sdyy[c], rows), f);
                saturate(div_round(t, m[c].1))
            })
            .collect();
    Map { v, ..dy.clone() }
}

fn relu(x: &Map) -> Map {
    Map {
        v: x.v.iter().map(|&v| v.max(0)).collect(),
        ..x.clone()
    }
}

fn relu_bp(dy: &Map, x: &Map) -> Map {
    Map {
        v: dy
            .v
            .iter()
            .zip(&x.v)
            .map(|(&d, &x)| if x > 0 { d } else { 0 })
            .collect(),
        ..dy.clone()
    }
}

/// sat-small, with its optimization switches (interleave, pre-generation, double buffering).
fn sat_small(opts: [bool; 3]) -> Arch {
    let text = include_str!("../../configs/arch/sat-small.yaml").replace(
        "optimizations: {interleave: true, pregenerate: true, double_buffer: true}",
        &format!(
            "optimizations: {{interleave: {}, pregenerate: {}, double_buffer: {}}}",
            opts[0], opts[1], opts[2]
        ),
    );
    Arch::parse("sat-small.yaml", &text).unwrap()
}

fn check_iteration(arch: &Arch, nm: Nm, batch: usize) {
    let arch = arch.clone();
    let f = arch.frac_bits;
    let model = parse_model("tiny-conv.yaml", MODEL).unwrap();
    let opts = TrainOptions {
        lr: 0.5,
        ..TrainOptions::bdwp(batch as u64, nm)
    };
    let prog = compile(&arch, &model, &opts).unwrap().program;
    nmsat_compiler::check::check(&arch, &prog).unwrap();
    // Which GEMMs are sparse: a pruned dimension needs at least one whole group.
    let sparse = |d: usize| (d >= nm.m as usize).then_some(nm);

    let x = Map {
        v: values(1, batch * 10 * 10 * 4, 256),
        ..Map::new(batch, 10, 10, 4)
    };
    let labels: Vec<i16> = (0..batch).map(|b| (b * 7 % 10) as i16).collect();
    let weights = |seed, co, ci, k, g| Weights {
        co,
        ci,
        k,
        g,
        v: values(seed, co * ci * k * k, 160),
    };
    let w1 = weights(2, 8, 4, 3, 1);
    let w2 = weights(3, 16, 8, 3, 1);
    let w3 = weights(4, 16, 8, 1, 2);
    let wfc = values(5, 10 * 16, 400);
    let momentum = |seed, n| values(seed, n, 8);
    let (v1, v2, v3, vfc) = (
        momentum(6, w1.v.len()),
        momentum(7, w2.v.len()),
        momentum(8, w3.v.len()),
        momentum(9, wfc.len()),
    );
    let mem = run_exact(
        &arch,
        &prog,
        &[
            ("input", &x.v[..]),
            ("labels", &labels[..]),
            ("conv1.w", &w1.v[..]),
            ("conv2.w", &w2.v[..]),
            ("conv3.w", &w3.v[..]),
            ("fc.w", &wfc[..]),
            ("conv1.v", &v1[..]),
            ("conv2.v", &v2[..]),
            ("conv3.v", &v3[..]),
            ("fc.v", &vfc[..]),
        ],
    );
    let read = |name: &str| mem.read_i16(&prog, name).unwrap();
    let bytes = |name: &str| {
        let t = prog.tensors.iter().find(|t| t.name == name).unwrap();
        mem.dram[t.addr as usize..(t.addr + t.bytes) as usize].to_vec()
    };
    let tag = format!("{nm} batch {batch}");

    // Forward.
    let y1 = conv_ff(&x, &prune_ff(&w1, sparse(4)), 1, 1, f);
    assert_eq!(read("conv1.y"), y1.v, "conv1 forward, {tag}");
    let b1 = batch_norm(&y1, f);
    assert_eq!(read("bn1.y"), b1.v, "bn1 forward, {tag}");
    let a1 = relu(&b1);
    assert_eq!(read("relu1.y"), a1.v, "relu1 forward, {tag}");
    let (p1, arg1) = maxpool(&a1, 3, 2, 1);
    assert_eq!(read("pool1.y"), p1.v, "pool1 forward, {tag}");
    assert_eq!(read("pool1.argmax"), arg1, "pool1 argmax, {tag}");
    let y2 = conv_ff(&p1, &prune_ff(&w2, sparse(8)), 2, 1, f);
    assert_eq!(read("conv2.y"), y2.v, "conv2 forward, {tag}");
    let b2 = batch_norm(&y2, f);
    assert_eq!(read("bn2.y"), b2.v, "bn2 forward, {tag}");
    let a2 = relu(&b2);
    assert_eq!(read("relu2.y"), a2.v, "relu2 forward, {tag}");
    let y3 = conv_ff(&a2, &prune_ff(&w3, sparse(8)), 2, 0, f);
    assert_eq!(read("conv3.y"), y3.v, "conv3 forward, {tag}");
    let gp = global_avg(&y3);
    assert_eq!(read("gap.y"), gp.v, "global average pool, {tag}");
    let wfc_ff: Vec<i16> = match sparse(16) {
        Some(nm) => wfc.chunks(16).flat_map(|r| nm_prune(r, nm)).collect(),
        None => wfc.clone(),
    };
    let logits = transpose(
        &matmul(&wfc_ff, &transpose(&gp.v, batch, 16), 10, 16, batch, f),
        10,
        batch,
    );
    assert_eq!(read("fc.y"), logits, "fc forward, {tag}");

    // The packed N:M forms (without pre-generation, each GEMM prunes its tiles as it loads
    // them and no form reaches DRAM).
    let pregenerated = arch.opt.pregenerate;
    assert_eq!(
        prog.tensors.iter().any(|t| t.name.ends_with(".w_ff")),
        pregenerated
    );
    if pregenerated {
        let packed_rows = |w: &[i16], width: usize| {
            w.chunks(width)
                .flat_map(|r| pack_row(r, nm))
                .collect::<Vec<u8>>()
        };
        assert_eq!(bytes("conv2.w_ff"), packed_rows(&w2.v, 72), "conv2 FF form");
        assert_eq!(bytes("conv3.w_ff"), packed_rows(&w3.v, 8), "conv3 FF form");
        assert_eq!(bytes("fc.w_ff"), packed_rows(&wfc, 16), "fc FF form");
        for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let name = format!("conv2.w_bp.{a}{b}");
            assert_eq!(bytes(&name), packed_bp_phase(&w2, 2, (a, b), nm), "{name}");
        }
        assert_eq!(
            bytes("conv3.w_bp.00"),
            packed_bp_phase(&w3, 2, (0, 0), nm),
            "conv3 BP form"
        );
        assert!(!prog
            .tensors
            .iter()
            .any(|t| t.name.starts_with("conv3.w_bp.1")));
        assert_eq!(
            bytes("fc.w_bp"),
            packed_rows(&transpose(&wfc, 10, 16), 10),
            "fc BP form"
        );
    }

    // Loss gradient and backward.
    let g = loss_grad(&logits, &labels, 10, f);
    assert_eq!(read("loss.dy"), g, "loss gradient, {tag}");
    let wfc_t = transpose(&wfc, 10, 16);
    let wfc_b: Vec<i16> = wfc_t.chunks(10).flat_map(|r| nm_prune(r, nm)).collect();
    let dgp = transpose(
        &matmul(&wfc_b, &transpose(&g, batch, 10), 16, 10, batch, f),
        16,
        batch,
    );
    assert_eq!(read("fc.dx"), dgp, "fc BP, {tag}");
    let dgp = Map {
        v: dgp,
        ..Map::new(batch, 1, 1, 16)
    };
    let dy3 = global_avg_bp(&dgp, (2, 2));
    assert_eq!(read("gap.dx"), dy3.v, "global average pool BP, {tag}");
    // conv3 is 1×1 with stride 2: three of the four phases have no taps and are zero-filled.
    let da2 = conv_bp(&dy3, &prune_bp(&w3, sparse(8)), (3, 3), 2, 0, f);
    assert_eq!(read("conv3.dx"), da2.v, "conv3 BP, {tag}");
    let db2 = relu_bp(&da2, &b2);
    assert_eq!(read("relu2.dx"), db2.v, "relu2 BP, {tag}");
    let dy2 = batch_norm_bp(&db2, &b2, &y2, f);
    assert_eq!(read("bn2.dx"), dy2.v, "bn2 BP, {tag}");
    let dp1 = conv_bp(&dy2, &prune_bp(&w2, sparse(16)), (5, 5), 2, 1, f);
    assert_eq!(read("conv2.dx"), dp1.v, "conv2 BP, {tag}");
    let da1 = maxpool_bp(&dp1, &arg1, (10, 10), 3, 2, 1);
    assert_eq!(read("pool1.dx"), da1.v, "pool1 BP, {tag}");
    let db1 = relu_bp(&da1, &b1);
    assert_eq!(read("relu1.dx"), db1.v, "relu1 BP, {tag}");
    let dy1 = batch_norm_bp(&db1, &b1, &y1, f);
    assert_eq!(read("bn1.dx"), dy1.v, "bn1 BP, {tag}");
    assert!(!prog.tensors.iter().any(|t| t.name == "conv1.dx"));

    // Weight gradients (dense) and the update.
    let dwfc = matmul(&transpose(&g, batch, 10), &gp.v, 10, batch, 16, f);
    assert_eq!(read("fc.dw"), dwfc, "fc WU, {tag}");
    let dw3 = conv_wu(&dy3, &a2, (1, 2), 2, 0, f);
    assert_eq!(read("conv3.dw"), dw3, "conv3 WU, {tag}");
    let dw2 = conv_wu(&dy2, &p1, (3, 1), 2, 1, f);
    assert_eq!(read("conv2.dw"), dw2, "conv2 WU, {tag}");
    let dw1 = conv_wu(&dy1, &x, (3, 1), 1, 1, f);
    assert_eq!(read("conv1.dw"), dw1, "conv1 WU, {tag}");
    // SR-STE applies to every layer with a sparse GEMM (conv1's BP form has 8 outputs).
    for (name, w, dw, v, width) in [
        ("conv1", &w1.v, &dw1, &v1, 36),
        ("conv2", &w2.v, &dw2, &v2, 72),
        ("conv3", &w3.v, &dw3, &v3, 8),
        ("fc", &wfc, &dwfc, &vfc, 16),
    ] {
        let (wn, vn) = sgd(w, dw, v, width, true, nm, &opts);
        assert_eq!(read(&format!("{name}.w")), wn, "{name} update, {tag}");
        assert_eq!(read(&format!("{name}.v")), vn, "{name} momentum, {tag}");
    }
    // The gradients are not trivially zero: the test would notice a dropped phase. (A max
    // pooling gradient reaches at most one position of each 3×3 window.)
    for (name, g, part) in [
        ("conv2.dx", &dp1.v, 4),
        ("pool1.dx", &da1.v, 16),
        ("conv1.dw", &dw1, 4),
    ] {
        let nonzero = g.iter().filter(|&&v| v != 0).count();
        assert!(
            nonzero > g.len() / part,
            "{name}: only {nonzero} non-zero, {tag}"
        );
    }
}

#[test]
fn conv_iteration_equals_the_integer_reference_at_2_8() {
    check_iteration(&sat_small([true; 3]), Nm { n: 2, m: 8 }, 2);
}

#[test]
fn conv_iteration_equals_the_integer_reference_at_2_4() {
    check_iteration(&sat_small([true; 3]), Nm { n: 2, m: 4 }, 3);
}

/// Without pre-generation the BP tiles are gathered from the dense weights and pruned as they
/// load; without interleaving and double buffering the tiles are scheduled differently.
#[test]
fn conv_iteration_equals_the_integer_reference_with_the_optimizations_off() {
    check_iteration(&sat_small([true, false, true]), Nm { n: 2, m: 8 }, 2);
    check_iteration(&sat_small([false, false, false]), Nm { n: 1, m: 4 }, 2);
}
