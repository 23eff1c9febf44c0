//! Target `tokio-postgres`: the async peer, on a tokio multi-thread runtime.

use std::error::Error as StdError;
use std::sync::Arc;

use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Statement};

use super::{Load, REQUEST_DEADLINE, check_row};
use crate::stats::Recorder;
use crate::workload::{SINGLE_QUERY, Window};

/// Runs the load on a runtime of its own.
pub fn run(load: &Load) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let runtime = super::tokio_runtime(load.workers)?;
    runtime.block_on(drive(load))
}

async fn drive(load: &Load) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let mut clients = Vec::with_capacity(load.connections);
    for i in 0..load.connections {
        let (client, connection) = tokio_postgres::connect(&load.url, NoTls).await?;
        // Each connection is driven by its own task.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("tokio-postgres connection {i} failed: {e}");
            }
        });
        // Prepared once up front, per connection.
        let statement = client.prepare_typed(SINGLE_QUERY, &[Type::INT4]).await?;
        clients.push(Arc::new((client, statement)));
    }
    super::run_tasks(load, |i, window| {
        let shared = clients[i % clients.len()].clone();
        async move {
            let (client, statement) = &*shared;
            super::request_loop_async(i, window, |id| single_query(client, statement, id)).await
        }
    })
    .await
}

async fn single_query(
    client: &Client,
    statement: &Statement,
    id: i32,
) -> Result<(), Box<dyn StdError + Send + Sync>> {
    let row = tokio::time::timeout(REQUEST_DEADLINE, client.query_one(statement, &[&id]))
        .await
        .map_err(|_| format!("id {id}: no answer within {REQUEST_DEADLINE:?}"))??;
    check_row(id, row.try_get::<_, i32>(0)?, row.try_get::<_, i32>(1)?)?;
    Ok(())
}
