//! The exclusive connection against a real server: queries, types, the statement
//! cache, transactions, COPY, LISTEN/NOTIFY, notices and the statement timeout.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fresh_config;
use lifeguard_pg::{Connection, Error, SimpleQueryMessage, Stream, Timeout};

#[test]
fn query_binds_parameters_and_decodes_rows_by_index_and_name() {
    let mut conn = Connection::connect(&fresh_config("conn_query")).unwrap();
    let rows = conn
        .query(
            "SELECT $1::int4 + 1 AS n, $2::text AS s, NULL::int8 AS nothing, $3::bytea AS b",
            &[&41i32, &"hello", &vec![1u8, 2, 3]],
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.get::<i32>(0).unwrap(), 42);
    assert_eq!(row.get::<String>("s").unwrap(), "hello");
    assert_eq!(row.get::<Option<i64>>("nothing").unwrap(), None);
    assert_eq!(row.get::<Vec<u8>>("b").unwrap(), vec![1, 2, 3]);
    assert!(matches!(
        row.get::<i64>("nothing"),
        Err(Error::UnexpectedNull { column }) if column == "nothing"
    ));
    assert!(matches!(row.get::<i64>("n"), Err(Error::Decode { column, .. }) if column == "n"));
    assert!(matches!(
        row.get::<i32>("missing"),
        Err(Error::ColumnNotFound(_))
    ));
}

#[test]
fn execute_counts_rows_and_server_errors_carry_every_field() {
    let mut conn = Connection::connect(&fresh_config("conn_exec")).unwrap();
    conn.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)")
        .unwrap();
    let n = conn
        .execute(
            "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 5) g",
            &[],
        )
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(
        conn.execute("UPDATE t SET v = 'y' WHERE id > $1", &[&2i32])
            .unwrap(),
        3
    );
    let err = conn
        .execute("INSERT INTO t VALUES (1, 'dup')", &[])
        .unwrap_err();
    let db = err.as_db().expect("a server error");
    assert_eq!(db.code, "23505");
    assert_eq!(db.table.as_deref(), Some("t"));
    assert_eq!(db.constraint.as_deref(), Some("t_pkey"));
    assert!(
        db.detail
            .as_deref()
            .unwrap_or("")
            .contains("already exists")
    );
    let err = conn.query("SELECT nope FROM t", &[]).unwrap_err();
    assert_eq!(err.code(), Some("42703"));
    assert_eq!(err.as_db().unwrap().position, Some(8));
    // The connection is still usable after errors.
    assert_eq!(
        conn.query_one("SELECT count(*) FROM t", &[])
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        5
    );
}

/// A name two columns share is an error naming both, never the first of them; by index
/// each stays reachable. The same holds for the text rows of a simple query.
#[test]
fn a_column_name_two_columns_share_is_ambiguous() {
    let mut conn = Connection::connect(&fresh_config("conn_ambiguous")).unwrap();
    let row = conn
        .query_one("SELECT 1::int4 AS id, 2::int4 AS id, 3::int4 AS other", &[])
        .unwrap();
    let err = row.get::<i32>("id").unwrap_err();
    assert!(
        matches!(&err, Error::AmbiguousColumn { name, positions } if name == "id" && positions == &[0, 1]),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"id\" is ambiguous"), "{err}");
    assert!(matches!(row.raw("id"), Err(Error::AmbiguousColumn { .. })));
    assert_eq!(
        (row.get::<i32>(0).unwrap(), row.get::<i32>(1).unwrap()),
        (1, 2)
    );
    assert_eq!(row.get::<i32>("other").unwrap(), 3);

    let messages = conn.simple_query("SELECT 1 AS id, 2 AS id").unwrap();
    let Some(SimpleQueryMessage::Row(simple)) = messages.first() else {
        panic!("no row: {messages:?}");
    };
    assert!(matches!(
        simple.try_get("id"),
        Err(Error::AmbiguousColumn { .. })
    ));
    assert_eq!(simple.get(1), Some("2"));
}

#[test]
fn simple_query_returns_text_rows_per_statement() {
    let mut conn = Connection::connect(&fresh_config("conn_simple")).unwrap();
    let messages = conn
        .simple_query("SELECT 1 AS a, NULL AS b; SELECT 'x' AS c")
        .unwrap();
    let rows: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get("a"), Some("1"));
    assert_eq!(rows[0].get("b"), None);
    assert_eq!(rows[1].get(0), Some("x"));
}

/// A stream that records every byte written, to see which messages went out.
struct Recording<S> {
    inner: S,
    written: Arc<Mutex<Vec<u8>>>,
}

impl<S: Read> Read for Recording<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Recording<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written.lock().unwrap().extend_from_slice(buf);
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<S: Stream> Stream for Recording<S> {}

/// The tags of the frontend messages in `bytes` (after the startup packet).
fn tags(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[i + 1..i + 5].try_into().unwrap()) as usize;
        out.push(bytes[i]);
        i += len + 1;
    }
    out
}

/// 3,000 distinct run-time statements leave no more than the cache's bound prepared
/// in the session; a statement held while evicted, or only described, still runs; a
/// capacity of 0 leaves nothing behind; a session that dropped its statements
/// (`DISCARD ALL`) costs one error, then they are prepared again.
#[test]
fn the_statement_cache_is_bounded_and_closes_what_it_evicts() {
    let mut conn = Connection::connect(&fresh_config("conn_cache")).unwrap();
    let prepared = |conn: &mut Connection| {
        conn.simple_query("SELECT count(*) FROM pg_prepared_statements")
            .unwrap()
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(|v| v.parse::<usize>().unwrap()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(conn.statement_cache_capacity(), 256);
    let held = conn.prepare("SELECT $1::int4 * 7").unwrap();
    for i in 0..3000i32 {
        let row = conn
            .query_one(format!("SELECT $1::int4 + {i}").as_str(), &[&1i32])
            .unwrap();
        assert_eq!(row.get::<i32>(0).unwrap(), i + 1);
    }
    assert_eq!(conn.statements_cached(), 256);
    assert_eq!(prepared(&mut conn), 256);
    assert_eq!(
        conn.query_one(&held, &[&3i32])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        21
    );

    let described = conn.describe("SELECT $1::text || '!'", &[]).unwrap();
    assert_eq!(described.name(), "", "describe leaves no statement behind");
    let row = conn.query_one(&described, &[&"hi"]).unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "hi!");

    conn.set_statement_cache_capacity(10);
    conn.execute("SELECT 1", &[]).unwrap();
    assert_eq!(prepared(&mut conn), 10);
    conn.set_statement_cache_capacity(0);
    for i in 0..20 {
        conn.execute(format!("SELECT {i}").as_str(), &[]).unwrap();
    }
    assert_eq!((conn.statements_cached(), prepared(&mut conn)), (0, 0));

    conn.set_statement_cache_capacity(8);
    conn.execute("SELECT 2", &[]).unwrap();
    conn.batch_execute("DISCARD ALL").unwrap();
    let err = conn.execute("SELECT 2", &[]).unwrap_err();
    assert!(
        matches!(&err, Error::Db(db) if db.code == "26000"),
        "{err:?}"
    );
    conn.execute("SELECT 2", &[]).unwrap();

    // A migration that changes what `SELECT *` returns: one error, then the statement
    // is prepared again with the new columns.
    conn.batch_execute("CREATE TABLE migrated (id int); INSERT INTO migrated VALUES (1)")
        .unwrap();
    assert_eq!(
        conn.query_one("SELECT * FROM migrated", &[]).unwrap().len(),
        1
    );
    conn.batch_execute("ALTER TABLE migrated ADD COLUMN added int")
        .unwrap();
    let err = conn.query_one("SELECT * FROM migrated", &[]).unwrap_err();
    assert_eq!(err.code(), Some("0A000"), "{err}");
    assert_eq!(
        conn.query_one("SELECT * FROM migrated", &[]).unwrap().len(),
        2
    );
}

#[test]
fn a_statement_cache_hit_sends_no_parse() {
    let config = fresh_config("conn_cache");
    let url_conn = Connection::connect(&config).unwrap();
    drop(url_conn);
    let socket = std::net::TcpStream::connect(match config.get_host() {
        Some(lifeguard_pg::Host::Tcp(h)) => format!("{h}:{}", config.get_port()),
        _ => format!("127.0.0.1:{}", config.get_port()),
    })
    .unwrap();
    let written = Arc::new(Mutex::new(Vec::new()));
    let stream = Recording {
        inner: lifeguard_pg::Socket::StdTcp(socket),
        written: written.clone(),
    };
    let mut conn = Connection::handshake(stream, &config).unwrap();
    written.lock().unwrap().clear();
    conn.query("SELECT $1::int4", &[&1i32]).unwrap();
    let first = tags(&std::mem::take(&mut *written.lock().unwrap()));
    assert!(first.contains(&b'P'), "first use parses: {first:?}");
    conn.query("SELECT $1::int4", &[&2i32]).unwrap();
    let second = tags(&written.lock().unwrap());
    assert_eq!(
        second,
        b"BES".to_vec(),
        "a cache hit is Bind, Execute, Sync only"
    );
}

#[test]
fn committing_an_aborted_transaction_is_an_error_and_saves_nothing() {
    let mut conn = Connection::connect(&fresh_config("conn_rolled_back")).unwrap();
    conn.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .unwrap();
    let mut tx = conn.transaction().unwrap();
    tx.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let _ = tx.execute("INSERT INTO t VALUES (1)", &[]);
    let err = tx.commit().unwrap_err();
    assert!(
        matches!(err, lifeguard_pg::Error::RolledBack { .. }),
        "{err}"
    );
    assert_eq!(
        conn.transaction_status(),
        lifeguard_pg::TransactionStatus::Idle
    );
    let rows = conn.query("SELECT id FROM t", &[]).unwrap();
    assert!(rows.is_empty(), "nothing was saved");
}

#[test]
fn savepoint_rolls_back_alone_and_dropped_transaction_rolls_back() {
    let mut conn = Connection::connect(&fresh_config("conn_tx")).unwrap();
    conn.batch_execute("CREATE TABLE t (id int)").unwrap();
    {
        let mut tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        {
            let mut sp = tx.transaction().unwrap();
            sp.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
            sp.rollback().unwrap();
        }
        {
            let mut sp = tx.transaction().unwrap();
            sp.execute("INSERT INTO t VALUES (3)", &[]).unwrap();
            // dropped unfinished: rolled back to the savepoint
        }
        {
            let mut sp = tx.transaction().unwrap();
            sp.execute("INSERT INTO t VALUES (4)", &[]).unwrap();
            sp.commit().unwrap();
        }
        tx.commit().unwrap();
    }
    {
        let mut tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (5)", &[]).unwrap();
        // dropped unfinished: the whole transaction rolls back
    }
    let ids: Vec<i32> = conn
        .query("SELECT id FROM t ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(ids, vec![1, 4]);
    // No transaction is left open: COMMIT only warns that none is in progress.
    conn.take_notices();
    conn.batch_execute("COMMIT").unwrap();
    let notices = conn.take_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].code, "25P01");
}

#[test]
fn copy_in_100k_rows_and_out_again_identical_text_and_binary() {
    let mut conn = Connection::connect(&fresh_config("conn_copy")).unwrap();
    conn.batch_execute("CREATE TABLE c (id int, name text, note text)")
        .unwrap();
    let mut data = Vec::new();
    for i in 0..100_000 {
        let note = if i % 7 == 0 {
            "\\N".to_owned()
        } else {
            format!("n\\t{i}")
        };
        writeln!(data, "{i}\tname {i}\t{note}").unwrap();
    }
    let mut copy = conn.copy_in("COPY c FROM STDIN").unwrap();
    for chunk in data.chunks(10_000) {
        copy.write_all(chunk).unwrap();
    }
    assert_eq!(copy.finish().unwrap(), 100_000);

    let mut out = Vec::new();
    let mut reader = conn
        .copy_out("COPY (SELECT * FROM c ORDER BY id) TO STDOUT")
        .unwrap();
    reader.read_to_end(&mut out).unwrap();
    drop(reader);
    assert_eq!(out.len(), data.len());
    assert!(out == data, "COPY out differs from what went in");

    let mut binary = Vec::new();
    conn.copy_out("COPY c TO STDOUT (FORMAT binary)")
        .unwrap()
        .read_to_end(&mut binary)
        .unwrap();
    conn.batch_execute("CREATE TABLE c2 (LIKE c)").unwrap();
    let mut copy = conn.copy_in("COPY c2 FROM STDIN (FORMAT binary)").unwrap();
    copy.write_all(&binary).unwrap();
    assert_eq!(copy.finish().unwrap(), 100_000);
    let same = conn
        .query_one(
            "SELECT count(*) FROM (SELECT * FROM c EXCEPT SELECT * FROM c2) d",
            &[],
        )
        .unwrap();
    assert_eq!(same.get::<i64>(0).unwrap(), 0);
}

#[test]
fn an_abandoned_copy_in_inserts_nothing_and_the_connection_goes_on() {
    let mut conn = Connection::connect(&fresh_config("conn_copyfail")).unwrap();
    conn.batch_execute("CREATE TABLE c (id int)").unwrap();
    {
        let mut copy = conn.copy_in("COPY c FROM STDIN").unwrap();
        copy.write_all(b"1\n2\n").unwrap();
    }
    let n = conn.query_one("SELECT count(*) FROM c", &[]).unwrap();
    assert_eq!(n.get::<i64>(0).unwrap(), 0);
    assert!(conn.copy_in("COPY nope FROM STDIN").is_err());
    assert_eq!(
        conn.query_one("SELECT 1", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        1
    );
}

#[test]
fn listen_notify_delivers_every_one_of_1000_notifications() {
    let config = fresh_config("conn_notify");
    let mut listener = Connection::connect(&config).unwrap();
    listener.batch_execute("LISTEN jobs").unwrap();
    let mut sender = Connection::connect(&config).unwrap();
    for i in 0..1000 {
        sender
            .execute("SELECT pg_notify('jobs', $1)", &[&i.to_string()])
            .unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 1000 && Instant::now() < deadline {
        if let Some(n) = listener
            .wait_for_notification(Duration::from_secs(1))
            .unwrap()
        {
            assert_eq!(n.channel(), "jobs");
            got.push(n.payload().parse::<i32>().unwrap());
        }
    }
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn notices_are_surfaced() {
    let mut conn = Connection::connect(&fresh_config("conn_notice")).unwrap();
    conn.batch_execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        .unwrap();
    let notices = conn.take_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].message, "hello 42");
}

#[test]
fn statement_timeout_cancels_on_the_server_and_the_connection_is_reused() {
    let mut conn = Connection::connect(&fresh_config("conn_timeout")).unwrap();
    conn.set_statement_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let err = conn.execute("SELECT pg_sleep(30)", &[]).unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Statement)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!conn.is_closed());
    assert_eq!(
        conn.query_one("SELECT 7", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        7
    );
}

#[test]
fn cancel_token_cancels_from_another_thread() {
    let config = fresh_config("conn_cancel");
    let mut conn = Connection::connect(&config).unwrap();
    let token = conn.cancel_token().unwrap();
    let pid = conn.process_id();
    // Cancels once the statement is seen running (a cancel before it starts would
    // cancel nothing).
    let canceller = std::thread::spawn(move || {
        let mut watcher = Connection::connect(&config).unwrap();
        let running = common::eventually(Duration::from_secs(10), || {
            watcher
                .query_opt(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' \
                     AND query LIKE '%pg_sleep%'",
                    &[&pid],
                )
                .unwrap()
                .is_some()
        });
        assert!(running, "the statement never started");
        token.cancel()
    });
    let err = conn.execute("SELECT pg_sleep(30)", &[]).unwrap_err();
    assert_eq!(err.code(), Some("57014"));
    canceller.join().unwrap().unwrap();
    assert_eq!(
        conn.query_one("SELECT 1", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        1
    );
}

#[test]
fn works_inside_a_coroutine_over_may_sockets() {
    let config = fresh_config("conn_may");
    let sum = common::in_coroutine(move || {
        let mut conn = Connection::connect(&config).unwrap();
        let socket = match conn.stream() {
            lifeguard_pg::Socket::Tls(tls) => tls.socket(),
            plain => plain,
        };
        assert!(matches!(
            socket,
            lifeguard_pg::Socket::MayTcp(_) | lifeguard_pg::Socket::MayUnix(_)
        ));
        conn.query_one("SELECT sum(g)::int8 FROM generate_series(1, 100) g", &[])
            .unwrap()
            .get::<i64>(0)
            .unwrap()
    });
    assert_eq!(sum, 5050);
}
