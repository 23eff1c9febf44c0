//! Which files cargo compiles: the module trees of the targets.
//!
//! From each target's root file, `mod name;` leads to `name.rs` or `name/mod.rs` (or the
//! `#[path = "..."]` file), and `include!("...")` to the named file. Every declaration is
//! followed whatever its `#[cfg]`, and declarations inside other macros' input (such as
//! `cfg_if!`) are found too: erring towards "compiled" only makes a failing statement an
//! error instead of a warning. A file that no target reaches, such as a trybuild
//! compile-fail fixture, is not compiled by `cargo build`.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// Every file reachable from `roots` through `mod` declarations and `include!`.
pub(super) fn compiled_files(roots: &[PathBuf]) -> HashSet<PathBuf> {
    let mut seen: HashSet<PathBuf> = HashSet::new();
    // A file, and the directory its `mod name;` declarations resolve in.
    let mut work: Vec<(PathBuf, PathBuf)> = roots
        .iter()
        .filter_map(|root| Some((root.clone(), root.parent()?.to_path_buf())))
        .collect();
    while let Some((file, mod_dir)) = work.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let Some(tokens) = fs::read_to_string(&file)
            .ok()
            .and_then(|text| TokenStream::from_str(&text).ok())
        else {
            continue;
        };
        let file_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut found = Vec::new();
        declarations(tokens, &file_dir, &mod_dir, &mut found);
        work.extend(found);
    }
    seen
}

/// The files named by the `mod` declarations and `include!` calls in `tokens`, each with
/// the directory where its own `mod` declarations resolve.
fn declarations(
    tokens: TokenStream,
    file_dir: &Path,
    mod_dir: &Path,
    out: &mut Vec<(PathBuf, PathBuf)>,
) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Ident(ident) if ident == "mod" => {
                let Some(TokenTree::Ident(name)) = trees.get(i + 1) else {
                    continue;
                };
                let name = name.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name);
                match trees.get(i + 2) {
                    Some(TokenTree::Punct(p)) if p.as_char() == ';' => {
                        match path_attribute(&trees[..i]) {
                            // A `#[path]` file is like a `mod.rs`: its children sit beside it.
                            Some(path) => {
                                let file = file_dir.join(path);
                                let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                                out.push((file, dir));
                            }
                            None => {
                                let flat = mod_dir.join(format!("{name}.rs"));
                                let nested = mod_dir.join(name).join("mod.rs");
                                let file = if flat.is_file() { flat } else { nested };
                                out.push((file, mod_dir.join(name)));
                            }
                        }
                    }
                    Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace => {
                        let inner = mod_dir.join(name);
                        declarations(body.stream(), &inner, &inner, out);
                    }
                    _ => {}
                }
            }
            TokenTree::Ident(ident) if ident == "include" => {
                if let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args))) =
                    (trees.get(i + 1), trees.get(i + 2))
                    && bang.as_char() == '!'
                    && let Some(path) = only_string(args.stream())
                {
                    let file = file_dir.join(path);
                    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                    out.push((file, dir));
                }
            }
            TokenTree::Group(group) => {
                // The body of an inline module is handled with its `mod` above.
                let after_mod = i >= 2
                    && matches!(&trees[i - 2], TokenTree::Ident(m) if m == "mod")
                    && group.delimiter() == Delimiter::Brace;
                if !after_mod {
                    declarations(group.stream(), file_dir, mod_dir, out);
                }
            }
            _ => {}
        }
    }
}

/// The `#[path = "..."]` among the attributes just before a `mod` keyword (`before` ends
/// at the keyword; a visibility such as `pub(crate)` may sit between).
fn path_attribute(before: &[TokenTree]) -> Option<String> {
    let mut rest = before;
    // Skip the visibility.
    if let [head @ .., TokenTree::Group(g)] = rest
        && g.delimiter() == Delimiter::Parenthesis
        && matches!(head.last(), Some(TokenTree::Ident(p)) if p == "pub")
    {
        rest = head;
    }
    if let [head @ .., TokenTree::Ident(p)] = rest
        && p == "pub"
    {
        rest = head;
    }
    // Walk back over `# [ ... ]` attributes.
    while let [head @ .., TokenTree::Punct(hash), TokenTree::Group(attr)] = rest {
        if hash.as_char() != '#' || attr.delimiter() != Delimiter::Bracket {
            break;
        }
        let parts: Vec<TokenTree> = attr.stream().into_iter().collect();
        if let [
            TokenTree::Ident(key),
            TokenTree::Punct(eq),
            TokenTree::Literal(lit),
        ] = parts.as_slice()
            && key == "path"
            && eq.as_char() == '='
            && let Ok(s) = syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into())
        {
            return Some(s.value());
        }
        rest = head;
    }
    None
}

/// The value of a token stream that is exactly one string literal.
fn only_string(tokens: TokenStream) -> Option<String> {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    match trees.as_slice() {
        [TokenTree::Literal(lit)] => {
            syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into())
                .ok()
                .map(|s| s.value())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_mod_declarations() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let files: &[(&str, &str)] = &[
            (
                "src/lib.rs",
                "mod a; pub(crate) mod b; #[cfg(test)] #[path = \"other/c_impl.rs\"] mod c;\n\
                 mod inline { mod d; }\ncfg_if! { if #[cfg(unix)] { pub mod e; } }\n\
                 const X: &str = include!(\"gen/x.rs\");",
            ),
            ("src/a.rs", "mod a_child;"),
            ("src/a/a_child.rs", ""),
            ("src/b/mod.rs", "mod b_child;"),
            ("src/b/b_child.rs", ""),
            ("src/other/c_impl.rs", "mod c_child;"),
            ("src/other/c_child.rs", ""),
            ("src/inline/d.rs", ""),
            ("src/e.rs", ""),
            ("src/gen/x.rs", "\"x\""),
            ("src/unused.rs", "query!(\"SELECT 1\")"),
            ("tests/t.rs", "mod common;"),
            ("tests/common/mod.rs", ""),
            ("tests/ui/fail.rs", "query!(\"SELEC 1\")"),
        ];
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
            fs::write(path, text).expect("write");
        }
        let compiled = compiled_files(&[root.join("src/lib.rs"), root.join("tests/t.rs")]);
        let mut names: Vec<String> = compiled
            .iter()
            .map(|p| p.strip_prefix(root).expect("inside").display().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "src/a.rs",
                "src/a/a_child.rs",
                "src/b/b_child.rs",
                "src/b/mod.rs",
                "src/e.rs",
                "src/gen/x.rs",
                "src/inline/d.rs",
                "src/lib.rs",
                "src/other/c_child.rs",
                "src/other/c_impl.rs",
                "tests/common/mod.rs",
                "tests/t.rs",
            ]
        );
    }
}
