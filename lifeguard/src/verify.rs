//! Start-up verification: every statement compiled into the binary, described again on
//! the live database and compared with what the compile-time check saw.
//!
//! Each `query!` expansion registers its [`StatementInfo`] (see [`registry`]), so a
//! deploy against a migrated schema fails before it takes traffic instead of at the
//! first request that runs the statement.

use std::collections::HashSet;
use std::fmt;

use lifeguard_offline::describe::Describer;
use lifeguard_offline::description::{Description, Nullability};
use lifeguard_pg::{Config, Connection, Error};

use crate::checked::StatementInfo;
use crate::pool::Pool;

impl Pool {
    /// Describes every statement the `query!` family compiled into this binary on the
    /// database, on a connection of its own, and reports what drifted since the
    /// compile-time check: a column gone, a type or nullability changed, a parameter
    /// type changed, a statement the server now rejects. Run it at start-up, before
    /// taking traffic, so a deploy against a migrated schema fails there.
    ///
    /// ```no_run
    /// # fn demo(pool: &lifeguard::Pool) -> Result<(), Box<dyn std::error::Error>> {
    /// let report = pool.verify_statements()?;
    /// if !report.is_ok() {
    ///     return Err(report.to_string().into());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn verify_statements(&self) -> Result<VerifyReport, Error> {
        verify(&self.server_config(), &registered_statements())
    }
}

/// Every statement the `query!` family compiled into this binary, each once (on Linux;
/// elsewhere none: the registry is an ELF link section).
pub fn registered_statements() -> Vec<&'static StatementInfo> {
    let mut seen = HashSet::new();
    registry::all()
        .iter()
        .filter(|s| seen.insert(s.sql))
        .collect()
}

/// Where the expansions put their statements: each `query!` places its `static`
/// [`StatementInfo`] in the ELF section `lifeguard_statements`, and the linker brackets
/// the section with `__start_`/`__stop_` symbols. Registration costs the compiler one
/// attribute per call, where `inventory` or `linkme` cost as much as the rest of the
/// expansion. Other platforms register nothing (`verify_statements` says so).
mod registry {
    use crate::checked::StatementInfo;

    #[cfg(target_os = "linux")]
    unsafe extern "Rust" {
        #[link_name = "__start_lifeguard_statements"]
        static START: StatementInfo;
        #[link_name = "__stop_lifeguard_statements"]
        static STOP: StatementInfo;
    }

    /// Keeps the section, and so the two symbols, in a binary with no statement.
    #[cfg(target_os = "linux")]
    #[used]
    #[unsafe(link_section = "lifeguard_statements")]
    static NONE: [StatementInfo; 0] = [];

    /// Whether this platform registers statements.
    pub const SUPPORTED: bool = cfg!(target_os = "linux");

    #[cfg(target_os = "linux")]
    pub fn all() -> &'static [StatementInfo] {
        // SAFETY: only `query!` expansions (and `NONE`, empty) place items in this
        // section, each a `static StatementInfo`; items of one type, whose size is a
        // multiple of their alignment, are laid out back to back, and the linker's START
        // and STOP bound exactly them.
        unsafe {
            let start = &raw const START;
            let stop = &raw const STOP;
            let len = (stop as usize - start as usize) / size_of::<StatementInfo>();
            std::slice::from_raw_parts(start, len)
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn all() -> &'static [StatementInfo] {
        &[]
    }
}

/// What changed for one statement between the compile-time check and the live database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The server no longer accepts the statement (a table or column is gone).
    Rejected {
        /// The server's error.
        error: String,
    },
    /// A parameter's type changed (or the number of parameters).
    ParamType {
        /// 1-based: `$n`.
        index: usize,
        /// The type at compile time (`-` for none).
        compiled: String,
        /// The type now (`-` for none).
        live: String,
    },
    /// A result column the code reads is no longer where it was: gone, renamed or
    /// moved to another position (or the statement returns fewer columns).
    ColumnGone {
        /// The column's name at compile time.
        column: String,
    },
    /// The statement now returns a column after those it returned at compile time (a
    /// column added to a table read with `SELECT *`): one per extra column. The
    /// generated code reads columns by position and ignores it; a renamed or moved
    /// column is [`ColumnGone`](Drift::ColumnGone) instead.
    ColumnAdded {
        /// The new column's name.
        column: String,
    },
    /// A column's type changed.
    ColumnType {
        /// The column.
        column: String,
        /// Its type at compile time.
        compiled: String,
        /// Its type now.
        live: String,
    },
    /// A column's nullability changed. From not-null to nullable, a NULL would fail the
    /// generated code with `Error::UnexpectedNull`; the other way is harmless.
    Nullability {
        /// The column.
        column: String,
        /// Whether it could be NULL at compile time.
        compiled_nullable: bool,
        /// Whether it can be NULL now.
        live_nullable: bool,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Rejected { error } => write!(f, "the server rejects it now: {error}"),
            Drift::ParamType {
                index,
                compiled,
                live,
            } => write!(f, "${index} was {compiled}, is now {live}"),
            Drift::ColumnGone { column } => write!(f, "column `{column}` is gone"),
            Drift::ColumnAdded { column } => write!(f, "column `{column}` is new"),
            Drift::ColumnType {
                column,
                compiled,
                live,
            } => write!(f, "column `{column}` was {compiled}, is now {live}"),
            Drift::Nullability {
                column,
                compiled_nullable,
                live_nullable,
            } => {
                let word = |n: &bool| if *n { "nullable" } else { "NOT NULL" };
                write!(
                    f,
                    "column `{column}` was {}, is now {}",
                    word(compiled_nullable),
                    word(live_nullable)
                )
            }
        }
    }
}

/// The statements that drifted, each with what changed.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// How many statements were checked.
    pub checked: usize,
    /// Each drifted statement (its SQL and location) with its changes.
    pub drifted: Vec<(&'static StatementInfo, Vec<Drift>)>,
}

impl VerifyReport {
    /// True when every statement still matches.
    pub fn is_ok(&self) -> bool {
        self.drifted.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(f, "{} statements match the live schema", self.checked);
        }
        write!(
            f,
            "{} of {} statements no longer match the live schema:",
            self.drifted.len(),
            self.checked
        )?;
        for (statement, changes) in &self.drifted {
            let first_line = statement.sql.lines().next().unwrap_or_default();
            write!(f, "\n  {} ({first_line})", statement.location)?;
            for change in changes {
                write!(f, "\n    - {change}")?;
            }
        }
        Ok(())
    }
}

/// Describes every statement in `statements` on a new connection made from `config`.
pub(crate) fn verify(
    config: &Config,
    statements: &[&'static StatementInfo],
) -> Result<VerifyReport, Error> {
    if !registry::SUPPORTED {
        return Err(Error::Config(
            "start-up verification needs the statement registry, which is built on Linux only"
                .into(),
        ));
    }
    let mut describer = Describer::new(Connection::connect(config)?);
    let mut report = VerifyReport {
        checked: statements.len(),
        drifted: Vec::new(),
    };
    for statement in statements {
        let changes = match describer.describe(statement.sql) {
            Ok(live) => compare(statement.description(), &live),
            Err(Error::Db(db)) => vec![Drift::Rejected {
                error: format!("{} (SQLSTATE {})", db.message, db.code),
            }],
            Err(other) => return Err(other),
        };
        if !changes.is_empty() {
            report.drifted.push((statement, changes));
        }
    }
    Ok(report)
}

/// The changes from `compiled` to `live` that matter to the generated code. Types are
/// compared by name (the OIDs of extension types differ between databases);
/// nullability only where the alias does not override it.
fn compare(compiled: &Description, live: &Description) -> Vec<Drift> {
    let mut out = Vec::new();
    let count = compiled.params.len().max(live.params.len());
    for i in 0..count {
        let name = |d: &Description| d.params.get(i).map_or("-".into(), |t| t.display_name());
        let (was, now) = (name(compiled), name(live));
        if was != now {
            out.push(Drift::ParamType {
                index: i + 1,
                compiled: was,
                live: now,
            });
        }
    }
    for (i, was) in compiled.columns.iter().enumerate() {
        let Some(now) = live.columns.get(i).filter(|c| c.name == was.name) else {
            out.push(Drift::ColumnGone {
                column: was.name.to_string(),
            });
            continue;
        };
        let alias = was.alias();
        let column = alias.name.to_string();
        if was.type_.name != now.type_.name {
            out.push(Drift::ColumnType {
                column: column.clone(),
                compiled: was.type_.display_name(),
                live: now.type_.display_name(),
            });
        }
        let overridden = alias.nullability.is_some();
        if !overridden && was.nullable != now.nullable {
            out.push(Drift::Nullability {
                column,
                compiled_nullable: was.nullable == Nullability::Nullable,
                live_nullable: now.nullable == Nullability::Nullable,
            });
        }
    }
    for now in live.columns.iter().skip(compiled.columns.len()) {
        out.push(Drift::ColumnAdded {
            column: now.name.to_string(),
        });
    }
    out
}
