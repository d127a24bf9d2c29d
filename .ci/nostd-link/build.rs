//! A `no_std` binary gets no C library from rustc (`-nodefaultlibs`), but the C start-up files that
//! call `main` need libc's `__libc_start_main`, and `core` needs `memcpy` and friends: link libc.
fn main() {
    println!("cargo:rustc-link-arg=-lc");
}
