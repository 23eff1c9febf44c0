//! The text `cargo lifeguard prepare` prints: what a `--check` found, why a statement
//! failed (with a caret under the error's position), and the closing line.

use std::path::Path;

use super::{Change, Orphan, State, Summary};
use crate::description;
use crate::pg;
use crate::scan::Found;
use crate::store;

/// What `--check` prints for each missing, stale and orphaned file.
pub(super) fn check_report(report: &mut String, changes: &[Change<'_>], orphans: &[Orphan]) {
    for change in changes {
        let name = store::file_name(&change.entry.sql);
        let (label, detail) = match &change.state {
            State::Missing => ("missing", String::new()),
            State::Stale { text, version, why } => {
                let mut fresh = change.entry.clone();
                if let Some(version) = version {
                    // Only metadata counts: keep the stored server version out of the diff.
                    fresh.server_version.clone_from(version);
                }
                let diff = similar::TextDiff::from_lines(text.as_str(), &fresh.to_json())
                    .unified_diff()
                    .context_radius(2)
                    .header("stored", "described now")
                    .to_string();
                let why = why
                    .as_ref()
                    .map(|w| format!("    the file is unreadable: {w}\n"))
                    .unwrap_or_default();
                ("stale", format!("{why}{}", indent(&diff)))
            }
        };
        report.push_str(&format!(
            "{label}: {name} ({})\n    {}\n{detail}",
            locations(change.found),
            first_line(&change.entry.sql)
        ));
    }
    for orphan in orphans {
        report.push_str(&format!(
            "orphaned: {} (no statement in the workspace uses it)\n    {}\n",
            orphan.name, orphan.sql
        ));
    }
}

/// A statement the server rejected: where, the server's message, and the line of SQL with
/// a caret under the error position. A warning when no target compiles it.
pub(super) fn failure(found: &Found, e: &pg::Error) -> String {
    let (label, note) = match found.compiled {
        true => ("error", ""),
        false => ("warning", " (no target compiles this file)"),
    };
    let mut text = format!(
        "{label}: {}{note}: {}\n",
        locations(found),
        indent_rest(&e.to_string())
    );
    match e.as_db().and_then(|db| db.position) {
        Some(position) => text.push_str(&caret(&found.sql, position)),
        None => text.push_str(&format!("    {}\n", first_line(&found.sql))),
    }
    text
}

/// The line of `sql` holding the 1-based character `position`, and a caret under it.
pub(super) fn caret(sql: &str, position: u32) -> String {
    let Some(at) = description::caret(sql, position as usize) else {
        return "    \n    ^\n".to_string();
    };
    let which = if sql.trim_end().contains('\n') {
        format!(" (line {} of the SQL)", at.line_no)
    } else {
        String::new()
    };
    format!("    {}{which}\n    {}^\n", at.line.trim_end(), at.pad)
}

/// The closing line.
pub(super) fn closing(summary: &Summary, dir: &Path) -> String {
    let n = plural(summary.statements, "statement");
    let dirty = summary.missing + summary.stale + summary.orphaned;
    let failed = plural(summary.failed, "statement");
    let skipped = match summary.skipped {
        0 => String::new(),
        k => format!(" ({k} skipped: rejected by the server, in files no target compiles)"),
    };
    if !summary.check {
        let unchanged =
            summary.statements - summary.missing - summary.stale - summary.failed - summary.skipped;
        let failed = match summary.failed {
            0 => String::new(),
            _ => format!(", {failed} failed"),
        };
        return format!(
            "prepared {n} in {}: {} added, {} updated, {} removed, {unchanged} unchanged\
             {failed}{skipped}\n",
            dir.display(),
            summary.missing,
            summary.stale,
            summary.orphaned
        );
    }
    match (dirty, summary.failed) {
        (0, 0) => format!("{n}, all fresh{skipped}\n"),
        (0, _) => format!("{n}: {failed} failed; the files of the others are fresh{skipped}\n"),
        _ => {
            let failed = match summary.failed {
                0 => String::new(),
                f => format!(", {f} failed"),
            };
            format!(
                "{} is not fresh: {} missing, {} stale, {} orphaned ({n}{failed}){skipped}; \
                 run `cargo lifeguard prepare` to fix\n",
                dir.display(),
                summary.missing,
                summary.stale,
                summary.orphaned
            )
        }
    }
}

pub(super) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The first non-blank line of `sql`, trimmed, shortened to 100 characters.
pub(super) fn first_line(sql: &str) -> String {
    let line = sql
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let more = line.chars().count() > 100 || sql.trim().lines().nth(1).is_some();
    let short: String = line.chars().take(100).collect();
    if more { format!("{short} …") } else { short }
}

/// `a:1` or `a:1, b:2, c:3 and 4 more`.
pub(super) fn locations(found: &Found) -> String {
    let all: Vec<&str> = std::iter::once(found.location.as_str())
        .chain(found.other_locations.iter().map(String::as_str))
        .collect();
    match all.len() {
        0..=3 => all.join(", "),
        n => format!("{} and {} more", all[..3].join(", "), n - 3),
    }
}

/// Every line indented by four spaces.
pub(super) fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Every line but the first indented by four spaces (for multi-line messages).
pub(super) fn indent_rest(text: &str) -> String {
    text.replace('\n', "\n    ")
}
