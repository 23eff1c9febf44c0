//! Finding every statement of a workspace from its source text: nothing is compiled and
//! no file is written.
//!
//! [`Workspace::load`] asks `cargo metadata --no-deps` for the members; [`scan`] reads
//! every `.rs` file under each member's directory (not `target/`, hidden directories or
//! nested packages), tokenizes it with `proc-macro2`, and collects the SQL of every
//! `query!`-family call ([`MACROS`]) at any depth, including calls inside other macros'
//! arguments. The SQL is the string literal's value exactly as the macro sees it; for the
//! `query_file` forms it is the file's contents, its path taken relative to the member's
//! manifest directory; for `queries!` ([`QUERIES`]) it is each named statement of the
//! file ([`crate::sql_file`]), located by its line in that file. A call whose SQL argument is not a string literal (say `$sql`
//! inside a `macro_rules!`) is skipped. Markdown a source file includes as its
//! documentation (`#[doc = include_str!("../README.md")]`) is scanned too: rustdoc
//! compiles its code blocks as doctests. Each statement says whether a target compiles it
//! ([`Found::compiled`]): files no target's module tree reaches, such as trybuild
//! fixtures, are scanned as well.
//!
//! ```no_run
//! use std::path::Path;
//! use lifeguard_offline::scan::{Workspace, scan};
//!
//! let workspace = Workspace::load(Path::new("."), None)?;
//! let scanned = scan(&workspace);
//! for found in &scanned.found {
//!     println!("{}: {}", found.location, found.sql);
//! }
//! # Ok::<(), lifeguard_offline::scan::ScanError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use serde_json::Value;

use crate::sql_file;

mod modules;

/// The macros whose SQL is collected. The `_as` forms take a type first.
pub const MACROS: [&str; 6] = [
    "query",
    "query_as",
    "query_scalar",
    "query_file",
    "query_file_as",
    "query_file_scalar",
];

/// The macro that turns a file of named statements into a module
/// ([`crate::sql_file`]): each of its statements is collected, located by its line in
/// the file.
pub const QUERIES: &str = "queries";

/// One statement of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The SQL text, as the macro sees it.
    pub sql: String,
    /// Where it is first used: `path/relative/to/workspace.rs:line` (files in path order).
    pub location: String,
    /// Every other place that uses the same SQL.
    pub other_locations: Vec<String>,
    /// Whether a target compiles one of the files that use it. A file no target reaches
    /// (say a trybuild compile-fail fixture) is scanned too, but may hold SQL that is
    /// meant to fail.
    pub compiled: bool,
}

/// What [`scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every distinct statement, in order of first use.
    pub found: Vec<Found>,
    /// Files that could not be read or tokenized and `query_file` paths that could not
    /// be read; the scan went on without them.
    pub warnings: Vec<String>,
}

/// A workspace as `cargo metadata --no-deps` describes it.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root directory.
    pub root: PathBuf,
    /// The target directory (never scanned).
    pub target_dir: PathBuf,
    /// The members.
    pub members: Vec<Member>,
}

/// One workspace member.
#[derive(Debug, Clone)]
pub struct Member {
    /// The package name.
    pub name: String,
    /// The directory of its `Cargo.toml`.
    pub manifest_dir: PathBuf,
    /// The source files of its targets (lib, bins, tests, examples, benches, build script).
    pub targets: Vec<PathBuf>,
}

/// Why the workspace could not be read.
#[derive(Debug)]
pub struct ScanError(String);

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScanError {}

impl Workspace {
    /// Runs `cargo metadata --no-deps --format-version 1` in `dir` (with
    /// `--manifest-path` when given). Uses `$CARGO` when set (as it is under cargo), else
    /// `cargo` from `PATH`.
    pub fn load(dir: &Path, manifest_path: Option<&Path>) -> Result<Workspace, ScanError> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(&cargo);
        cmd.args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(dir);
        if let Some(path) = manifest_path {
            cmd.arg("--manifest-path").arg(path);
        }
        let output = cmd.output().map_err(|e| {
            ScanError(format!(
                "could not run `{} metadata`: {e}",
                Path::new(&cargo).display()
            ))
        })?;
        if !output.status.success() {
            return Err(ScanError(format!(
                "`cargo metadata` failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            )));
        }
        let json = String::from_utf8_lossy(&output.stdout);
        Workspace::from_metadata(&json).map_err(|e| {
            ScanError(format!(
                "`cargo metadata` printed something unexpected: {e}"
            ))
        })
    }

    /// Reads the output of `cargo metadata --format-version 1`.
    pub fn from_metadata(json: &str) -> Result<Workspace, String> {
        let value: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let path = |v: &Value, what: &str| {
            v.as_str()
                .map(PathBuf::from)
                .ok_or_else(|| format!("no `{what}`"))
        };
        let ids: Vec<&str> = value["workspace_members"]
            .as_array()
            .ok_or("no `workspace_members`")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut members = Vec::new();
        for package in value["packages"].as_array().ok_or("no `packages`")? {
            if !package["id"].as_str().is_some_and(|id| ids.contains(&id)) {
                continue;
            }
            let manifest = path(&package["manifest_path"], "manifest_path")?;
            let manifest_dir = manifest
                .parent()
                .ok_or("a `manifest_path` without a directory")?
                .to_path_buf();
            let targets = package["targets"]
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| path(&t["src_path"], "").ok())
                        .collect()
                })
                .unwrap_or_default();
            members.push(Member {
                name: package["name"].as_str().unwrap_or_default().to_string(),
                manifest_dir,
                targets,
            });
        }
        members.sort_by(|a, b| a.manifest_dir.cmp(&b.manifest_dir));
        Ok(Workspace {
            root: path(&value["workspace_root"], "workspace_root")?,
            target_dir: path(&value["target_directory"], "target_directory")?,
            members,
        })
    }
}

/// Finds every statement in the workspace's source files.
pub fn scan(workspace: &Workspace) -> Scan {
    let mut scan = Scan::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let roots: Vec<PathBuf> = workspace
        .members
        .iter()
        .flat_map(|m| m.targets.iter().cloned())
        .collect();
    let compiled = modules::compiled_files(&roots);
    for (file, member) in source_files(workspace) {
        let in_target = compiled.contains(&file);
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                scan.warnings
                    .push(format!("{}: not read: {e}", file.display()));
                continue;
            }
        };
        let shown = relative(&file, &workspace.root);
        let mut calls = match invocations(&text) {
            Ok(calls) => calls
                .into_iter()
                .map(|call| (shown.clone(), call))
                .collect::<Vec<_>>(),
            Err(e) => {
                scan.warnings
                    .push(format!("{shown}: not scanned: cannot tokenize: {e}"));
                continue;
            }
        };
        for doc in included_docs(&text) {
            let path = file.parent().unwrap_or(Path::new(".")).join(&doc);
            let path = fs::canonicalize(&path).unwrap_or(path);
            match fs::read_to_string(&path) {
                Ok(markdown) => {
                    let doc_shown = relative(&path, &workspace.root);
                    calls.extend(
                        markdown_invocations(&markdown)
                            .into_iter()
                            .map(|call| (doc_shown.clone(), call)),
                    );
                }
                Err(e) => scan.warnings.push(format!(
                    "{shown}: included documentation {doc} not read: {e}"
                )),
            }
        }
        for (shown, call) in calls {
            let location = format!("{shown}:{}", call.line);
            if call.macro_name == QUERIES {
                let path = member.manifest_dir.join(&call.literal);
                let statements = fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    .and_then(|text| {
                        sql_file::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
                    });
                match statements {
                    Ok(statements) => {
                        let file = relative(&path, &workspace.root);
                        for statement in statements {
                            let location = format!("{file}:{}", statement.line);
                            scan.add(&mut seen, statement.sql, location, in_target);
                        }
                    }
                    // A file no target compiles (a trybuild fixture) names its file
                    // relative to trybuild's copy of the crate: not a problem here.
                    Err(_) if !in_target => {}
                    Err(e) => scan.warnings.push(format!("{location}: queries!: {e}")),
                }
                continue;
            }
            let sql = if call.is_file() {
                let path = member.manifest_dir.join(&call.literal);
                match fs::read_to_string(&path) {
                    Ok(sql) => sql,
                    Err(e) => {
                        scan.warnings.push(format!(
                            "{location}: {}!: cannot read {}: {e}",
                            call.macro_name,
                            path.display()
                        ));
                        continue;
                    }
                }
            } else {
                call.literal
            };
            scan.add(&mut seen, sql, location, in_target);
        }
    }
    scan
}

impl Scan {
    /// Records a use of `sql` at `location`: a new statement, or another place of one
    /// already found (`seen` maps SQL to its index in `found`).
    fn add(
        &mut self,
        seen: &mut HashMap<String, usize>,
        sql: String,
        location: String,
        compiled: bool,
    ) {
        match seen.get(&sql) {
            Some(&i) => {
                let found = &mut self.found[i];
                found.other_locations.push(location);
                found.compiled |= compiled;
            }
            None => {
                seen.insert(sql.clone(), self.found.len());
                self.found.push(Found {
                    sql,
                    location,
                    other_locations: Vec::new(),
                    compiled,
                });
            }
        }
    }
}

/// Every `.rs` file to scan, sorted, each with the member whose directory holds it.
fn source_files(workspace: &Workspace) -> Vec<(PathBuf, &Member)> {
    let member_dirs: Vec<&Path> = workspace
        .members
        .iter()
        .map(|m| m.manifest_dir.as_path())
        .collect();
    let mut files: Vec<(PathBuf, &Member)> = Vec::new();
    for member in &workspace.members {
        let mut found = Vec::new();
        walk(&member.manifest_dir, workspace, &member_dirs, &mut found);
        // A target whose source lies outside the member's directory (`path = "../x.rs"`).
        for target in &member.targets {
            if !target.starts_with(&member.manifest_dir)
                && let Some(dir) = target.parent()
            {
                walk(dir, workspace, &member_dirs, &mut found);
            }
        }
        files.extend(found.into_iter().map(|f| (f, member)));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    files
}

/// Collects the `.rs` files under `dir`, not entering hidden directories, target
/// directories, other members or nested packages. Symbolic links to directories are not
/// followed.
fn walk(dir: &Path, workspace: &Workspace, member_dirs: &[&Path], out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let skip = name.starts_with('.')
                || path == workspace.target_dir
                || (name == "target" && dir.join("Cargo.toml").is_file())
                || member_dirs.contains(&path.as_path())
                || path.join("Cargo.toml").is_file();
            if !skip {
                walk(&path, workspace, member_dirs, out);
            }
        } else if name.ends_with(".rs") && !name.starts_with('.') {
            out.push(path);
        }
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One `query!`-family call in a file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Which macro (one of [`MACROS`]).
    pub macro_name: String,
    /// The value of its SQL string literal (a path for the `query_file` forms).
    pub literal: String,
    /// The 1-based line of the macro's name.
    pub line: usize,
}

impl Invocation {
    /// Whether the literal is a path to a `.sql` file.
    pub fn is_file(&self) -> bool {
        self.macro_name.starts_with("query_file")
    }
}

/// Every `query!`-family call in `text` whose SQL argument is a string literal, in order,
/// at any depth of nesting. Fails only when `text` cannot be tokenized.
///
/// ```
/// use lifeguard_offline::scan::invocations;
///
/// let text = r#"fn f() { assert_eq!(query!("SELECT 1").fetch_one(&p)?, 1); }"#;
/// let calls = invocations(text).unwrap();
/// assert_eq!(calls[0].literal, "SELECT 1");
/// ```
pub fn invocations(text: &str) -> Result<Vec<Invocation>, String> {
    let tokens = TokenStream::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    visit(tokens, &mut out);
    visit_examples(doc_examples(text), &mut out);
    Ok(out)
}

/// The Rust code blocks of `///` and `//!` doc comments that rustdoc compiles as
/// doctests (fences without a tag, or tagged `rust`, `no_run`, `should_panic`), each with
/// the 1-based line of its first code line. Hidden lines (`# ...`) are included, as
/// rustdoc compiles them.
fn doc_examples(text: &str) -> Vec<(usize, String)> {
    fenced_examples(text.lines().map(|line| {
        let trimmed = line.trim_start();
        let doc = trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"))?;
        Some(doc.strip_prefix(' ').unwrap_or(doc))
    }))
}

/// The code blocks of a Markdown file that a crate includes as documentation
/// (`#[doc = include_str!("../README.md")]`), which rustdoc compiles the same way.
fn markdown_examples(text: &str) -> Vec<(usize, String)> {
    fenced_examples(text.lines().map(Some))
}

/// The compiled code blocks among `lines` of documentation (`None`: a line that is not
/// documentation, which ends any open block).
fn fenced_examples<'a>(lines: impl Iterator<Item = Option<&'a str>>) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut block: Option<(usize, String, bool)> = None;
    for (n, doc) in lines.enumerate() {
        let Some(doc) = doc else {
            if let Some((first, code, true)) = block.take() {
                out.push((first, code));
            }
            continue;
        };
        if let Some(tag) = doc.trim_start().strip_prefix("```") {
            match block.take() {
                Some((first, code, compiled)) => {
                    if compiled {
                        out.push((first, code));
                    }
                }
                None => {
                    let compiled = tag.split(',').map(str::trim).all(|t| {
                        matches!(
                            t,
                            "" | "rust" | "no_run" | "should_panic" | "edition2021" | "edition2024"
                        )
                    });
                    block = Some((n + 2, String::new(), compiled));
                }
            }
            continue;
        }
        if let Some((_, code, _)) = &mut block {
            let hidden = doc
                .strip_prefix("# ")
                .or_else(|| (doc == "#").then_some(""));
            code.push_str(hidden.unwrap_or(doc));
            code.push('\n');
        }
    }
    out
}

/// The files a source file includes as documentation: the literal of every
/// `#[doc = include_str!("...")]` (inner or outer attribute, on one line), relative to
/// that file. Text elsewhere (comments, string literals) that mentions such an
/// attribute is not one.
fn included_docs(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let attribute = line.trim_start();
            let rest = attribute
                .strip_prefix("#![")
                .or_else(|| attribute.strip_prefix("#["))?
                .trim_start()
                .strip_prefix("doc")?
                .trim_start()
                .strip_prefix('=')?
                .trim_start()
                .strip_prefix("include_str!")?
                .trim_start()
                .strip_prefix('(')?
                .trim_start()
                .strip_prefix('"')?;
            rest.split_once('"').map(|(path, _)| path.to_owned())
        })
        .collect()
}

/// The `query!`-family calls in the compiled code blocks of a Markdown file.
fn markdown_invocations(text: &str) -> Vec<Invocation> {
    let mut out = Vec::new();
    visit_examples(markdown_examples(text), &mut out);
    out
}

/// The calls in code examples, each `(first line, code)`, with lines of the file they
/// come from. Prose-like code that does not tokenize is not an example rustdoc compiles.
fn visit_examples(examples: Vec<(usize, String)>, out: &mut Vec<Invocation>) {
    for (first_line, code) in examples {
        if let Ok(tokens) = TokenStream::from_str(&code) {
            let start = out.len();
            visit(tokens, out);
            for call in &mut out[start..] {
                call.line += first_line - 1;
            }
        }
    }
}

fn visit(tokens: TokenStream, out: &mut Vec<Invocation>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Group(group) => visit(group.stream(), out),
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                let known = MACROS.contains(&name.as_str()) || name == QUERIES;
                if !known || !lifeguard_path(&trees[..i]) {
                    continue;
                }
                let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args))) =
                    (trees.get(i + 1), trees.get(i + 2))
                else {
                    continue;
                };
                if bang.as_char() != '!' || args.delimiter() == Delimiter::None {
                    continue;
                }
                let position = if name.ends_with("_as") { 1 } else { 0 };
                let literal = if name == QUERIES {
                    last_string(args.stream())
                } else {
                    string_argument(args.stream(), position)
                };
                if let Some(literal) = literal {
                    out.push(Invocation {
                        macro_name: name,
                        literal,
                        line: ident.span().start().line,
                    });
                }
                // The arguments are visited as a group on their own turn.
            }
            _ => {}
        }
    }
}

/// Whether the path before a macro's name is Lifeguard's: none (`query!` imported), or
/// ending in `lifeguard::` (or the re-export's `macros::`). `sqlx::query!` is not.
fn lifeguard_path(before: &[TokenTree]) -> bool {
    match before {
        [
            ..,
            TokenTree::Ident(segment),
            TokenTree::Punct(a),
            TokenTree::Punct(b),
        ] if a.as_char() == ':' && b.as_char() == ':' => {
            segment == "lifeguard" || segment == "macros"
        }
        [.., TokenTree::Punct(a), TokenTree::Punct(b)]
            if a.as_char() == ':' && b.as_char() == ':' =>
        {
            false
        }
        _ => true,
    }
}

/// The value of the last string literal of `queries!`'s arguments
/// (`[vis] [mod name =] "path"`).
fn last_string(args: TokenStream) -> Option<String> {
    args.into_iter()
        .filter_map(|tree| match tree {
            TokenTree::Literal(lit) => {
                syn::parse2::<syn::LitStr>(TokenStream::from(TokenTree::Literal(lit))).ok()
            }
            _ => None,
        })
        .last()
        .map(|s| s.value())
}

/// The value of the `position`th comma-separated argument when it is exactly one string
/// literal (plain or raw).
fn string_argument(args: TokenStream, position: usize) -> Option<String> {
    let mut index = 0;
    // Commas inside a type's generics (`Pair<i32, String>`) do not separate arguments.
    let mut angles = 0usize;
    let mut arrow = false;
    let mut current: Vec<TokenTree> = Vec::new();
    for tree in args {
        if let TokenTree::Punct(p) = &tree {
            let after_minus = std::mem::replace(
                &mut arrow,
                p.as_char() == '-' && p.spacing() == Spacing::Joint,
            );
            match p.as_char() {
                '<' => angles += 1,
                '>' if !after_minus => angles = angles.saturating_sub(1),
                ',' if angles == 0 => {
                    if index == position {
                        break;
                    }
                    index += 1;
                    continue;
                }
                _ => {}
            }
        } else {
            arrow = false;
        }
        if index == position {
            current.push(tree);
        }
    }
    match current.as_slice() {
        [TokenTree::Literal(lit)] => {
            let stream = TokenStream::from(TokenTree::Literal(lit.clone()));
            syn::parse2::<syn::LitStr>(stream).ok().map(|s| s.value())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
