//! Takes the module list `cargo run -p acton-codegen --example hostile` wrote
//! (`$ACTON_HOSTILE_DIR/modules.rs`); without the variable, the crate is empty.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=ACTON_HOSTILE_DIR");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let modules = match std::env::var_os("ACTON_HOSTILE_DIR") {
        Some(dir) => {
            let list = PathBuf::from(dir).join("modules.rs");
            println!("cargo::rerun-if-changed={}", list.display());
            std::fs::read_to_string(&list)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", list.display()))
        }
        None => String::new(),
    };
    std::fs::write(out.join("modules.rs"), modules).expect("OUT_DIR is writable");
}
