//! Generates `$OUT_DIR/messages.rs` from the example schema.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    acton_codegen::Builder::new()
        .schema("../../schema/messages.yaml")
        .compile()?;
    Ok(())
}
