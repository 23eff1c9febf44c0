use super::*;

const FIXTURE: &str = r####"
use lifeguard::{query, query_as, query_scalar};

fn plain(pool: &Pool) {
    let row = query!("SELECT id FROM users WHERE id = $1", 7).fetch_one(pool);
    let n = lifeguard::query_scalar!("SELECT count(*) FROM users").fetch_one(pool);
    let rows = query_as!(User, "SELECT id, name FROM users").fetch_all(pool);
    let pairs = query_as!(Pair<i32, String>, "SELECT 1, 'a'").fetch_all(pool);
    let raw = query!(r#"SELECT "quoted" FROM t WHERE a = 'x\n'"#);
    let escaped = query!("SELECT 'tab\there', E'\\n' \
                          FROM t");
    let bracketed = query![ "SELECT 2" ];
    let file = query_file!("queries/one.sql", 1);
    let file_as = query_file_as!(User, "queries/two.sql");
}

#[test]
fn nested() {
    assert_eq!(query!("SELECT 3").fetch_one(&pool).unwrap().x, 3);
    let v = vec![query_scalar!("SELECT 4")];
    let closure = || { if true { query!("SELECT 5") } else { unreachable!() } };
}

macro_rules! by_id {
    ($sql:literal) => { query!($sql, 1) };
}

fn not_literals() {
    let a = query!(SQL, 1);
    let b = query!(concat!("SELECT ", "6"));
    let c = query!(42);
    let d = query_as!("SELECT 7");
    let e = query;
    let f = other!("SELECT 8");
    // query!("SELECT 9") in a comment
    let g = "query!(\"SELECT 10\")";
}
"####;

fn literals(text: &str) -> Vec<(String, String, usize)> {
    invocations(text)
        .expect("tokenizes")
        .into_iter()
        .map(|c| (c.macro_name, c.literal, c.line))
        .collect()
}

#[test]
fn finds_every_call_with_a_literal() {
    let found = literals(FIXTURE);
    let expected: Vec<(&str, &str, usize)> = vec![
        ("query", "SELECT id FROM users WHERE id = $1", 5),
        ("query_scalar", "SELECT count(*) FROM users", 6),
        ("query_as", "SELECT id, name FROM users", 7),
        ("query_as", "SELECT 1, 'a'", 8),
        ("query", "SELECT \"quoted\" FROM t WHERE a = 'x\\n'", 9),
        ("query", "SELECT 'tab\there', E'\\n' FROM t", 10),
        ("query", "SELECT 2", 12),
        ("query_file", "queries/one.sql", 13),
        ("query_file_as", "queries/two.sql", 14),
        ("query", "SELECT 3", 19),
        ("query_scalar", "SELECT 4", 20),
        ("query", "SELECT 5", 21),
    ];
    let expected: Vec<(String, String, usize)> = expected
        .into_iter()
        .map(|(m, s, l)| (m.to_string(), s.to_string(), l))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn arrows_in_types_do_not_hide_the_sql() {
    let found = literals(r#"query_as!(Wrap<fn(i32) -> i32, u8>, "SELECT 1")"#);
    assert_eq!(found, [("query_as".to_string(), "SELECT 1".to_string(), 1)]);
}

#[test]
fn untokenizable_text_is_an_error() {
    assert!(invocations("fn f() { query!(\"SELECT 1\" ").is_err());
    assert!(invocations("let s = \"unterminated;").is_err());
}

/// A workspace on disk (no cargo needed): a root package holding a member in `app/`.
fn fixture() -> (tempfile::TempDir, Workspace) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    let app = root.join("app");
    let files: &[(&str, &str)] = &[
        ("Cargo.toml", "[workspace]\n"),
        ("src/lib.rs", "fn f() { query!(\"SELECT 1\"); }"),
        (
            "tests/t.rs",
            "fn g() {\n\n query!(\"SELECT 1\"); query!(\"SELECT 2\"); }",
        ),
        ("target/debug/x.rs", "query!(\"SELECT target\")"),
        (".git/x.rs", "query!(\"SELECT hidden\")"),
        ("nested/Cargo.toml", "[package]\n"),
        ("nested/src/lib.rs", "query!(\"SELECT nested\")"),
        ("src/broken.rs", "fn f() { query!(\"SELECT 3\")"),
        ("app/Cargo.toml", "[package]\n"),
        (
            "app/src/main.rs",
            "fn main() { query_file!(\"queries/a.sql\"); query_file!(\"queries/none.sql\"); }",
        ),
        ("app/queries/a.sql", "SELECT 1\n-- from a file\n"),
        (
            "app/examples/e.rs",
            "fn main() { query_file_scalar!(\"queries/a.sql\"); }",
        ),
    ];
    for (path, text) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        fs::write(path, text).expect("write");
    }
    let workspace = Workspace {
        root: root.clone(),
        target_dir: root.join("target"),
        members: vec![
            Member {
                name: "root".to_string(),
                manifest_dir: root.clone(),
                targets: vec![root.join("src/lib.rs")],
            },
            Member {
                name: "app".to_string(),
                manifest_dir: app.clone(),
                targets: vec![app.join("src/main.rs")],
            },
        ],
    };
    (tmp, workspace)
}

#[test]
fn scans_members_and_dedupes() {
    let (_tmp, workspace) = fixture();
    let scanned = scan(&workspace);
    let found: Vec<(&str, &str, Vec<&str>, bool)> = scanned
        .found
        .iter()
        .map(|f| {
            let others = f.other_locations.iter().map(String::as_str).collect();
            (f.sql.as_str(), f.location.as_str(), others, f.compiled)
        })
        .collect();
    // Only src/lib.rs and app/src/main.rs are targets here.
    assert_eq!(
        found,
        [
            (
                "SELECT 1\n-- from a file\n",
                "app/examples/e.rs:1",
                vec!["app/src/main.rs:1"],
                true
            ),
            ("SELECT 1", "src/lib.rs:1", vec!["tests/t.rs:3"], true),
            ("SELECT 2", "tests/t.rs:3", vec![], false),
        ]
    );
    assert_eq!(scanned.warnings.len(), 2, "{:?}", scanned.warnings);
    assert!(scanned.warnings[0].starts_with("app/src/main.rs:1: query_file!: cannot read "));
    assert!(scanned.warnings[0].contains("none.sql"));
    assert!(scanned.warnings[1].starts_with("src/broken.rs: not scanned: cannot tokenize"));
}

#[test]
fn reads_cargo_metadata() {
    let json = r#"{
        "packages": [
            { "name": "app", "id": "path+file:///w/app#0.1.0", "manifest_path": "/w/app/Cargo.toml",
              "targets": [ { "kind": ["lib"], "src_path": "/w/app/src/lib.rs" },
                           { "kind": ["test"], "src_path": "/w/app/tests/x.rs" } ] },
            { "name": "other", "id": "registry+x#other@1.0.0", "manifest_path": "/r/other/Cargo.toml", "targets": [] }
        ],
        "workspace_members": ["path+file:///w/app#0.1.0"],
        "workspace_root": "/w",
        "target_directory": "/w/target"
    }"#;
    let ws = Workspace::from_metadata(json).expect("parses");
    assert_eq!(ws.root, Path::new("/w"));
    assert_eq!(ws.target_dir, Path::new("/w/target"));
    assert_eq!(ws.members.len(), 1);
    assert_eq!(ws.members[0].name, "app");
    assert_eq!(ws.members[0].manifest_dir, Path::new("/w/app"));
    assert_eq!(ws.members[0].targets.len(), 2);
    assert!(Workspace::from_metadata("{}").is_err());
    assert!(Workspace::from_metadata("not json").is_err());
}

#[test]
fn runs_cargo_metadata() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    fs::create_dir_all(root.join("m/src")).expect("dirs");
    fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"m\"]\nresolver = \"2\"\n",
    )
    .expect("write");
    fs::write(
        root.join("m/Cargo.toml"),
        "[package]\nname = \"m\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .expect("write");
    fs::write(root.join("m/src/lib.rs"), "").expect("write");
    let ws = Workspace::load(root, None).expect("cargo metadata");
    assert_eq!(ws.members.len(), 1);
    assert_eq!(ws.members[0].name, "m");
    assert!(ws.members[0].manifest_dir.ends_with("m"));
    assert!(!root.join("Cargo.lock").exists());

    let err = Workspace::load(&root.join("m/src"), Some(&root.join("nope/Cargo.toml")))
        .expect_err("no manifest");
    assert!(err.to_string().contains("`cargo metadata` failed"), "{err}");
}

#[test]
fn doc_examples_are_scanned_with_their_hidden_lines() {
    let text = r#"
/// Runs it.
///
/// ```no_run
/// # fn demo(pool: &Pool) {
/// let q = lifeguard::query!(
///     "SELECT 1 AS one"
/// );
/// # }
/// ```
///
/// ```ignore
/// lifeguard::query!("SELECT 2");
/// ```
//! ```
//! lifeguard::query_scalar!("SELECT 3");
//! ```
fn f() {}
"#;
    let calls = invocations(text).unwrap();
    let found: Vec<_> = calls.iter().map(|c| (c.literal.as_str(), c.line)).collect();
    assert_eq!(found, [("SELECT 1 AS one", 6), ("SELECT 3", 16)]);
}

#[test]
fn other_crates_query_macros_are_not_lifeguards() {
    let text = r#"fn f() {
        query!("SELECT 1");
        lifeguard::query!("SELECT 2");
        ::lifeguard::query_scalar!("SELECT 3");
        sqlx::query!("SELECT 4");
        other::query_as!(T, "SELECT 5");
    }"#;
    let found: Vec<_> = invocations(text)
        .unwrap()
        .into_iter()
        .map(|c| c.literal)
        .collect();
    assert_eq!(found, ["SELECT 1", "SELECT 2", "SELECT 3"]);
}

#[test]
fn markdown_included_as_documentation_is_scanned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tmp.path()).expect("canonical");
    let lib = "#![doc = include_str!(\"../README.md\")]\n\
               #[cfg(doctest)]\n#[doc = include_str!( \"../docs/more.md\" )]\nstruct More;\n\
               const NOT_DOC: &str = include_str!(\"../other.md\");\n";
    let readme = "# Title\n\n```rust,no_run\nlet a = lifeguard::query!(\"SELECT readme\");\n```\n\n\
                  ```sh\nquery!(\"SELECT shell\")\n```\n\n```ignore\nquery!(\"SELECT ignored\");\n```\n";
    let files: &[(&str, &str)] = &[
        ("Cargo.toml", "[package]\n"),
        ("src/lib.rs", lib),
        ("README.md", readme),
        (
            "docs/more.md",
            "```\nlifeguard::query_scalar!(\"SELECT more\");\n```\n",
        ),
        ("other.md", "```\nquery!(\"SELECT other\");\n```\n"),
    ];
    for (path, text) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        fs::write(path, text).expect("write");
    }
    let workspace = Workspace {
        root: root.clone(),
        target_dir: root.join("target"),
        members: vec![Member {
            name: "root".to_string(),
            manifest_dir: root.clone(),
            targets: vec![root.join("src/lib.rs")],
        }],
    };
    let scanned = scan(&workspace);
    let found: Vec<(&str, &str, bool)> = scanned
        .found
        .iter()
        .map(|f| (f.sql.as_str(), f.location.as_str(), f.compiled))
        .collect();
    assert_eq!(
        found,
        [
            ("SELECT readme", "README.md:4", true),
            ("SELECT more", "docs/more.md:2", true),
        ]
    );
    assert!(scanned.warnings.is_empty(), "{:?}", scanned.warnings);
}
