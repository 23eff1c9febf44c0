//! Compile errors of the `query!` family, checked against committed `.stderr` files.
//!
//! The online cases need a database at compile time: the test creates one with
//! `queries/schema.sql` and points the compiler at it through `DATABASE_URL`. Entries
//! the cases would write go to a temporary `LIFEGUARD_OFFLINE_DIR`, not `.lifeguard/`.
//! The offline cases build with `LIFEGUARD_OFFLINE=true` against the fixture entries in
//! `tests/offline-fail/lifeguard/`. Both run in one test: trybuild reads the
//! environment when it compiles, and tests of one binary share it.
//! Refresh the `.stderr` files with `TRYBUILD=overwrite cargo test --test compile_fail`.

#[test]
fn compile_errors() {
    let url = lifeguard_suite::schema_database("trybuild");
    let scratch = std::env::temp_dir().join(format!("lifeguard-trybuild-{}", std::process::id()));
    // SAFETY: set before trybuild starts the compiler, while this test's thread is the
    // only one touching the environment.
    unsafe {
        std::env::set_var("DATABASE_URL", &url);
        std::env::remove_var("LIFEGUARD_OFFLINE");
        std::env::set_var("LIFEGUARD_OFFLINE_DIR", &scratch);
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile-fail/*.rs");
    drop(cases);
    let _ = std::fs::remove_dir_all(&scratch);

    // SAFETY: as above; the online cases are done.
    unsafe {
        std::env::remove_var("DATABASE_URL");
        std::env::set_var("LIFEGUARD_OFFLINE", "true");
        std::env::set_var("LIFEGUARD_OFFLINE_DIR", "tests/offline-fail/lifeguard");
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/offline-fail/*.rs");
}
