//! Verilator co-simulation of a rust-hdl design chosen at run time, without a build script.
//!
//! [`Design::build`] runs `verilator --cc`, writes a small `extern "C"` shim for the design's
//! top-level ports, compiles everything with the C++ compiler that the `cc` crate finds
//! (used outside a build script: target, host, opt level and metadata are given explicitly)
//! into a shared library, and opens it with `libloading`. Libraries are cached by a hash of
//! everything that goes into them (Verilog, shim, flags, Verilator and compiler versions), so
//! a design that was built once loads in milliseconds. Entries are never evicted: delete the
//! cache directory to reclaim the space.
//!
//! The shim moves all inputs in and all outputs out in one call per cycle: the Rust side
//! keeps a shadow value per port ([`Model::set`], [`Model::get`]). Verilator's C++ ports are
//! unsigned even for `signed` Verilog ports, and their unused high bits must stay zero, so
//! the shim masks every input to its width and sign-extends every signed output to `i64`.

use crate::error::HwError;
use crate::verilog::run;
use libloading::Library;
use rust_hdl::core::atom::{is_atom_signed, Atom, AtomKind};
use rust_hdl::prelude::{Block, Probe};
use std::ffi::{c_char, c_void, CString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bump when the shim or the build recipe changes, so old cache entries are not reused.
const RECIPE_VERSION: u32 = 2;

/// Port direction, seen from the design.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    /// An input of the design.
    In,
    /// An output of the design.
    Out,
}

/// One top-level port of the design.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// The Verilog name, e.g. `a_in$3` (rust-hdl joins hierarchy and `Vec` indices with `$`).
    pub name: String,
    /// Width in bits (at most 64).
    pub width: usize,
    /// Declared `signed` in the Verilog.
    pub signed: bool,
    /// Input or output.
    pub dir: Dir,
}

impl Port {
    /// The C++ member Verilator makes of the port: it escapes `$` as `__024`.
    fn cpp_name(&self) -> String {
        self.name.replace('$', "__024")
    }
}

/// Lists the top-level ports of a rust-hdl design, in declaration order.
pub fn top_ports(uut: &dyn Block) -> Result<Vec<Port>, HwError> {
    #[derive(Default)]
    struct TopPorts {
        depth: usize,
        namespace: Vec<String>,
        ports: Vec<Port>,
        errors: Vec<String>,
    }
    impl Probe for TopPorts {
        fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
            self.depth += 1;
        }
        fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
            self.namespace.push(name.to_string());
        }
        fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
            if self.depth != 1 {
                return;
            }
            let dir = match signal.kind() {
                AtomKind::InputParameter => Dir::In,
                AtomKind::OutputParameter => Dir::Out,
                AtomKind::InOutParameter => {
                    self.errors
                        .push(format!("inout port {name} is not supported"));
                    return;
                }
                _ => return,
            };
            let mut full = self.namespace.join("$");
            if !full.is_empty() {
                full.push('$');
            }
            full.push_str(name);
            if signal.bits() > 64 {
                self.errors.push(format!(
                    "port {full} is {} bits wide; at most 64 are supported",
                    signal.bits()
                ));
            }
            self.ports.push(Port {
                name: full,
                width: signal.bits(),
                signed: is_atom_signed(signal),
                dir,
            });
        }
        fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
            self.namespace.pop();
        }
        fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
            self.depth -= 1;
        }
    }
    let mut probe = TopPorts::default();
    uut.accept("top", &mut probe);
    if probe.errors.is_empty() {
        Ok(probe.ports)
    } else {
        Err(HwError::Cosim(probe.errors.join("; ")))
    }
}

/// How to build a design.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Where built libraries are kept, one sub-directory per hash.
    pub cache_dir: PathBuf,
    /// Build with `--trace` so [`Model::trace`] can write a VCD.
    pub trace: bool,
    /// Parallel C++ compiler processes (the project's machines have 2 shared cores).
    pub jobs: usize,
}

impl BuildOptions {
    /// Caches under `cache_dir`, no tracing, one compiler process.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            trace: false,
            jobs: 1,
        }
    }
}

/// How long each step of [`Design::build`] took (all zero but `load` on a cache hit).
#[derive(Clone, Debug, Default)]
pub struct BuildTimes {
    /// The library came from the cache.
    pub cached: bool,
    /// `verilator --cc`.
    pub verilator: Duration,
    /// Verilator's runtime C++ (once per toolchain, then cached on its own).
    pub runtime_cxx: Duration,
    /// The design's C++ and the shim.
    pub model_cxx: Duration,
    /// Linking the shared library.
    pub link: Duration,
    /// `dlopen` and symbol lookup.
    pub load: Duration,
}

type NewFn = unsafe extern "C" fn(i32) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type EvalFn = unsafe extern "C" fn(*mut c_void, *const i64, *mut i64);
type StepFn = unsafe extern "C" fn(*mut c_void, *const i64, *mut i64, u64);
type TraceFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> i32;

/// A Verilated design, loaded and ready to instantiate.
pub struct Design {
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    traced: bool,
    library_path: PathBuf,
    new: NewFn,
    free: FreeFn,
    eval: EvalFn,
    step: StepFn,
    trace: TraceFn,
    // Declared last so it is dropped after everything that points into it.
    _lib: Library,
}

impl Design {
    /// Builds (or loads from the cache) the Verilated model of `verilog`, whose top module
    /// `top` has the given ports (see [`top_ports`]).
    pub fn build(
        verilog: &str,
        top: &str,
        ports: &[Port],
        opts: &BuildOptions,
    ) -> Result<(Arc<Design>, BuildTimes), HwError> {
        let mut times = BuildTimes::default();
        let inputs: Vec<Port> = ports
            .iter()
            .filter(|p| p.dir == Dir::In && p.name != "clock")
            .cloned()
            .collect();
        let outputs: Vec<Port> = ports
            .iter()
            .filter(|p| p.dir == Dir::Out)
            .cloned()
            .collect();
        let has_clock = ports.iter().any(|p| p.dir == Dir::In && p.name == "clock");
        let shim = shim_source(&inputs, &outputs, has_clock);
        let tools = Toolchain::find()?;
        let flags = verilator_flags(top, opts.trace);
        let key = fnv1a(&[
            &RECIPE_VERSION.to_string(),
            verilog,
            &shim,
            &flags.join(" "),
            &tools.fingerprint,
        ]);
        std::fs::create_dir_all(&opts.cache_dir).map_err(HwError::io(&opts.cache_dir))?;
        let dir = opts.cache_dir.join(format!("model-{key:016x}"));
        let library_path = dir.join("libmodel.so");
        if library_path.exists() {
            times.cached = true;
        } else {
            let tmp = unique_tmp(&dir);
            let result = build_into(&tmp, verilog, &shim, &flags, &tools, opts, &mut times);
            if let Err(e) = result {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
            // A concurrent build of the same design may have won the race: keep either.
            if std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
                if !library_path.exists() {
                    return Err(HwError::Cosim(format!(
                        "cannot move {} to {}",
                        tmp.display(),
                        dir.display()
                    )));
                }
            }
        }
        let t = Instant::now();
        let design = Design::load(library_path, inputs, outputs, opts.trace)?;
        times.load = t.elapsed();
        Ok((Arc::new(design), times))
    }

    fn load(
        library_path: PathBuf,
        inputs: Vec<Port>,
        outputs: Vec<Port>,
        traced: bool,
    ) -> Result<Design, HwError> {
        let err = |e: libloading::Error| HwError::Cosim(format!("{}: {e}", library_path.display()));
        // SAFETY: the library is one we just built from our own shim; its initialisers only
        // set up Verilator's runtime. The symbols are copied out as plain function pointers,
        // which stay valid because `Design` owns the `Library` and drops it last.
        unsafe {
            let lib = Library::new(&library_path).map_err(err)?;
            let new = *lib.get::<NewFn>(b"nm_new\0").map_err(err)?;
            let free = *lib.get::<FreeFn>(b"nm_free\0").map_err(err)?;
            let eval = *lib.get::<EvalFn>(b"nm_eval\0").map_err(err)?;
            let step = *lib.get::<StepFn>(b"nm_step\0").map_err(err)?;
            let trace = *lib.get::<TraceFn>(b"nm_trace\0").map_err(err)?;
            Ok(Design {
                inputs,
                outputs,
                traced,
                library_path,
                new,
                free,
                eval,
                step,
                trace,
                _lib: lib,
            })
        }
    }

    /// The inputs a [`Model`] sets, in the shim's order (`clock` is not among them: the shim
    /// drives it).
    pub fn inputs(&self) -> &[Port] {
        &self.inputs
    }
    /// The outputs a [`Model`] reads, in the shim's order.
    pub fn outputs(&self) -> &[Port] {
        &self.outputs
    }
    /// The shared library in the cache.
    pub fn library_path(&self) -> &Path {
        &self.library_path
    }

    /// A fresh model (its own `VerilatedContext`), all inputs zero.
    pub fn instantiate(self: &Arc<Self>) -> Model {
        // SAFETY: `nm_new` allocates a model and never fails short of `std::bad_alloc`.
        let handle = unsafe { (self.new)(i32::from(self.traced)) };
        Model {
            design: Arc::clone(self),
            handle,
            inputs: vec![0; self.inputs.len()],
            outputs: vec![0; self.outputs.len()],
        }
    }
}

/// One instance of a [`Design`], with its own `VerilatedContext` (so models on different
/// threads share nothing). It holds a raw pointer into the library and is therefore not
/// `Send`: use it on the thread that instantiated it.
pub struct Model {
    design: Arc<Design>,
    handle: *mut c_void,
    inputs: Vec<i64>,
    outputs: Vec<i64>,
}

impl Model {
    /// Index of an input port (not `clock`, which [`Model::step`] drives).
    pub fn input(&self, name: &str) -> Result<usize, HwError> {
        let pos = self.design.inputs.iter().position(|p| p.name == name);
        pos.ok_or_else(|| HwError::Usage(format!("the design has no input port {name}")))
    }
    /// Index of an output port.
    pub fn output(&self, name: &str) -> Result<usize, HwError> {
        let pos = self.design.outputs.iter().position(|p| p.name == name);
        pos.ok_or_else(|| HwError::Usage(format!("the design has no output port {name}")))
    }
    /// Sets an input; it reaches the model at the next [`Model::eval`] or [`Model::step`].
    pub fn set(&mut self, input: usize, value: i64) {
        self.inputs[input] = value;
    }
    /// An output as of the last [`Model::eval`] or [`Model::step`], sign-extended if signed.
    pub fn get(&self, output: usize) -> i64 {
        self.outputs[output]
    }
    /// Applies the inputs and settles combinational logic, without a clock edge.
    pub fn eval(&mut self) {
        // SAFETY: the buffers have exactly the lengths the shim was generated for.
        unsafe { (self.design.eval)(self.handle, self.inputs.as_ptr(), self.outputs.as_mut_ptr()) }
    }
    /// `cycles` clock cycles (clock low with the inputs applied, then the rising edge), then
    /// reads the outputs. Without a `clock` port this is [`Model::eval`].
    pub fn step(&mut self, cycles: u64) {
        let (i, o) = (self.inputs.as_ptr(), self.outputs.as_mut_ptr());
        // SAFETY: as in `eval`.
        unsafe { (self.design.step)(self.handle, i, o, cycles) }
    }
    /// Starts writing a VCD of this model (the design must be built with `trace`).
    pub fn trace(&mut self, path: &Path) -> Result<(), HwError> {
        if !self.design.traced {
            return Err(HwError::Usage(
                "the design was built without `BuildOptions::trace`".into(),
            ));
        }
        let c = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|e| HwError::Usage(format!("{}: {e}", path.display())))?;
        // SAFETY: `c` outlives the call; the shim copies the path.
        match unsafe { (self.design.trace)(self.handle, c.as_ptr()) } {
            0 => Ok(()),
            _ => Err(HwError::Cosim(format!(
                "cannot trace to {}",
                path.display()
            ))),
        }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `handle` came from this design's `nm_new` and is freed once.
        unsafe { (self.design.free)(self.handle) }
    }
}

/// The external tools, and a fingerprint of their versions for the cache key.
struct Toolchain {
    verilator_root: PathBuf,
    cxx: cc::Tool,
    fingerprint: String,
}

impl Toolchain {
    fn find() -> Result<Toolchain, HwError> {
        let out = run(Command::new("verilator").args(["--getenv", "VERILATOR_ROOT"]))?;
        let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !root.join("include/verilated.cpp").exists() {
            return Err(HwError::Cosim(format!(
                "no include/verilated.cpp under {}: is Verilator installed completely? ({})",
                root.display(),
                crate::error::INSTALL_HINT
            )));
        }
        let version = run(Command::new("verilator").arg("--version"))?;
        // Outside a build script `cc` cannot read TARGET/HOST/OPT_LEVEL from the
        // environment: give them explicitly. The host is the target: the model is loaded
        // into this very process.
        let triple = host_triple();
        let cxx = cc::Build::new()
            .cpp(true)
            .std("c++17")
            .opt_level(2)
            .debug(false)
            .warnings(false)
            .cargo_metadata(false)
            .target(&triple)
            .host(&triple)
            .try_get_compiler()
            .map_err(|e| HwError::Cosim(format!("no C++ compiler: {e}")))?;
        let cxx_version = run(cxx.to_command().arg("--version"))?;
        let fingerprint = format!(
            "{}|{}|{:?}",
            String::from_utf8_lossy(&version.stdout).trim(),
            String::from_utf8_lossy(&cxx_version.stdout)
                .lines()
                .next()
                .unwrap_or(""),
            cxx.to_command()
        );
        Ok(Toolchain {
            verilator_root: root,
            cxx,
            fingerprint,
        })
    }

    /// A compile command with Verilator's include paths and defines.
    fn compile(&self, trace: bool, src: &Path, obj: &Path, extra_include: &Path) -> Command {
        let inc = self.verilator_root.join("include");
        let mut cmd = self.cxx.to_command();
        cmd.args(["-c", "-fPIC", "-fvisibility=hidden", "-faligned-new"])
            .args(["-DVM_COVERAGE=0", "-DVM_SC=0", "-DVM_TRACE_FST=0"])
            .arg(format!("-DVM_TRACE={}", u8::from(trace)))
            .arg(format!("-DVM_TRACE_VCD={}", u8::from(trace)))
            .arg("-I")
            .arg(&inc)
            .arg("-I")
            .arg(inc.join("vltstd"))
            .arg("-I")
            .arg(extra_include)
            .arg(src)
            .arg("-o")
            .arg(obj);
        cmd
    }
}

fn host_triple() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "linux" => format!("{arch}-unknown-linux-gnu"),
        "macos" => format!("{arch}-apple-darwin"),
        os => format!("{arch}-unknown-{os}"),
    }
}

/// `--prefix Vtop` names the C++ class `Vtop` whatever the top module is called, so the shim
/// does not depend on it.
fn verilator_flags(top: &str, trace: bool) -> Vec<String> {
    let mut f: Vec<String> = [
        "--cc",
        "--top-module",
        top,
        "--prefix",
        "Vtop",
        "-O3",
        "--x-assign",
        "fast",
    ]
    .map(String::from)
    .to_vec();
    if trace {
        f.push("--trace".into());
    }
    f
}

fn build_into(
    tmp: &Path,
    verilog: &str,
    shim: &str,
    flags: &[String],
    tools: &Toolchain,
    opts: &BuildOptions,
    times: &mut BuildTimes,
) -> Result<(), HwError> {
    let obj = tmp.join("obj");
    std::fs::create_dir_all(&obj).map_err(HwError::io(&obj))?;
    let top_v = tmp.join("top.v");
    std::fs::write(&top_v, verilog).map_err(HwError::io(&top_v))?;
    let t = Instant::now();
    run(Command::new("verilator")
        .args(flags)
        .arg("-Mdir")
        .arg(&obj)
        .arg(&top_v))?;
    times.verilator = t.elapsed();

    let t = Instant::now();
    let runtime = runtime_objects(tools, opts)?;
    times.runtime_cxx = t.elapsed();

    // Generated file names contain hashes: take every .cpp Verilator wrote, plus the shim.
    let shim_cpp = obj.join("nm_shim.cpp");
    std::fs::write(&shim_cpp, shim).map_err(HwError::io(&shim_cpp))?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&obj)
        .map_err(HwError::io(&obj))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    sources.sort();
    let t = Instant::now();
    let jobs: Vec<(PathBuf, PathBuf)> = sources
        .into_iter()
        .map(|s| {
            let o = s.with_extension("o");
            (s, o)
        })
        .collect();
    compile_all(&jobs, opts.jobs, |src, o| {
        let mut cmd = tools.compile(opts.trace, src, o, &obj);
        // Verilator puts run-once code (constructors, initial blocks) in `*__Slow.cpp`;
        // like its own makefile, build it without optimisation: for a 16x16 array that
        // saves about 9 of 30 seconds, and the simulation speed does not depend on it.
        if src.to_string_lossy().ends_with("__Slow.cpp") {
            cmd.arg("-O0");
        }
        cmd
    })?;
    times.model_cxx = t.elapsed();

    let t = Instant::now();
    let mut link = tools.cxx.to_command();
    link.args(["-shared", "-fPIC", "-o"])
        .arg(tmp.join("libmodel.so"))
        .args(jobs.iter().map(|(_, o)| o))
        .args(&runtime)
        .arg("-lpthread");
    run(&mut link)?;
    times.link = t.elapsed();
    Ok(())
}

/// Verilator's runtime (`verilated.cpp`, `verilated_threads.cpp`, and the VCD writer when
/// tracing) does not depend on the design: compile it once per toolchain and keep it.
fn runtime_objects(tools: &Toolchain, opts: &BuildOptions) -> Result<Vec<PathBuf>, HwError> {
    let mut names = vec!["verilated", "verilated_threads"];
    if opts.trace {
        names.push("verilated_vcd_c");
    }
    let key = fnv1a(&[
        &RECIPE_VERSION.to_string(),
        &tools.fingerprint,
        &opts.trace.to_string(),
    ]);
    let dir = opts.cache_dir.join(format!("runtime-{key:016x}"));
    let objects: Vec<PathBuf> = names.iter().map(|n| dir.join(format!("{n}.o"))).collect();
    if dir.exists() {
        return Ok(objects);
    }
    let tmp = unique_tmp(&dir);
    std::fs::create_dir_all(&tmp).map_err(HwError::io(&tmp))?;
    let inc = tools.verilator_root.join("include");
    let jobs: Vec<(PathBuf, PathBuf)> = names
        .iter()
        .map(|n| (inc.join(format!("{n}.cpp")), tmp.join(format!("{n}.o"))))
        .collect();
    let built = compile_all(&jobs, opts.jobs, |src, o| {
        tools.compile(opts.trace, src, o, &inc)
    });
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(objects)
}

/// Runs one compile per `(source, object)` pair on up to `jobs` threads.
fn compile_all(
    pairs: &[(PathBuf, PathBuf)],
    jobs: usize,
    command: impl Fn(&Path, &Path) -> Command + Sync,
) -> Result<(), HwError> {
    let next = AtomicUsize::new(0);
    let worker = || -> Result<(), HwError> {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((src, obj)) = pairs.get(i) else {
                return Ok(());
            };
            run(&mut command(src, obj))?;
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs.max(1)).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("compile worker panicked"))
    })
}

/// A fresh sibling of `dir` to build into, then rename: concurrent tests never see a
/// half-built cache entry.
fn unique_tmp(dir: &Path) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    dir.with_file_name(name)
}

/// FNV-1a, 64 bit: a hash that is stable across Rust versions (unlike `DefaultHasher`),
/// which a cache on disk needs. Parts are separated so ("ab","c") and ("a","bc") differ.
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The C++ shim for one design: inputs and outputs travel as `int64_t` arrays in port order.
fn shim_source(inputs: &[Port], outputs: &[Port], has_clock: bool) -> String {
    let mut apply = String::new();
    for (i, p) in inputs.iter().enumerate() {
        let mask = if p.width == 64 {
            u64::MAX
        } else {
            (1u64 << p.width) - 1
        };
        // Verilator assumes the bits above a port's width are zero: mask, or a negative
        // value would corrupt the model.
        let _ = writeln!(
            apply,
            "    t.{} = static_cast<uint64_t>(in[{i}]) & 0x{mask:x}ULL;",
            p.cpp_name()
        );
    }
    let mut read = String::new();
    for (i, p) in outputs.iter().enumerate() {
        let value = format!("static_cast<uint64_t>(t.{})", p.cpp_name());
        let expr = if p.signed && p.width < 64 {
            format!("sext({value}, {})", p.width)
        } else {
            format!("static_cast<int64_t>({value})")
        };
        let _ = writeln!(read, "    out[{i}] = {expr};");
    }
    let step_body = if has_clock {
        "    for (uint64_t c = 0; c < cycles; ++c) {
        m->top->clock = 0;
        apply(*m->top, in);
        m->top->eval();
        m->tick();
        m->top->clock = 1;
        m->top->eval();
        m->tick();
    }"
    } else {
        "    (void)cycles;
    apply(*m->top, in);
    m->top->eval();"
    };
    format!(
        r#"// Generated by nmsat-hw (cosim.rs): the C ABI between Rust and one Verilated design.
#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif
#include <cstdint>
#include <memory>

#define NM_API extern "C" __attribute__((visibility("default")))

namespace {{
// One context per model: no state is shared between models, so tests can run in parallel.
struct Model {{
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vtop> top;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
#endif
    explicit Model(bool trace) : ctx(new VerilatedContext) {{
        // Tracing must be enabled before the model is constructed.
        ctx->traceEverOn(trace);
        top.reset(new Vtop(ctx.get(), "top"));
    }}
    void tick() {{
        ctx->timeInc(1);
#if VM_TRACE
        if (vcd) vcd->dump(ctx->time());
#endif
    }}
    ~Model() {{
        top->final();
#if VM_TRACE
        if (vcd) vcd->close();
#endif
    }}
}};

inline int64_t sext(uint64_t v, int width) {{
    return static_cast<int64_t>(v << (64 - width)) >> (64 - width);
}}

void apply(Vtop& t, const int64_t* in) {{
    (void)t; (void)in;
{apply}}}

void read(Vtop& t, int64_t* out) {{
    (void)t; (void)out;
{read}}}
}}  // namespace

NM_API void* nm_new(int trace) {{ return new Model(trace != 0); }}

NM_API void nm_free(void* p) {{ delete static_cast<Model*>(p); }}

NM_API void nm_eval(void* p, const int64_t* in, int64_t* out) {{
    Model* m = static_cast<Model*>(p);
    apply(*m->top, in);
    m->top->eval();
    read(*m->top, out);
}}

NM_API void nm_step(void* p, const int64_t* in, int64_t* out, uint64_t cycles) {{
    Model* m = static_cast<Model*>(p);
{step_body}
    read(*m->top, out);
}}

NM_API int nm_trace(void* p, const char* path) {{
#if VM_TRACE
    Model* m = static_cast<Model*>(p);
    m->vcd.reset(new VerilatedVcdC);
    m->top->trace(m->vcd.get(), 99);
    m->vcd->open(path);
    return m->vcd->isOpen() ? 0 : 1;
#else
    (void)p; (void)path;
    return 1;
#endif
}}
"#
    )
}
