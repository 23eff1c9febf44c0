//! What giving an exclusive connection back costs under each [`SessionReset`] policy:
//! one `pool.acquire()`, one `SELECT 1` on it, and the return, from a may coroutine.
//!
//! - `none`: the connection goes back as it is;
//! - `reset` (the default): the reset batch runs first (one round trip);
//! - `close`: it is closed and the next acquire opens a new one.
//!
//! The difference between `reset` and `none` is the reset's cost per returned session.
//! The server is `DATABASE_URL`, else lifeguard-harness's private server.
//!
//! `cargo bench -p lifeguard-bench --bench session_reset`. It reports; it asserts
//! nothing about time.

use criterion::{Criterion, criterion_group, criterion_main};
use lifeguard::config::SessionReset;
use lifeguard::{Pool, PoolConfig};

use lifeguard_bench::default_database_url;

fn returned_session(c: &mut Criterion) {
    let url = match default_database_url() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("session_reset: skipped, no server: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("returned session");
    for (name, policy) in [
        ("none", SessionReset::None),
        ("reset", SessionReset::Reset),
        ("close", SessionReset::Close),
    ] {
        let config = PoolConfig::new(&url)
            .expect("the server's URL parses")
            .max_exclusive(1)
            .session_reset(policy);
        let pool = Pool::new(config).expect("the pool starts");
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let pool = pool.clone();
                may::go!(move || {
                    let started = std::time::Instant::now();
                    for _ in 0..iterations {
                        let mut conn = pool.acquire().expect("a connection");
                        conn.batch_execute("SELECT 1").expect("SELECT 1");
                    }
                    started.elapsed()
                })
                .join()
                .expect("the benchmark coroutine")
            })
        });
        pool.close(std::time::Duration::from_secs(5));
    }
    group.finish();
}

criterion_group!(benches, returned_session);
criterion_main!(benches);
