//! The pipelined client against a real server: many coroutines on few connections,
//! errors isolated per request, faults failing every caller fast, notifications.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{eventually, fresh_config};
use lifeguard_pg::types::Type;
use lifeguard_pg::{Client, Config, Error, Timeout};

fn setup_world(config: &Config) {
    let mut conn = lifeguard_pg::Connection::connect(config).unwrap();
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS world (id int PRIMARY KEY, randomnumber int NOT NULL);
         INSERT INTO world SELECT g, g * 7 FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING",
    )
    .unwrap();
}

#[test]
fn a_thousand_coroutines_times_a_hundred_queries_over_two_connections() {
    let config = fresh_config("client_many");
    setup_world(&config);
    let clients = [
        Client::connect(&config).unwrap(),
        Client::connect(&config).unwrap(),
    ];
    let handles: Vec<_> = (0..1000)
        .map(|c: i32| {
            let client = clients[c as usize % 2].clone();
            may::go!(move || {
                for q in 0..100 {
                    let id = (c * 100 + q) % 10_000 + 1;
                    let row = client
                        .query_one("SELECT id, randomnumber FROM world WHERE id = $1", &[&id])
                        .unwrap();
                    assert_eq!(
                        row.get::<i32>(0).unwrap(),
                        id,
                        "a result reached the wrong caller"
                    );
                    assert_eq!(row.get::<i32>(1).unwrap(), id * 7);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a caller failed");
    }
    for client in &clients {
        let stats = client.stats();
        assert_eq!(stats.in_flight, 0);
        assert!(
            stats.cache_misses <= 2,
            "parsed once per connection: {stats:?}"
        );
    }
}

#[test]
fn an_error_in_one_pipelined_statement_leaves_its_neighbours_intact() {
    let config = fresh_config("client_isolation");
    let client = Client::connect(&config).unwrap();
    let handles: Vec<_> = (0..200)
        .map(|i: i32| {
            let client = client.clone();
            may::go!(move || {
                if i % 3 == 0 {
                    client
                        .query_one("SELECT 1 / ($1::int4 - $1::int4)", &[&i])
                        .map(|_| -1)
                } else {
                    client
                        .query_one("SELECT $1::int4", &[&i])
                        .and_then(|r| r.get::<i32>(0))
                }
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let result = h.join().unwrap();
        if i % 3 == 0 {
            assert_eq!(result.unwrap_err().code(), Some("22012"));
        } else {
            assert_eq!(result.unwrap(), i as i32);
        }
    }
    assert!(!client.is_closed());
}

/// `10 / $1` as a read: an error (22012) for 0, else the quotient.
fn divide(client: &Client, by: i32) -> Result<i32, Error> {
    let mut got = None;
    client.for_each_read("SELECT 10 / $1", &[Type::INT4], &[&by], |row| {
        got = Some(row.get::<i32>(0)?);
        Ok(())
    })?;
    Ok(got.expect("SELECT 10 / $1 returns a row"))
}

/// One round of reads from 200 coroutines and 2 plain threads, one in five failing;
/// each caller checks its own answers.
fn read_round(client: &Client) {
    let check = |client: &Client, caller: i32| {
        for q in 0..20 {
            let by = (caller + q) % 5;
            match divide(client, by) {
                Ok(quotient) => assert_eq!(quotient, 10 / by, "a wrong answer for {by}"),
                Err(e) => assert_eq!(e.code(), Some("22012"), "{by}: {e}"),
            }
            assert_eq!(by == 0, divide(client, by).is_err());
        }
    };
    let coroutines: Vec<_> = (0..200)
        .map(|caller| {
            let client = client.clone();
            may::go!(move || check(&client, caller))
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|caller| {
            let client = client.clone();
            std::thread::spawn(move || check(&client, caller))
        })
        .collect();
    for h in coroutines {
        h.join().expect("a coroutine caller failed");
    }
    for h in threads {
        h.join().expect("a thread caller failed");
    }
}

#[test]
fn reads_share_a_sync_and_those_a_failed_read_skipped_are_sent_again() {
    let config = fresh_config("client_shared_sync");
    let client = Client::connect(&config).unwrap();
    // The first use parses and describes: it never shares.
    assert_eq!(divide(&client, 2).unwrap(), 5);
    assert_eq!(client.stats().syncs_saved, 0);
    // Groups form whenever reads queue up faster than the I/O coroutine sends them;
    // a failed read skips the rest of its group, which is sent again.
    let shared_and_resent = eventually(Duration::from_secs(60), || {
        read_round(&client);
        let stats = client.stats();
        stats.syncs_saved > 0 && stats.reads_resent > 0
    });
    let stats = client.stats();
    assert!(
        shared_and_resent,
        "no group formed or none was skipped: {stats:?}"
    );
    assert_eq!(stats.in_flight, 0);
    assert!(!client.is_closed());
    assert_eq!(stats.cache_misses, 1, "parsed once: {stats:?}");
}

#[test]
fn a_failed_read_never_undoes_a_write_queued_beside_it() {
    let config = fresh_config("client_shared_sync_writes");
    let client = Client::connect(&config).unwrap();
    client
        .batch_execute("CREATE TABLE written (caller int, q int)")
        .unwrap();
    assert_eq!(divide(&client, 1).unwrap(), 10);
    let insert = "INSERT INTO written VALUES ($1, $2)";
    let handles: Vec<_> = (0..200)
        .map(|caller: i32| {
            let client = client.clone();
            may::go!(move || {
                for q in 0..20 {
                    client
                        .for_each_typed(insert, &[Type::INT4, Type::INT4], &[&caller, &q], |_| {
                            Ok(())
                        })
                        .unwrap();
                    let _ = divide(&client, (caller + q) % 2);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a caller failed");
    }
    let count: i64 = client
        .query_one("SELECT count(*) FROM written", &[])
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(count, 200 * 20, "every acknowledged write is there");
}

/// A proxy in front of the test server for one connection: the bytes the client sends
/// are recorded on their way. Returns the config that reaches the server through it.
fn recording_proxy(config: &Config) -> (Config, Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let lifeguard_pg::Host::Tcp(host) = config.get_host().expect("a host").clone() else {
        panic!("the recording proxy forwards to a TCP server");
    };
    let upstream = TcpStream::connect((host.as_str(), config.get_port())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut proxied = config.clone();
    // Plain text, so the recording reads as protocol messages.
    proxied
        .host("127.0.0.1")
        .port(listener.local_addr().unwrap().port())
        .ssl_mode(lifeguard_pg::SslMode::Disable);
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = sent.clone();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server_in = upstream.try_clone().unwrap();
        let mut client_out = client.try_clone().unwrap();
        std::thread::spawn(move || std::io::copy(&mut server_in, &mut client_out));
        let mut server_out = upstream;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client.read(&mut buf) {
            if n == 0 || server_out.write_all(&buf[..n]).is_err() {
                break;
            }
            record.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = server_out.shutdown(std::net::Shutdown::Both);
    });
    (proxied, sent)
}

/// The statements bound between two Syncs, in order, from the bytes a client sent (its
/// startup message first): each Bind's SQL text, and whether a Parse came with it.
fn sync_groups(sent: &[u8]) -> Vec<Vec<(String, bool)>> {
    let cstr = |b: &[u8]| -> (String, usize) {
        let end = b.iter().position(|&c| c == 0).unwrap();
        (String::from_utf8_lossy(&b[..end]).into_owned(), end + 1)
    };
    let startup = u32::from_be_bytes(sent[..4].try_into().unwrap()) as usize;
    let mut at = startup;
    let mut names = std::collections::HashMap::new();
    let (mut groups, mut group) = (Vec::new(), Vec::new());
    let mut parsed = false;
    while at + 5 <= sent.len() {
        let tag = sent[at];
        let len = u32::from_be_bytes(sent[at + 1..at + 5].try_into().unwrap()) as usize;
        let body = &sent[at + 5..at + 1 + len];
        match tag {
            b'P' => {
                let (name, used) = cstr(body);
                let (sql, _) = cstr(&body[used..]);
                names.insert(name, sql);
                parsed = true;
            }
            b'B' => {
                let (_portal, used) = cstr(body);
                let (statement, _) = cstr(&body[used..]);
                let sql = names.get(&statement).cloned().unwrap_or(statement);
                group.push((sql, std::mem::take(&mut parsed)));
            }
            b'S' => groups.push(std::mem::take(&mut group)),
            _ => {}
        }
        at += 1 + len;
    }
    groups
}

#[test]
fn no_write_and_no_parse_ever_shares_a_sync_on_the_wire() {
    let config = fresh_config("client_shared_sync_wire");
    Client::connect(&config)
        .unwrap()
        .batch_execute("CREATE TABLE written (caller int, q int)")
        .unwrap();
    let (proxied, sent) = recording_proxy(&config);
    let client = Client::connect(&proxied).unwrap();
    let insert = "INSERT INTO written VALUES ($1, $2)";
    let round = || {
        let handles: Vec<_> = (0..200)
            .map(|caller: i32| {
                let client = client.clone();
                may::go!(move || {
                    for q in 0..10 {
                        let _ = divide(&client, (caller + q) % 3);
                        if (caller + q) % 4 == 0 {
                            client
                                .for_each_typed(
                                    insert,
                                    &[Type::INT4, Type::INT4],
                                    &[&caller, &q],
                                    |_| Ok(()),
                                )
                                .unwrap();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("a caller failed");
        }
    };
    // Until the recording shows reads sharing a Sync next to writes.
    let shared = eventually(Duration::from_secs(60), || {
        round();
        let groups = sync_groups(&sent.lock().unwrap());
        groups.iter().any(|g| g.len() > 1)
    });
    assert!(shared, "no reads shared a Sync: {:?}", client.stats());
    let groups = sync_groups(&sent.lock().unwrap());
    for group in groups.iter().filter(|g| g.len() > 1) {
        for member in group {
            assert_eq!(
                member,
                &("SELECT 10 / $1".to_owned(), false),
                "only reads parsed before share a Sync: {group:?}"
            );
        }
    }
    assert!(
        groups
            .iter()
            .any(|g| g.iter().any(|(sql, _)| sql == insert))
    );
}

#[test]
fn query_typed_sends_parse_bind_execute_in_one_round_trip() {
    let config = fresh_config("client_typed");
    let client = Client::connect(&config).unwrap();
    let rows = client
        .query_typed(
            "SELECT $1 + 1, $2 || '!'",
            &[Type::INT8, Type::TEXT],
            &[&1i64, &"hi"],
        )
        .unwrap();
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 2);
    assert_eq!(rows[0].get::<String>(1).unwrap(), "hi!");
    let again = client
        .query_typed(
            "SELECT $1 + 1, $2 || '!'",
            &[Type::INT8, Type::TEXT],
            &[&5i64, &"yo"],
        )
        .unwrap();
    assert_eq!(again[0].get::<i64>(0).unwrap(), 6);
    let stats = client.stats();
    assert_eq!((stats.cache_misses, stats.cache_hits), (1, 1));
    // A bad statement is not cached: it fails the same way every time.
    for _ in 0..2 {
        let err = client.query_typed("SELECT nope", &[], &[]).unwrap_err();
        assert_eq!(err.code(), Some("42703"));
    }
    assert_eq!(
        client
            .query_one("SELECT 3", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        3
    );
}

#[test]
fn a_deadline_bounds_each_request_and_the_connection_goes_on() {
    let config = fresh_config("client_deadline");
    let client = Client::connect(&config).unwrap();
    let hurried = client.with_deadline(Duration::from_millis(200));
    let started = Instant::now();
    let err = hurried.execute("SELECT pg_sleep(1)", &[]).unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Request)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The late answer is discarded; the next caller gets its own.
    assert_eq!(
        client
            .query_one("SELECT 11", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        11
    );
}

#[test]
fn notifications_on_the_pipelined_client_are_all_delivered_in_order() {
    let config = fresh_config("client_notify");
    let listener = Client::connect(&config).unwrap();
    let rx = listener.notifications().unwrap();
    assert!(listener.notifications().is_none());
    listener.batch_execute("LISTEN ch").unwrap();
    let sender = Client::connect(&config).unwrap();
    for i in 0..1000 {
        sender
            .execute("SELECT pg_notify('ch', $1)", &[&i.to_string()])
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 1000 {
        let n = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a notification within 10 s");
        got.push(n.payload().parse::<i32>().unwrap());
    }
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn unread_notifications_are_bounded_and_the_dropped_ones_counted() {
    let config = fresh_config("client_notify_cap");
    let listener = Client::connect(&config).unwrap();
    let rx = listener.notifications().unwrap();
    listener.batch_execute("LISTEN flood").unwrap();
    let sender = Client::connect(&config).unwrap();
    sender
        .batch_execute("SELECT pg_notify('flood', g::text) FROM generate_series(1, 100010) g")
        .unwrap();
    // The listener's own round trip comes after every notification sent before it.
    lifeguard_harness::wait_until(
        "all 100,010 notifications seen",
        Duration::from_secs(30),
        || {
            listener.batch_execute("").unwrap();
            Ok(rx.dropped() == 10)
        },
    )
    .unwrap();
    let first = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(first.payload(), "1");
    let mut read = 1;
    while rx.try_recv().is_some() {
        read += 1;
    }
    assert_eq!(read, 100_000);
    // Room again: the next one is kept.
    sender
        .execute("SELECT pg_notify('flood', 'again')", &[])
        .unwrap();
    let next = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(next.payload(), "again");
}

#[test]
fn a_response_over_the_limit_fails_alone_and_its_neighbours_get_their_own() {
    let config = fresh_config("client_big");
    let client = Client::connect(&config).unwrap();
    client.set_max_response_bytes(1 << 20);
    // Many rows (kept until the limit, then dropped) and one oversized row (never
    // buffered whole), each surrounded by small requests from other coroutines.
    let big = [
        "SELECT repeat('x', 1000) FROM generate_series(1, 5000)",
        "SELECT repeat('y', 4000000)",
    ];
    let handles: Vec<_> = (0..200i32)
        .map(|i| {
            let client = client.clone();
            may::go!(move || {
                if i % 50 == 0 {
                    let sql = big[(i / 50) as usize % 2];
                    let err = client.query(sql, &[]).unwrap_err();
                    assert!(matches!(err, Error::Unsupported(_)), "{err}");
                    assert!(err.to_string().contains("max_response_bytes"), "{err}");
                } else {
                    let row = client.query_one("SELECT $1::int4", &[&i]).unwrap();
                    assert_eq!(row.get::<i32>(0).unwrap(), i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(!client.is_closed());
    let rows = client
        .query("SELECT repeat('z', 100) FROM generate_series(1, 100)", &[])
        .unwrap();
    assert_eq!(rows.len(), 100);
}

#[test]
fn the_statement_cache_is_bounded_and_untyped_sql_is_parsed_once() {
    let config = fresh_config("client_cache");
    let client = Client::connect(&config).unwrap();
    let prepared = |client: &Client| {
        client
            .query_one("SELECT count(*)::int8 FROM pg_prepared_statements", &[])
            .unwrap()
            .get::<i64>(0)
            .unwrap()
    };
    // Untyped SQL: described and run as one server statement, parsed once.
    let before = prepared(&client);
    client.query("SELECT $1::int4 + 100", &[&1i32]).unwrap();
    client.query("SELECT $1::int4 + 100", &[&2i32]).unwrap();
    assert_eq!(prepared(&client), before + 1);

    client.set_statement_cache_capacity(50);
    let handles: Vec<_> = (0..3000i32)
        .map(|i| {
            let client = client.clone();
            may::go!(move || {
                let sql = format!("SELECT $1::int4 + {i}");
                let row = client.query_one(sql.as_str(), &[&1i32]).unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), i + 1);
                let typed = client
                    .query_typed(&format!("SELECT $1::int8 * {i}"), &[Type::INT8], &[&2i64])
                    .unwrap();
                assert_eq!(typed[0].get::<i64>(0).unwrap(), 2 * i as i64);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(
        client.stats().statements_cached <= 50,
        "{:?}",
        client.stats()
    );
    let on_server = prepared(&client);
    assert!(
        on_server <= 50,
        "{on_server} statements left prepared on the server"
    );
    // Statements evicted and parsed again still run right.
    for i in [0, 1500, 2999] {
        let row = client
            .query_one(format!("SELECT $1::int4 + {i}").as_str(), &[&5i32])
            .unwrap();
        assert_eq!(row.get::<i32>(0).unwrap(), i + 5);
    }
    // A Statement held while the cache closes it runs again, parsed anew.
    let held = client.prepare("SELECT $1::int4 * 7").unwrap();
    for i in 0..60i32 {
        client
            .query_one(format!("SELECT {i}::int4 + $1").as_str(), &[&1i32])
            .unwrap();
    }
    assert_eq!(
        client
            .query_one(&held, &[&3i32])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        21
    );
    // Shrinking the cache closes what no longer fits, with the next request.
    client.set_statement_cache_capacity(0);
    assert_eq!(prepared(&client), 0);
    let row = client.query_one("SELECT $1::text || 'x'", &[&"a"]).unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "ax");
    assert_eq!(prepared(&client), 0);
}

/// Starts `callers` coroutines that query in a loop until they see an error; returns
/// the time from `fault` to the last caller's error.
fn every_caller_fails_fast(client: &Client, fault: impl FnOnce()) -> Duration {
    let callers = 64;
    let running = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..callers)
        .map(|_| {
            let client = client.clone();
            let running = running.clone();
            may::go!(move || {
                running.fetch_add(1, Ordering::SeqCst);
                loop {
                    if let Err(e) = client.query_one("SELECT pg_sleep(0.001)", &[]) {
                        return (Instant::now(), e);
                    }
                }
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(10), || running
        .load(Ordering::SeqCst)
        == callers));
    let faulted = Instant::now();
    fault();
    let mut last = faulted;
    for h in handles {
        let (when, err) = h.join().unwrap();
        assert!(
            err.is_connection_error(),
            "expected a connection error, got {err}"
        );
        last = last.max(when);
    }
    assert!(client.is_closed());
    let started = Instant::now();
    let err = client.query_one("SELECT 1", &[]).unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "later calls fail fast, without waiting for the server"
    );
    last - faulted
}

#[test]
fn terminated_backend_under_load_fails_every_caller_within_two_seconds() {
    let config = fresh_config("client_terminate");
    let client = Client::connect(&config).unwrap();
    let pid = client.process_id();
    let mut admin = lifeguard_pg::Connection::connect(&config).unwrap();
    let took = every_caller_fails_fast(&client, || {
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap();
    });
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn server_stopped_immediately_under_load_fails_every_caller_within_two_seconds() {
    let cluster = lifeguard_harness::Cluster::start().unwrap();
    let config: Config = cluster.url().parse().unwrap();
    let client = Client::connect(&config).unwrap();
    let took = every_caller_fails_fast(&client, || {
        cluster
            .stop(lifeguard_harness::StopMode::Immediate)
            .unwrap();
    });
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let started = Instant::now();
    assert!(Client::connect(&config).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "connecting to a dead server fails fast"
    );
}

/// A frozen server (SIGSTOP of a private cluster): with no deadline of their own,
/// 64 callers in coroutines and 8 on threads all get `Closed` naming the stall within
/// the stall timeout + 1 s, and the connection counts as closed.
#[test]
fn a_frozen_server_closes_the_pipelined_connection_after_its_stall_timeout() {
    let cluster = lifeguard_harness::Cluster::start().unwrap();
    let config: Config = cluster.url().parse().unwrap();
    let client = Client::connect(&config).unwrap();
    let stall = Duration::from_secs(1);
    client.set_stall_timeout(Some(stall));
    assert_eq!(
        client
            .query_one("SELECT 1", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        1
    );
    cluster.freeze().unwrap();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..72 {
        let (client, tx) = (client.clone(), tx.clone());
        let call = move || {
            let result = client.query_one("SELECT $1::int4", &[&i]);
            let _ = tx.send((started.elapsed(), result.map(drop)));
        };
        if i < 64 {
            may::go!(call);
        } else {
            std::thread::spawn(call);
        }
    }
    for _ in 0..72 {
        let (took, result) = rx
            .recv_timeout(stall + Duration::from_secs(5))
            .expect("a caller still waits on the frozen server");
        assert!(took < stall + Duration::from_secs(1), "{took:?}");
        match result {
            Err(Error::Closed { reason }) => assert!(reason.contains("stall"), "{reason}"),
            other => panic!("expected Closed naming the stall, got {other:?}"),
        }
    }
    assert!(client.is_closed());
    cluster.thaw().unwrap();
}
