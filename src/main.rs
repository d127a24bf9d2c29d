//! The all-in-one command (being built; see issue 2).
fn main() {}
