//! [`wait_until`]: polling with a deadline, for tests that wait for something to happen.

use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// Calls `check` until it returns `Ok(true)`, at most for `timeout`, pausing a little
/// longer each time (1 ms up to 50 ms). An `Err` from `check` counts as "not yet" (a table
/// that has not replicated yet makes a query fail); the last one is reported if the
/// deadline passes. `what` names the awaited event in the timeout error.
///
/// ```no_run
/// use std::time::Duration;
/// use lifeguard_harness::{wait_until, Cluster};
///
/// let primary = Cluster::start()?;
/// let standby = primary.start_standby()?;
/// primary.psql("postgres", "create table t (a int); insert into t values (1)")?;
/// wait_until("row on the standby", Duration::from_secs(30), || {
///     Ok(standby.psql("postgres", "select count(*) from t")? == "1")
/// })?;
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
pub fn wait_until<F>(what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Result<bool>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let last_error = match check() {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(e) => Some(e),
        };
        if Instant::now() >= deadline {
            let message = format!("timed out after {timeout:?} waiting for {what}");
            return Err(match last_error {
                Some(e) => HarnessError::new(format!("{message}; last error: {e}")),
                None => HarnessError::new(message),
            });
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
