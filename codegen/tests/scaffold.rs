//! `acton-gen new`: what it writes, and what it refuses. (scripts/new-project.sh
//! builds a new project, serves it and calls it from three languages.)

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use acton_codegen::scaffold::{new_project, ScaffoldError, Source};

#[test]
fn writes_a_project_and_refuses_bad_names_and_occupied_directories() {
    let dir = std::env::temp_dir().join(format!("acton-scaffold-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let source = Source::Version("0.1.0".to_owned());
    let written = new_project(&dir, "my-service", &source).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| {
            p.strip_prefix(dir.join("my-service"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    for expected in [
        "Cargo.toml",
        "build.rs",
        "schema/my_service.yaml",
        "src/main.rs",
        "clients/python/my_service/client.py",
        "clients/typescript/src/client.ts",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let cargo = std::fs::read_to_string(dir.join("my-service/Cargo.toml")).unwrap();
    assert!(
        cargo.contains("acton-reactive = { version = \"0.1.0\""),
        "{cargo}"
    );
    let schema =
        acton_codegen::load_schema(&dir.join("my-service/schema/my_service.yaml")).unwrap();
    assert_eq!(schema.services[0].name, "greeter");

    assert!(matches!(
        new_project(&dir, "my-service", &source),
        Err(ScaffoldError::Exists(_))
    ));
    for bad in ["My-Service", "1st", "", "a b", "../x"] {
        assert!(
            matches!(new_project(&dir, bad, &source), Err(ScaffoldError::Name(_))),
            "{bad:?}"
        );
    }
}
