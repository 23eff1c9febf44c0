//! Criterion benches of lifeguard-pg's hot paths.
//!
//! - `parse`: framing and parsing one response of the shape a 100-row query gets
//!   (RowDescription, 100 DataRows of two binary int4 columns, CommandComplete,
//!   ReadyForQuery) with `lifeguard_pg::codec::parse_message`; then the same with the
//!   int4 values decoded.
//! - `live`: round trips against a real server (`DATABASE_URL`, else lifeguard-harness's
//!   private server): the single query and its two `row.get::<i32>`, and 1,000 rows of
//!   `generate_series` decoded. Skipped, with a note, when no server can be reached.
//!
//! `cargo bench -p lifeguard-bench --bench codec`. They report; they assert nothing
//! about time.

use std::hint::black_box;

use bytes::{BufMut, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;

use lifeguard_bench::workload::{self, SINGLE_QUERY};
use lifeguard_pg::codec::parse_message;
use lifeguard_pg::types::{FromSql, Type};
use lifeguard_pg::{Client, Config};

const DATA_ROWS: i32 = 100;
/// RowDescription + DataRows + CommandComplete + ReadyForQuery.
const MESSAGES: u64 = DATA_ROWS as u64 + 3;

/// Appends one backend message: tag, length (itself included), body.
fn put_message(buf: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    let mut payload = BytesMut::new();
    body(&mut payload);
    buf.put_u8(tag);
    buf.put_u32(u32::try_from(payload.len() + 4).expect("small message"));
    buf.extend_from_slice(&payload);
}

/// The bytes of the response to `SELECT id, randomnumber FROM world` limited to 100 rows,
/// in binary format.
fn response_bytes() -> BytesMut {
    let mut buf = BytesMut::new();
    put_message(&mut buf, b'T', |b| {
        b.put_i16(2);
        for (attnum, name) in [(1, "id"), (2, "randomnumber")] {
            b.put_slice(name.as_bytes());
            b.put_u8(0);
            b.put_u32(16_384); // table OID
            b.put_i16(attnum);
            b.put_u32(Type::INT4.oid());
            b.put_i16(4); // type size
            b.put_i32(-1); // type modifier
            b.put_i16(1); // binary
        }
    });
    for id in 1..=DATA_ROWS {
        put_message(&mut buf, b'D', |b| {
            b.put_i16(2);
            for value in [id, id * 7 % 10_000 + 1] {
                b.put_i32(4);
                b.put_i32(value);
            }
        });
    }
    put_message(&mut buf, b'C', |b| {
        b.put_slice(b"SELECT 100\0");
    });
    put_message(&mut buf, b'Z', |b| b.put_u8(b'I'));
    buf
}

/// Parses every message of `buf`; returns how many there were.
fn parse_all(buf: &mut BytesMut) -> u64 {
    let mut n = 0;
    while let Some(message) = parse_message(buf).expect("well-formed response") {
        black_box(message);
        n += 1;
    }
    n
}

/// Parses every message of `buf` and decodes the int4 values of its DataRows; returns
/// their sum.
fn parse_and_decode(buf: &mut BytesMut) -> i64 {
    let mut sum = 0i64;
    while let Some(message) = parse_message(buf).expect("well-formed response") {
        if let Message::DataRow(row) = message {
            let body = row.buffer();
            let mut ranges = row.ranges();
            while let Some(range) = ranges.next().expect("well-formed DataRow") {
                let range = range.expect("no NULL in the fixture");
                sum += i64::from(i32::from_sql(&Type::INT4, &body[range]).expect("an int4"));
            }
        }
    }
    sum
}

fn parse(c: &mut Criterion) {
    let template = response_bytes();
    // The fixture must be what it claims before its timings mean anything.
    assert_eq!(
        parse_all(&mut template.clone()),
        MESSAGES,
        "fixture framing"
    );

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(MESSAGES));
    group.bench_function("response_100_rows", |b| {
        b.iter_batched_ref(|| template.clone(), parse_all, BatchSize::SmallInput)
    });
    group.bench_function("response_100_rows_decoded", |b| {
        b.iter_batched_ref(|| template.clone(), parse_and_decode, BatchSize::SmallInput)
    });
    group.finish();
}

/// A client on the benchmark server, with `world` in place; `None` (and why, on stderr)
/// when there is no server to reach.
fn live_client() -> Option<Client> {
    let url = match lifeguard_bench::default_database_url() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("live benches skipped: no server: {e}");
            return None;
        }
    };
    let connected = workload::setup(&url)
        .and_then(|()| url.parse::<Config>())
        .and_then(|config| Client::connect(&config));
    match connected {
        Ok(client) => Some(client),
        Err(e) => {
            eprintln!("live benches skipped: {e}");
            None
        }
    }
}

fn live(c: &mut Criterion) {
    let Some(client) = live_client() else {
        return;
    };
    let mut group = c.benchmark_group("live");

    let mut ids = workload::Ids::for_worker(0);
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_query", |b| {
        b.iter(|| {
            let id = ids.next_id();
            let rows = client
                .query_typed(SINGLE_QUERY, &[Type::INT4], &[&id])
                .expect("single query");
            let row = &rows[0];
            let id: i32 = row.get(0).expect("id");
            let randomnumber: i32 = row.get(1).expect("randomnumber");
            black_box((id, randomnumber))
        })
    });

    let series = "SELECT g AS id, g AS randomnumber FROM generate_series(1, $1) AS g";
    group.throughput(Throughput::Elements(1000));
    group.bench_function("generate_series_1000_rows", |b| {
        b.iter(|| {
            let rows = client
                .query_typed(series, &[Type::INT4], &[&1000i32])
                .expect("generate_series");
            let mut sum = 0i64;
            for row in &rows {
                sum += i64::from(row.get::<i32>(0).expect("id"));
                sum += i64::from(row.get::<i32>(1).expect("randomnumber"));
            }
            black_box(sum)
        })
    });
    group.finish();
}

criterion_group!(benches, parse, live);
criterion_main!(benches);
