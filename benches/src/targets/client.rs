//! Target `client`: lifeguard-pg's pipelined [`Client`] on may coroutines.

use std::error::Error as StdError;

use lifeguard_pg::types::Type;
use lifeguard_pg::{Client, Config};

use super::{Load, REQUEST_DEADLINE, check_row};
use crate::stats::Recorder;
use crate::workload::{SINGLE_QUERY, Window};

/// Default stack of each request coroutine, in words (may's unit): 16 Ki words =
/// 128 KiB.
pub const STACK_WORDS: usize = 0x4000;

/// Configures may: `workers` threads, coroutines of `stack_words` words of stack
/// unless spawned with another size. Call it before anything runs a coroutine
/// (connecting a [`Client`] starts one): later, may ignores it.
pub fn configure_may(workers: usize, stack_words: usize) {
    may::config()
        .set_workers(workers)
        .set_stack_size(stack_words);
}

/// Runs the load; [`configure_may`] must have been called first.
pub fn run(load: &Load) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let config: Config = load.url.parse()?;
    let clients = (0..load.connections)
        .map(|_| Client::connect(&config).map(|c| c.with_deadline(REQUEST_DEADLINE)))
        .collect::<Result<Vec<_>, _>>()?;
    let (window, recorders) = super::run_coroutines(load, |i, window| {
        let client = clients[i % clients.len()].clone();
        move || super::request_loop(i, window, |id| single_query(&client, id))
    })?;
    for (i, client) in clients.iter().enumerate() {
        let stats = client.stats();
        eprintln!(
            "connection {i}: cache_hits={} cache_misses={} in_flight={} closed={}",
            stats.cache_hits,
            stats.cache_misses,
            stats.in_flight,
            client.is_closed()
        );
    }
    Ok((window, recorders))
}

fn single_query(client: &Client, id: i32) -> Result<(), Box<dyn StdError>> {
    let rows = client.query_typed(SINGLE_QUERY, &[Type::INT4], &[&id])?;
    let [row] = rows.as_slice() else {
        return Err(format!("id {id}: {} rows instead of one", rows.len()).into());
    };
    check_row(id, row.get::<i32>(0)?, row.get::<i32>(1)?)?;
    Ok(())
}
