//! The TechEmpower "single query" workload: one row by a random primary key out of
//! 10,000.

use std::time::{Duration, Instant};

use lifeguard_pg::{Config, Connection};

/// Rows in `world`; ids run from 1 to this.
pub const ROWS: i32 = 10_000;

/// The statement every request runs, with a random id as `$1` (int4).
pub const SINGLE_QUERY: &str = "SELECT id, randomnumber FROM world WHERE id = $1";

/// Creates and fills `world` when absent or incomplete. Idempotent, and safe when
/// several runs set it up at once.
pub fn setup(url: &str) -> Result<(), lifeguard_pg::Error> {
    let config: Config = url.parse()?;
    let mut conn = Connection::connect(&config)?;
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS world (id int4 PRIMARY KEY, randomnumber int4 NOT NULL)",
    )?;
    let present: i64 = conn
        .query_one(
            "SELECT count(*) FROM world WHERE id BETWEEN 1 AND $1::int4",
            &[&ROWS],
        )?
        .get(0)?;
    if present < i64::from(ROWS) {
        conn.execute(
            "INSERT INTO world (id, randomnumber) \
             SELECT g, 1 + floor(random() * 10000)::int4 FROM generate_series(1, $1::int4) AS g \
             ON CONFLICT (id) DO NOTHING",
            &[&ROWS],
        )?;
        conn.batch_execute("ANALYZE world")?;
    }
    Ok(())
}

/// A worker's source of ids: a small, fast PRNG seeded per worker, so runs repeat.
pub struct Ids(fastrand::Rng);

impl Ids {
    /// The ids of worker `worker`.
    pub fn for_worker(worker: usize) -> Ids {
        Ids(fastrand::Rng::with_seed(
            0x9E37_79B9_7F4A_7C15 ^ worker as u64,
        ))
    }

    /// A uniformly random id in `1..=ROWS`.
    pub fn next_id(&mut self) -> i32 {
        self.0.i32(1..=ROWS)
    }
}

/// When a run warms up, measures and stops. Every request loop checks it before each
/// request and stops by itself once `until` has passed.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Requests that start from here on are recorded.
    pub measure_from: Instant,
    /// No request starts from here on.
    pub until: Instant,
}

impl Window {
    /// A window that starts now: `warmup`, then `measure`.
    pub fn starting_now(warmup: Duration, measure: Duration) -> Window {
        let measure_from = Instant::now() + warmup;
        Window {
            measure_from,
            until: measure_from + measure,
        }
    }
}
