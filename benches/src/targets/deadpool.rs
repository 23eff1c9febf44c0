//! Target `deadpool`: deadpool-postgres (tokio-postgres, `NoTls`) on a tokio
//! multi-thread runtime. Each request takes a connection from the pool, gets the
//! statement from that connection's cache (`prepare_cached`) and runs it.

use std::error::Error as StdError;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::{Load, REQUEST_DEADLINE, check_row};
use crate::stats::Recorder;
use crate::workload::{SINGLE_QUERY, Window};

/// Runs the load on a runtime of its own.
pub fn run(load: &Load) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let runtime = super::tokio_runtime(load.workers)?;
    runtime.block_on(drive(load))
}

async fn drive(load: &Load) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let config: tokio_postgres::Config = load.url.parse()?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager).max_size(load.connections).build()?;
    // deadpool connects on demand: open every connection before the window, holding
    // each so the next `get` has to open another.
    super::open_all(load.connections, || pool.get()).await?;
    let (window, recorders) = super::run_tasks(load, |i, window| {
        let pool = pool.clone();
        async move { super::request_loop_async(i, window, |id| single_query(&pool, id)).await }
    })
    .await?;
    let status = pool.status();
    eprintln!(
        "deadpool: size={} available={} waiting={}",
        status.size, status.available, status.waiting
    );
    pool.close();
    Ok((window, recorders))
}

/// One request, bounded as a whole (waiting for a connection included).
async fn single_query(pool: &Pool, id: i32) -> Result<(), Box<dyn StdError + Send + Sync>> {
    let request = async {
        let client = pool.get().await?;
        let statement = client.prepare_cached(SINGLE_QUERY).await?;
        let row = client.query_one(&statement, &[&id]).await?;
        Ok::<_, Box<dyn StdError + Send + Sync>>(row)
    };
    let row = tokio::time::timeout(REQUEST_DEADLINE, request)
        .await
        .map_err(|_| format!("id {id}: no answer within {REQUEST_DEADLINE:?}"))??;
    check_row(id, row.try_get::<_, i32>(0)?, row.try_get::<_, i32>(1)?)?;
    Ok(())
}
