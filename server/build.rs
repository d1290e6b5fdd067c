//! Builds the dashboard's browser bundle and embeds it in the binary, so `slipway up` from the
//! one file serves the whole dashboard.
//!
//! The bundle is `slipway-web` with its `hydrate` feature, compiled for wasm32-unknown-unknown
//! by a nested cargo (its own target folder beside this build's, so the two never wait on each
//! other's lock), bound to JavaScript by `wasm-bindgen-cli-support`, shrunk by `wasm-opt` when
//! that is installed (release builds only) and gzipped. When the wasm target is missing, or
//! `SLIPWAY_WEB_BUNDLE=off`, the binary is built without a bundle: it serves the
//! server-rendered pages and says so in its log.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

type BuildResult<T> = Result<T, String>;

/// The bundle's files, each with its gzipped copy, ready to embed.
struct Bundle {
    js: (PathBuf, PathBuf),
    wasm: (PathBuf, PathBuf),
    version: String,
    optimized: bool,
}

fn main() {
    println!("cargo:rerun-if-changed=../web/src");
    println!("cargo:rerun-if-changed=../web/assets");
    println!("cargo:rerun-if-changed=../web/Cargo.toml");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    println!("cargo:rerun-if-env-changed=SLIPWAY_WEB_BUNDLE");
    println!("cargo:rerun-if-env-changed=PATH");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    let outcome = if env::var("SLIPWAY_WEB_BUNDLE").is_ok_and(|value| value == "off") {
        Err("SLIPWAY_WEB_BUNDLE=off was set at build time".to_owned())
    } else {
        build(&out_dir)
    };
    let source = match outcome {
        Ok(bundle) => embed(&bundle),
        Err(reason) => {
            println!("cargo:warning=the dashboard's browser bundle was not built: {reason}");
            format!("pub const BUNDLE: Result<Bundle, &str> = Err({reason:?});\n")
        }
    };
    if let Err(err) = fs::write(out_dir.join("web_bundle.rs"), source) {
        panic!("writing web_bundle.rs into OUT_DIR: {err}");
    }
}

fn build(out_dir: &Path) -> BuildResult<Bundle> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|err| format!("running {rustc} --print sysroot: {err}"))?;
    if !Path::new(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .exists()
    {
        return Err(format!(
            "the {WASM_TARGET} target is not installed (rustup target add {WASM_TARGET})"
        ));
    }
    let release = env::var("PROFILE").is_ok_and(|profile| profile == "release");
    let wasm = compile(out_dir, release)?;
    let pkg = out_dir.join("web-bundle");
    let _ = fs::remove_dir_all(&pkg);
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&wasm)
        .out_name("slipway_web")
        .web(true)
        .map_err(|err| format!("wasm-bindgen: {err}"))?
        .debug(false)
        .keep_debug(false);
    bindgen
        .generate(&pkg)
        .map_err(|err| format!("wasm-bindgen: {err:#}"))?;
    let js = pkg.join("slipway_web.js");
    let wasm = pkg.join("slipway_web_bg.wasm");
    let optimized = release && optimize(&wasm);
    // Each file is read once: for the version digest and for its gzipped copy.
    let mut hasher = DefaultHasher::new();
    hasher.write(include_bytes!("../web/assets/loader.js"));
    let mut with_gzip = |file: PathBuf| -> BuildResult<(PathBuf, PathBuf)> {
        let bytes = fs::read(&file).map_err(|err| format!("{}: {err}", file.display()))?;
        hasher.write(&bytes);
        let gz = gzip(&file, &bytes)?;
        Ok((file, gz))
    };
    let js = with_gzip(js)?;
    let wasm = with_gzip(wasm)?;
    Ok(Bundle {
        js,
        wasm,
        version: format!("{:016x}", hasher.finish()),
        optimized,
    })
}

/// Compiles `slipway-web` for the browser and returns its `.wasm`.
fn compile(out_dir: &Path, release: bool) -> BuildResult<PathBuf> {
    // OUT_DIR is <target>/<profile>/build/<crate>/out; the nested build keeps its own folder
    // in <target>, reused by later builds.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .ok_or("OUT_DIR is not inside a target folder")?
        .join("web-bundle");
    let profile = if release { "web-release" } else { "dev" };
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest =
        Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../web/Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .args([
            "rustc",
            "--lib",
            "--crate-type",
            "cdylib",
            "--target",
            WASM_TARGET,
        ])
        .args(["--no-default-features", "--features", "hydrate"])
        .args(["--profile", profile])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    // This build's settings are for the host; the wrapper (clippy) and flags must not leak
    // into the browser build.
    for variable in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        command.env_remove(variable);
    }
    let output = command
        .output()
        .map_err(|err| format!("starting cargo: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        // A broken bundle is a broken build: the error must be seen, not logged away.
        panic!("building the dashboard bundle failed:\n{}", tail.join("\n"));
    }
    let dir = if release { "web-release" } else { "debug" };
    Ok(target_dir
        .join(WASM_TARGET)
        .join(dir)
        .join("slipway_web.wasm"))
}

/// Shrinks the wasm with binaryen's `wasm-opt -Oz` when it is installed; returns whether it ran.
/// The result is kept only if its exports keep their kinds and types: some binaryen releases
/// (Debian 12's 108) re-point the exported externref table at the function table, which breaks
/// the bundle at load time.
fn optimize(wasm: &Path) -> bool {
    let shrunk = wasm.with_extension("opt.wasm");
    let status = Command::new("wasm-opt")
        .arg("-Oz")
        .args([
            "--enable-bulk-memory",
            "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        .arg(wasm)
        .arg("-o")
        .arg(&shrunk)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(_) => {
            println!("cargo:warning=wasm-opt failed; the bundle is not shrunk");
            return false;
        }
        // Not installed: optional, the bundle only stays larger.
        Err(_) => return false,
    }
    let before = fs::read(wasm).ok().and_then(|bytes| export_shapes(&bytes));
    let after = fs::read(&shrunk)
        .ok()
        .and_then(|bytes| export_shapes(&bytes));
    if before.is_none() || before != after {
        println!(
            "cargo:warning=wasm-opt changed the bundle's exports (a known binaryen bug; try a \
             newer binaryen); the bundle is not shrunk"
        );
        let _ = fs::remove_file(&shrunk);
        return false;
    }
    fs::rename(&shrunk, wasm).is_ok()
}

/// Each export's name with its kind (and a table's element type), sorted.
fn export_shapes(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let module = walrus::Module::from_buffer(bytes).ok()?;
    let mut shapes: Vec<(String, String)> = module
        .exports
        .iter()
        .map(|export| {
            let shape = match export.item {
                walrus::ExportItem::Table(id) => {
                    format!("table of {:?}", module.tables.get(id).element_ty)
                }
                walrus::ExportItem::Function(_) => "function".to_owned(),
                walrus::ExportItem::Memory(_) => "memory".to_owned(),
                walrus::ExportItem::Global(_) => "global".to_owned(),
                walrus::ExportItem::Tag(_) => "tag".to_owned(),
            };
            (export.name.clone(), shape)
        })
        .collect();
    shapes.sort();
    Some(shapes)
}

/// Writes `bytes` (the contents of `file`) gzipped next to it; returns the `.gz` path.
fn gzip(file: &Path, bytes: &[u8]) -> BuildResult<PathBuf> {
    let mut gz = file.as_os_str().to_owned();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .and_then(|compressed| fs::write(&gz, compressed))
        .map_err(|err| format!("{}: {err}", gz.display()))?;
    Ok(gz)
}

/// The Rust source that embeds the bundle.
fn embed(bundle: &Bundle) -> String {
    let mut source = String::from("pub const BUNDLE: Result<Bundle, &str> = Ok(Bundle {\n");
    for (field, (file, gz)) in [("js", &bundle.js), ("wasm", &bundle.wasm)] {
        let _ = writeln!(
            source,
            "    {field}: include_bytes!({:?}),\n    {field}_gz: include_bytes!({:?}),",
            file.display().to_string(),
            gz.display().to_string()
        );
    }
    let _ = writeln!(
        source,
        "    version: {:?},\n    optimized: {},\n}});",
        bundle.version, bundle.optimized
    );
    source
}
