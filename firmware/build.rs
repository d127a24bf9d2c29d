//! Linker setup for the Cortex-M board binary; does nothing for host builds.
//!
//! cortex-m-rt's `link.x` includes `memory.x`, which must be on the linker's search path: it is copied
//! into `OUT_DIR` (rather than pointing at the package folder) so that no other `memory.x` lying around
//! can win. `-Tlink.x` goes only to binaries, so the library stays linkable into host programs.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    if !target.starts_with("thumb") {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    if env::var_os("CARGO_FEATURE_BOARD").is_some() {
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
    }
}
