//! The generated handler traits reject wrong code at compile time: a wrong reply
//! type, an error the method does not declare, the wrong error type.

#[test]
fn wrong_handlers_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
