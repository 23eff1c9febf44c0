use std::ffi::OsString;

use super::format::string;
use super::*;
use crate::description::{ColumnInfo, Description, Nullability, PgType, StatementKind};

fn users_entry() -> Entry {
    Entry {
        sql: "SELECT id, name, note FROM users WHERE id = $1".to_string(),
        description: Description {
            params: vec![PgType {
                oid: 23,
                name: "int4".into(),
            }]
            .into(),
            columns: vec![
                ColumnInfo {
                    name: "id".into(),
                    type_: PgType {
                        oid: 23,
                        name: "int4".into(),
                    },
                    nullable: Nullability::NotNull,
                    origin: Some(("users".into(), "id".into())),
                },
                ColumnInfo {
                    name: "note \"quoted\"\n".into(),
                    type_: PgType {
                        oid: 16384,
                        name: "citext".into(),
                    },
                    nullable: Nullability::Nullable,
                    origin: None,
                },
            ]
            .into(),
            kind: StatementKind::Read,
        },
        server_version: "15.10".to_string(),
    }
}

const USERS_JSON: &str = r#"{
  "format": 1,
  "sql": "SELECT id, name, note FROM users WHERE id = $1",
  "params": [
    { "oid": 23, "name": "int4" }
  ],
  "columns": [
    { "name": "id", "type": { "oid": 23, "name": "int4" }, "nullable": false, "origin": { "table": "users", "column": "id" } },
    { "name": "note \"quoted\"\n", "type": { "oid": 16384, "name": "citext" }, "nullable": true, "origin": null }
  ],
  "kind": "read",
  "server_version": "15.10"
}
"#;

#[test]
fn writes_the_documented_layout() {
    assert_eq!(users_entry().to_json(), USERS_JSON);
}

#[test]
fn round_trips() {
    let entry = users_entry();
    assert_eq!(Entry::from_json(&entry.to_json()), Ok(entry.clone()));

    let empty = Entry {
        sql: "UPDATE t SET x = 1 -- ünïcödé\n\ttab".to_string(),
        description: Description::new(&[], &[], StatementKind::Write),
        server_version: String::new(),
    };
    let text = empty.to_json();
    assert!(text.contains("\"params\": [],\n  \"columns\": [],\n"));
    assert!(text.ends_with("}\n"));
    assert_eq!(Entry::from_json(&text), Ok(empty));
}

#[test]
fn same_metadata_ignores_the_server_version() {
    let a = users_entry();
    let mut b = a.clone();
    b.server_version = "17.2".to_string();
    assert!(a.same_metadata(&b));
    b.description.columns.to_mut()[0].nullable = Nullability::Nullable;
    assert!(!a.same_metadata(&b));
}

/// `USERS_JSON` with `from` replaced by `to` must fail with `message`.
fn corrupt(from: &str, to: &str, message: &str) {
    assert!(USERS_JSON.contains(from), "fixture lacks {from:?}");
    let text = USERS_JSON.replacen(from, to, 1);
    assert_eq!(Entry::from_json(&text), Err(message.to_string()), "{text}");
}

#[test]
fn every_corruption_names_the_field() {
    corrupt(
        "\"format\": 1",
        "\"format\": 7",
        "unknown format 7 (this build reads format 1)",
    );
    corrupt(
        "\"format\": 1",
        "\"format\": \"1\"",
        "`format` must be a whole number",
    );
    corrupt("\"format\": 1,", "", "`format` is missing");
    corrupt(
        "\"sql\": \"SELECT",
        "\"sql\": 5, \"x\": \"",
        "unknown key `x`",
    );
    corrupt(
        "\"sql\": \"SELECT id, name, note FROM users WHERE id = $1\"",
        "\"sql\": null",
        "`sql` must be a string",
    );
    corrupt(
        "\"params\": [",
        "\"params\": {",
        "not valid JSON: key must be a string at line 5 column 5",
    );
    corrupt(
        "\"params\": [\n    { \"oid\": 23, \"name\": \"int4\" }\n  ]",
        "\"params\": 1",
        "`params` must be an array",
    );
    corrupt(
        "{ \"oid\": 23, \"name\": \"int4\" }\n",
        "[]\n",
        "`params[0]` must be an object",
    );
    corrupt(
        "{ \"oid\": 23, \"name\": \"int4\" }\n",
        "{ \"oid\": -1, \"name\": \"int4\" }\n",
        "`params[0].oid` must be a type OID (a whole number from 0 to 4294967295)",
    );
    corrupt(
        "{ \"oid\": 23, \"name\": \"int4\" }\n",
        "{ \"oid\": 4294967296, \"name\": \"int4\" }\n",
        "`params[0].oid` must be a type OID (a whole number from 0 to 4294967295)",
    );
    corrupt(
        "{ \"oid\": 23, \"name\": \"int4\" }\n",
        "{ \"oid\": 23 }\n",
        "`params[0].name` is missing",
    );
    corrupt(
        "\"nullable\": true",
        "\"nullable\": \"yes\"",
        "`columns[1].nullable` must be true or false",
    );
    corrupt(
        "\"nullable\": false,",
        "",
        "`columns[0].nullable` is missing",
    );
}

#[test]
fn every_corruption_names_the_field_in_nested_objects() {
    corrupt(
        "\"type\": { \"oid\": 16384, \"name\": \"citext\" }",
        "\"type\": { \"oid\": 16384, \"name\": 3 }",
        "`columns[1].type.name` must be a string",
    );
    corrupt(
        "\"type\": { \"oid\": 16384, \"name\": \"citext\" }",
        "\"type\": \"citext\"",
        "`columns[1].type` must be an object",
    );
    corrupt(
        "\"origin\": null",
        "\"origin\": \"users\"",
        "`columns[1].origin` must be null or an object",
    );
    corrupt(
        "\"column\": \"id\" }",
        "\"col\": \"id\" }",
        "unknown key `columns[0].origin.col`",
    );
    corrupt(
        "\"table\": \"users\", ",
        "",
        "`columns[0].origin.table` is missing",
    );
    corrupt(
        "\"nullable\": false",
        "\"nullable\": false, \"extra\": 1",
        "unknown key `columns[0].extra`",
    );
    corrupt(
        "\"kind\": \"read\"",
        "\"kind\": \"READ\"",
        "`kind` must be \"read\" or \"write\"",
    );
    corrupt(
        "\"server_version\": \"15.10\"",
        "\"server_version\": 15.1",
        "`server_version` must be a string",
    );
    corrupt(USERS_JSON, "[1, 2]", "the file must hold a JSON object");
    corrupt(
        USERS_JSON,
        "",
        "not valid JSON: EOF while parsing a value at line 1 column 0",
    );
}

#[test]
fn hashes_name_files() {
    assert_eq!(
        hash(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        file_name("SELECT 1"),
        "query-e004ebd5b5532a4b85984a62f8ad48a81aa3460c1ca07701f386135d72cdecf5.json"
    );
    assert!(is_entry_file_name(&file_name("x")));
    assert!(!is_entry_file_name("query-.json"));
    assert!(!is_entry_file_name(".query-abc.json.1.0.tmp"));
}

#[test]
fn saves_once_and_loads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("nested").join(DIR_NAME);
    let entry = users_entry();
    assert!(save_if_changed(&dir, &entry).expect("first save"));
    assert!(!save_if_changed(&dir, &entry).expect("second save"));
    let names: Vec<_> = fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, [OsString::from(file_name(&entry.sql))]);

    let other = tmp.path().join("empty");
    let dirs = [other.clone(), dir.clone()];
    let (path, loaded) = load(&dirs, &entry.sql).expect("load");
    assert_eq!(path, dir.join(file_name(&entry.sql)));
    assert_eq!(loaded, entry);

    let mut newer = entry.clone();
    newer.server_version = "16.1".to_string();
    assert!(save_if_changed(&dir, &newer).expect("rewrite"));
    assert_eq!(load(&dirs, &entry.sql).expect("load").1, newer);

    match load(&dirs, "SELECT 2") {
        Err(e @ LoadError::Missing { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&file_name("SELECT 2")), "{text}");
            assert!(text.contains(&other.display().to_string()), "{text}");
            assert!(text.contains("cargo lifeguard prepare"), "{text}");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[test]
fn a_file_holding_other_sql_is_a_collision() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let entry = users_entry();
    let path = tmp.path().join(file_name("SELECT 2"));
    fs::write(&path, entry.to_json()).expect("write");
    match load(&[tmp.path().to_path_buf()], "SELECT 2") {
        Err(e @ LoadError::Collision { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("holds different SQL"), "{text}");
        }
        other => panic!("expected Collision, got {other:?}"),
    }
}

#[test]
fn a_corrupt_file_is_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join(file_name("SELECT 1"));
    fs::write(&path, USERS_JSON.replace("\"format\": 1", "\"format\": 2")).expect("write");
    match load(&[tmp.path().to_path_buf()], "SELECT 1") {
        Err(e @ LoadError::Corrupt { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("unknown format 2"), "{text}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    fs::write(&path, [0xff, 0xfe]).expect("write");
    match load(&[tmp.path().to_path_buf()], "SELECT 1") {
        Err(LoadError::Corrupt { what, .. }) => assert_eq!(what, "not UTF-8 text"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn finds_the_top_most_workspace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("outer");
    let inner = root.join("target/tests/trybuild");
    let member = inner.join("app");
    fs::create_dir_all(&member).expect("dirs");
    fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"x\"\n\n  [workspace.package]\nversion = \"1\"\n",
    )
    .expect("write");
    fs::write(inner.join("Cargo.toml"), "[workspace]\n").expect("write");
    fs::write(member.join("Cargo.toml"), "[package]\n[[bin]]\n").expect("write");
    assert_eq!(workspace_root(&member), root);
    assert_eq!(workspace_root(&root), root);

    let lone = tmp.path().join("lone");
    fs::create_dir_all(&lone).expect("dirs");
    fs::write(lone.join("Cargo.toml"), "[package]\n# [workspace]\n").expect("write");
    assert_eq!(workspace_root(&lone), lone);
}

#[test]
fn search_and_write_dirs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    let member = root.join("app");
    fs::create_dir_all(&member).expect("dirs");
    fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"app\"]\n",
    )
    .expect("write");

    assert_eq!(
        search_dirs_with(&member, None),
        [member.join(DIR_NAME), root.join(DIR_NAME)]
    );
    assert_eq!(search_dirs_with(&root, None), [root.join(DIR_NAME)]);
    assert_eq!(
        search_dirs_with(&member, Some("ci-meta".into())),
        [
            root.join("ci-meta"),
            member.join(DIR_NAME),
            root.join(DIR_NAME)
        ]
    );
    assert_eq!(
        search_dirs_with(&member, Some(OsString::new())),
        [member.join(DIR_NAME), root.join(DIR_NAME)]
    );

    assert_eq!(write_dir_with(&member, None), root.join(DIR_NAME));
    fs::create_dir_all(member.join(DIR_NAME)).expect("dir");
    assert_eq!(write_dir_with(&member, None), member.join(DIR_NAME));
    let abs = tmp.path().join("elsewhere");
    assert_eq!(write_dir_with(&member, Some(abs.clone().into())), abs);
}

/// Strings are escaped exactly as `serde_json` escapes them.
#[test]
fn strings_escape_as_serde_json_does() {
    let all: String = (0u32..0x80)
        .filter_map(char::from_u32)
        .chain("é ünï \u{2028} 😀".chars())
        .collect();
    assert_eq!(
        string(&all),
        serde_json::Value::from(all.as_str()).to_string()
    );
}

fn canonical(text: &str) -> Option<Entry> {
    super::canonical::read(text, FORMAT).map(|(sql, description, server_version)| Entry {
        sql,
        description,
        server_version,
    })
}

fn entry_with(sql: &str, columns: Vec<ColumnInfo>) -> Entry {
    Entry {
        sql: sql.to_string(),
        description: Description {
            params: vec![PgType::new(23, "int4"), PgType::new(16_385, "citext")].into(),
            columns: columns.into(),
            kind: StatementKind::Write,
        },
        server_version: "15.10 (Debian)".to_string(),
    }
}

fn text_column(name: &'static str, origin: Option<(&'static str, &'static str)>) -> ColumnInfo {
    ColumnInfo::new(name, PgType::new(25, "text"), Nullability::Nullable, origin)
}

#[test]
fn the_fast_reader_reads_what_to_json_writes() {
    let odd = "SELECT '\"q\" \\ \n\r\t\u{8}\u{c}\u{0}\u{1}\u{1f} é ☃ 𝄞' AS \"x!: T\" -- \u{7f}";
    for e in [
        entry_with("SELECT 1", vec![]),
        entry_with(
            odd,
            vec![
                text_column("x!: T", None),
                text_column("id", Some(("users", "id"))),
            ],
        ),
        Entry {
            description: Description::new(&[], &[], StatementKind::Read),
            ..entry_with("", vec![])
        },
        users_entry(),
    ] {
        let text = e.to_json();
        assert_eq!(canonical(&text), Some(e.clone()), "{text}");
        assert_eq!(Entry::from_json(&text), Ok(e));
    }
}

#[test]
fn other_layouts_are_left_to_the_strict_parser() {
    let text = entry_with("SELECT 1", vec![text_column("a", None)]).to_json();
    let variants = [
        text.replace("  \"format\"", "\"format\""),
        text.replace("\"format\": 1", "\"format\": 01"),
        text.replace("\"format\": 1", "\"format\": 2"),
        text.replace("\"kind\": \"write\"", "\"kind\": \"other\""),
        text.replace("\"nullable\": true", "\"nullable\": 1"),
        text.replace("\"oid\": 23", "\"oid\": 4294967296"),
        text.replace("SELECT 1", "SELECT \\u0041"),
        text.replace("SELECT 1", "SELECT \\/"),
        text.replace("SELECT 1", "SELECT \u{1}"),
        text.trim_end().to_string(),
        format!("{text} "),
    ];
    for v in variants {
        assert_eq!(canonical(&v), None, "{v}");
    }
    // The strict parser still reads the valid ones among them, and names what is wrong
    // in the others.
    assert!(Entry::from_json(&text.replace("SELECT 1", "SELECT \\u0041")).is_ok());
    assert!(Entry::from_json(text.trim_end()).is_ok());
    assert_eq!(
        Entry::from_json(&text.replace("\"nullable\": true", "\"nullable\": 1")),
        Err("`columns[0].nullable` must be true or false".to_string())
    );
}
