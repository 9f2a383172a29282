//! The program built from build.rs-generated code serves and calls the calculator;
//! the method it leaves out answers UNIMPLEMENTED.

#[test]
fn the_build_script_generated_code_works() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_build-script-example"))
        .output()
        .expect("the example runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "1 + 2 = 3\ndivide: UNIMPLEMENTED: `calculator.divide` is not implemented by this server"
    );
}
