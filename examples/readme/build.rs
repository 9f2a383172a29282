//! Extracts the ```rust blocks of the workspace README, in order, into
//! `$OUT_DIR/readme_block_N.rs` (N from 1); each binary of this crate includes one.
//! A README with another number of Rust blocks fails the build, so a new block
//! cannot go untested: give it a binary in `src/bin/` and a line in
//! `tests/readme/run_blocks.py`.

use std::path::Path;

/// The binaries of `src/bin/`, one per block, in README order.
const BLOCKS: usize = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme)?;
    let blocks = rust_blocks(&text);
    if blocks.len() != BLOCKS {
        return Err(format!(
            "{} has {} ```rust blocks, and examples/readme builds {BLOCKS}: give the new block a \
             binary in examples/readme/src/bin/ and a line in tests/readme/run_blocks.py",
            readme.display(),
            blocks.len()
        )
        .into());
    }
    let out = std::env::var("OUT_DIR")?;
    for (index, block) in blocks.iter().enumerate() {
        std::fs::write(
            Path::new(&out).join(format!("readme_block_{}.rs", index + 1)),
            block,
        )?;
    }
    Ok(())
}

/// The contents of every fence whose info string is `rust`.
fn rust_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match current.as_mut() {
            None if line.trim_end() == "```rust" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}
