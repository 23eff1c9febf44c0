//! [`HarnessError`], the one error type of this crate, and its [`Result`] alias.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::process::{Command, ExitStatus, Output};
use std::sync::Arc;

/// `Result` with [`HarnessError`] as the default error type.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// What went wrong while finding, starting, controlling or querying a cluster.
///
/// Its `Display` is meant to be read by a person looking at a failed test: a one-line
/// message, then (when known) the command that was run, its exit status and its stderr.
/// The error is `Clone` so that a failure cached for the whole process (no PostgreSQL
/// installed, the shared cluster did not start) can be returned to every caller.
///
/// ```
/// fn start() -> lifeguard_harness::Result<()> {
///     Err(lifeguard_harness::HarnessError::new("no server"))
/// }
/// let err = start().unwrap_err();
/// assert_eq!(err.message(), "no server");
/// assert!(err.command().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct HarnessError {
    message: String,
    command: Option<String>,
    status: Option<String>,
    stderr: Option<String>,
    source: Option<Arc<io::Error>>,
}

impl HarnessError {
    /// An error with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        HarnessError {
            message: message.into(),
            command: None,
            status: None,
            stderr: None,
            source: None,
        }
    }

    /// An I/O error, with what was being done when it happened.
    pub(crate) fn io(context: impl Into<String>, err: io::Error) -> Self {
        let mut e = HarnessError::new(format!("{}: {err}", context.into()));
        e.source = Some(Arc::new(err));
        e
    }

    /// Records the command line that failed.
    pub(crate) fn with_command(mut self, cmd: &Command) -> Self {
        self.command = Some(render_command(cmd));
        self
    }

    /// Records an exit status and the captured stderr of a finished command.
    pub(crate) fn with_output(mut self, out: &Output) -> Self {
        self.status = Some(render_status(out.status));
        self.stderr = Some(String::from_utf8_lossy(&out.stderr).into_owned());
        self
    }

    /// Records free-form diagnostic text (for example the tail of a server log) as stderr.
    pub(crate) fn with_stderr(mut self, text: impl Into<String>) -> Self {
        self.stderr = Some(text.into());
        self
    }

    /// The one-line description of what failed.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The command line that was run, shell-quoted, when a command failed.
    pub fn command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// The exit status of the failed command (for example `exit status: 1`).
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// What the failed command wrote to stderr, or the tail of the server log when the
    /// server itself failed.
    pub fn stderr(&self) -> Option<&str> {
        self.stderr.as_deref()
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(cmd) = &self.command {
            write!(f, "\n  command: {cmd}")?;
        }
        if let Some(status) = &self.status {
            write!(f, "\n  {status}")?;
        }
        if let Some(stderr) = self.stderr.as_deref().map(str::trim_end)
            && !stderr.is_empty()
        {
            f.write_str("\n  stderr:")?;
            for line in stderr.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

fn render_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status: {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => format!("{status}"),
    }
}

/// The command line of `cmd`, quoted so that it can be pasted into a shell.
pub(crate) fn render_command(cmd: &Command) -> String {
    let mut out = quote(cmd.get_program());
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&quote(arg));
    }
    out
}

fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_command_status_and_stderr() {
        let mut cmd = Command::new("psql");
        cmd.args(["-c", "select 'x'"]);
        let err = HarnessError::new("psql failed")
            .with_command(&cmd)
            .with_stderr("ERROR: boom\nLINE 1");
        let text = err.to_string();
        assert!(text.starts_with("psql failed\n  command: psql -c 'select '\\''x'\\'''"));
        assert!(text.contains("\n  stderr:\n    ERROR: boom\n    LINE 1"));
    }
}
