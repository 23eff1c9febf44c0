//! Target `sqlx`: sqlx's PostgreSQL pool on a tokio multi-thread runtime. Each request
//! runs `query_as` on the pool; sqlx keeps a prepared-statement cache per connection.

use std::error::Error as StdError;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::{Load, REQUEST_DEADLINE, check_row};
use crate::stats::Recorder;
use crate::workload::{SINGLE_QUERY, Window};

/// Runs the load on a runtime of its own.
pub fn run(load: &Load) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let runtime = super::tokio_runtime(load.workers)?;
    runtime.block_on(drive(load))
}

async fn drive(load: &Load) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let max = u32::try_from(load.connections)?;
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .connect(&load.url)
        .await?;
    // sqlx connects on demand: open every connection before the window, holding each
    // so the next `acquire` has to open another.
    super::open_all(load.connections, || pool.acquire()).await?;
    let (window, recorders) = super::run_tasks(load, |i, window| {
        let pool = pool.clone();
        async move { super::request_loop_async(i, window, |id| single_query(&pool, id)).await }
    })
    .await?;
    eprintln!("sqlx: size={} idle={}", pool.size(), pool.num_idle());
    pool.close().await;
    Ok((window, recorders))
}

/// One request, bounded as a whole (waiting for a connection included).
async fn single_query(pool: &PgPool, id: i32) -> Result<(), Box<dyn StdError + Send + Sync>> {
    let request = sqlx::query_as::<_, (i32, i32)>(SINGLE_QUERY)
        .bind(id)
        .fetch_one(pool);
    let (got, randomnumber) = tokio::time::timeout(REQUEST_DEADLINE, request)
        .await
        .map_err(|_| format!("id {id}: no answer within {REQUEST_DEADLINE:?}"))??;
    check_row(id, got, randomnumber)?;
    Ok(())
}
