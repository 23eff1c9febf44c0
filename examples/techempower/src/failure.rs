//! Why a request failed, as a value: the handlers return it, the service answers it
//! with a 500 whose body names only the kind of failure, and the detail goes to stderr.

use std::fmt;

/// Why a request failed: answered with a 500 whose body says which kind, the detail
/// going to the service's stderr.
#[derive(Debug)]
pub enum Failure {
    /// The pool or the server.
    Database(lifeguard::Error),
    /// Writing the body.
    Render(String),
}

impl Failure {
    /// The body of the 500: short, and nothing about the SQL or the data.
    pub fn public_message(&self) -> &'static str {
        match self {
            Failure::Database(_) => "database error\n",
            Failure::Render(_) => "rendering error\n",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Database(e) => write!(f, "database: {e}"),
            Failure::Render(e) => write!(f, "render: {e}"),
        }
    }
}

impl From<lifeguard::Error> for Failure {
    fn from(e: lifeguard::Error) -> Failure {
        Failure::Database(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Failure {
        Failure::Render(e.to_string())
    }
}

impl From<askama::Error> for Failure {
    fn from(e: askama::Error) -> Failure {
        Failure::Render(e.to_string())
    }
}
