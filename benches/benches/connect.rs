//! What opening a connection costs, from a plain thread, with and without TLS: the
//! socket, the SSLRequest and a full TLS handshake (no session resumption), the login
//! and the server's start-up of a backend, up to the first ReadyForQuery.
//!
//! - `plain`: `sslmode=disable`;
//! - `tls require`: encrypted, the certificate not checked;
//! - `tls verify-full`: encrypted, the chain and the host name checked.
//!
//! The server is a private lifeguard-harness cluster with TLS on (trust
//! authentication), so nothing else shares it.
//!
//! `cargo bench -p lifeguard-bench --bench connect`. It reports; it asserts nothing
//! about time.

use criterion::{Criterion, criterion_group, criterion_main};
use lifeguard::pg::{Config, Connection};
use lifeguard_harness::Cluster;

fn connect(c: &mut Criterion) {
    let cluster = match Cluster::builder().tls().start() {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("connect: skipped, no private server: {e}");
            return;
        }
    };
    let ca = cluster
        .tls()
        .expect("certificates")
        .ca_cert()
        .display()
        .to_string();
    let mut group = c.benchmark_group("connect");
    for (name, params) in [
        ("plain", "sslmode=disable".to_owned()),
        ("tls require", "sslmode=require".to_owned()),
        (
            "tls verify-full",
            format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
    ] {
        let config: Config = format!("{}?{params}", cluster.url())
            .parse()
            .expect("the URL parses");
        group.bench_function(name, |b| {
            b.iter(|| Connection::connect(&config).expect("connects"))
        });
    }
    group.finish();
}

criterion_group!(benches, connect);
criterion_main!(benches);
