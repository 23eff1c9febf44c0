//! TLS against real PostgreSQL clusters with certificates made in the test: every
//! sslmode against a TLS server and a plain one, certificate checks, client
//! certificates, SCRAM-SHA-256-PLUS and `channel_binding=require`, and the pipelined
//! client over TLS, faults included.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use lifeguard_harness::{AuthMethod, Cluster, Transport};
use lifeguard_pg::{Client, Config, Connection, Error};

/// One TLS cluster (certificates for `localhost` and `127.0.0.1`) for the tests that
/// only read; its roles are made once.
fn tls_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = Cluster::builder()
            .tls_client_user("certuser")
            .start()
            .expect("a TLS cluster starts");
        cluster
            .create_role_with("scram", Some("s3cret"), AuthMethod::ScramSha256)
            .unwrap();
        cluster
            .create_role_with("md5user", Some("s3cret"), AuthMethod::Md5)
            .unwrap();
        cluster
            .create_role_with("clear", Some("s3cret"), AuthMethod::Password)
            .unwrap();
        cluster
            .create_role_with("certuser", None, AuthMethod::Cert)
            .unwrap();
        cluster.create_role("tlsonly", None).unwrap();
        cluster
            .set_auth_over("tlsonly", AuthMethod::Trust, Transport::Tls)
            .unwrap();
        cluster.create_role("plainonly", None).unwrap();
        cluster
            .set_auth_over("plainonly", AuthMethod::Trust, Transport::Plain)
            .unwrap();
        cluster
    })
}

/// `url` with `params` (`key=value&...`) added.
fn config(url: &str, params: &str) -> Config {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}").parse().unwrap()
}

fn ca(cluster: &Cluster) -> String {
    cluster.tls().unwrap().ca_cert().display().to_string()
}

/// Whether the connection's own backend uses TLS, as the server sees it.
fn uses_tls(conn: &mut Connection) -> bool {
    conn.query_one(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .unwrap()
    .get::<bool>(0)
    .unwrap()
}

/// The error connecting with `config` gives.
fn connect_err(config: &Config) -> Error {
    match Connection::connect(config) {
        Ok(_) => panic!("connected with {config:?}"),
        Err(e) => e,
    }
}

/// Connects from a plain thread and from a may coroutine; both must agree.
fn connect_both_ways(config: &Config) -> Result<bool, String> {
    let on_thread = Connection::connect(config).map(|mut c| uses_tls(&mut c));
    let config = config.clone();
    let in_coroutine = may::go!(move || Connection::connect(&config).map(|mut c| uses_tls(&mut c)))
        .join()
        .expect("the connecting coroutine panicked");
    match (on_thread, in_coroutine) {
        (Ok(a), Ok(b)) if a == b => Ok(a),
        (Err(a), Err(b)) if a.to_string() == b.to_string() => Err(a.to_string()),
        (a, b) => panic!("a thread and a coroutine disagree: {a:?} / {b:?}"),
    }
}

#[test]
fn every_sslmode_against_a_tls_server() {
    let cluster = tls_cluster();
    let url = cluster.url();
    let root = format!("sslrootcert={}", ca(cluster));
    for (mode, tls) in [
        ("disable", false),
        ("allow", false),
        ("prefer", true),
        ("require", true),
        ("verify-ca", true),
        ("verify-full", true),
    ] {
        let got = connect_both_ways(&config(&url, &format!("sslmode={mode}&{root}")));
        assert_eq!(got, Ok(tls), "sslmode={mode}");
    }
    // prefer is the default, and encrypts when it can.
    assert_eq!(connect_both_ways(&url.parse().unwrap()), Ok(true));
    // require without a root certificate encrypts without checking.
    assert_eq!(
        connect_both_ways(&config(&url, "sslmode=require")),
        Ok(true)
    );
    // localhost is a name the certificate carries too.
    let by_name = url.replace("127.0.0.1", "localhost");
    assert_eq!(
        connect_both_ways(&config(&by_name, &format!("sslmode=verify-full&{root}"))),
        Ok(true)
    );
}

#[test]
fn every_sslmode_against_a_plain_server() {
    let cluster = Cluster::builder().without_tls().start().unwrap();
    let url = cluster.url();
    for mode in ["disable", "allow", "prefer"] {
        assert_eq!(
            connect_both_ways(&config(&url, &format!("sslmode={mode}"))),
            Ok(false),
            "sslmode={mode}"
        );
    }
    for mode in ["require", "verify-ca", "verify-full"] {
        let params = format!("sslmode={mode}&sslrootcert={}", ca(tls_cluster()));
        let err = connect_both_ways(&config(&url, &params)).unwrap_err();
        assert!(
            err.contains(&format!("sslmode={mode} and the server does not offer TLS")),
            "{err}"
        );
    }
}

#[test]
fn allow_turns_to_tls_when_the_server_refuses_plain_text_and_disable_does_not() {
    let cluster = tls_cluster();
    let url = cluster.url_for("tlsonly", None, "postgres");
    assert_eq!(connect_both_ways(&config(&url, "sslmode=allow")), Ok(true));
    let err = connect_both_ways(&config(&url, "sslmode=disable")).unwrap_err();
    assert!(err.contains("no encryption"), "{err}");
}

#[test]
fn prefer_turns_to_plain_text_when_the_server_refuses_tls() {
    let cluster = tls_cluster();
    let url = cluster.url_for("plainonly", None, "postgres");
    assert_eq!(
        connect_both_ways(&config(&url, "sslmode=prefer")),
        Ok(false)
    );
    let err = connect_both_ways(&config(&url, "sslmode=require")).unwrap_err();
    assert!(err.contains("SSL encryption"), "{err}");
}

#[test]
fn certificates_that_do_not_check_out_are_refused_with_what_to_do() {
    let cluster = tls_cluster();
    let url = cluster.url();
    let other = cluster.tls().unwrap().other_ca_cert().display().to_string();
    for mode in ["require", "verify-ca", "verify-full"] {
        // A root certificate given makes require check the chain, as libpq does.
        let err = connect_both_ways(&config(
            &url,
            &format!("sslmode={mode}&sslrootcert={other}"),
        ))
        .unwrap_err();
        assert!(
            err.contains("not signed by a trusted root"),
            "{mode}: {err}"
        );
    }
    let err = connect_both_ways(&config(
        &url,
        "sslmode=verify-full&sslrootcert=/nonexistent.pem",
    ))
    .unwrap_err();
    assert!(
        err.contains("cannot read the root certificate file /nonexistent.pem"),
        "{err}"
    );

    let named = Cluster::builder()
        .tls_server_names(["db.example"])
        .start()
        .unwrap();
    let root = format!("sslrootcert={}", ca(&named));
    let err = connect_both_ways(&config(
        &named.url(),
        &format!("sslmode=verify-full&{root}"),
    ))
    .unwrap_err();
    assert!(
        err.contains("not valid for host \"127.0.0.1\""),
        "a wrong host name: {err}"
    );
    assert_eq!(
        connect_both_ways(&config(&named.url(), &format!("sslmode=verify-ca&{root}"))),
        Ok(true)
    );

    let expired = Cluster::builder().tls_expired().start().unwrap();
    // Without the query LIFEGUARD_HARNESS_TLS adds: its root would make require check.
    let expired_url = expired.url();
    let expired_url = expired_url.split('?').next().unwrap();
    let root = format!("sslrootcert={}", ca(&expired));
    for mode in ["verify-ca", "verify-full"] {
        let err =
            connect_both_ways(&config(expired_url, &format!("sslmode={mode}&{root}"))).unwrap_err();
        assert!(err.contains("certificate has expired"), "{mode}: {err}");
    }
    // Encryption without checks takes it, as libpq's require without a root does.
    assert_eq!(
        connect_both_ways(&config(expired_url, "sslmode=require")),
        Ok(true)
    );
}

#[test]
fn sslrootcert_system_needs_verify_full_and_refuses_a_private_ca() {
    let url = tls_cluster().url();
    let err = connect_err(&config(&url, "sslmode=require&sslrootcert=system"));
    assert!(
        err.to_string()
            .contains("sslrootcert=system needs sslmode=verify-full"),
        "{err}"
    );
    // The test CA is in no system store.
    let err = connect_err(&config(&url, "sslrootcert=system"));
    assert!(matches!(err, Error::Tls(_) | Error::Config(_)), "{err}");
}

#[test]
fn a_client_certificate_logs_in_with_cert_auth() {
    let cluster = tls_cluster();
    let certs = cluster.tls().unwrap();
    let url = cluster.url_for("certuser", None, "postgres");
    let params = format!(
        "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        certs.ca_cert().display(),
        certs.client_cert().display(),
        certs.client_key().display()
    );
    let mut conn = Connection::connect(&config(&url, &params)).unwrap();
    let user: String = conn
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(user, "certuser");
    // Without the certificate the server refuses the login.
    let err = connect_err(&config(&url, &certs.verify_full_params()));
    assert!(
        matches!(&err, Error::Authentication(m) if m.contains("certificate")),
        "{err}"
    );
    // sslcert without sslkey is a configuration error, named.
    let err = connect_err(&config(
        &url,
        &format!("sslmode=require&sslcert={}", certs.client_cert().display()),
    ));
    assert!(
        err.to_string().contains("sslcert and sslkey go together"),
        "{err}"
    );
}

#[test]
fn an_encrypted_or_missing_key_is_refused_without_showing_it() {
    let cluster = tls_cluster();
    let certs = cluster.tls().unwrap();
    let dir = std::env::temp_dir().join(format!("lifeguard-tls-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let encrypted = dir.join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    let url = cluster.url_for("certuser", None, "postgres");
    let with_key = |key: &std::path::Path| {
        config(
            &url,
            &format!(
                "sslmode=require&sslcert={}&sslkey={}",
                certs.client_cert().display(),
                key.display()
            ),
        )
    };
    let err = connect_err(&with_key(&encrypted)).to_string();
    assert!(
        err.contains("is encrypted, and sslpassword is not supported"),
        "{err}"
    );
    assert!(!err.contains("MIIB"), "key material in the message: {err}");
    let err = connect_err(&with_key(&dir.join("missing.key"))).to_string();
    assert!(err.contains("cannot read the client key file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scram_over_tls_is_bound_to_the_channel_and_require_refuses_every_downgrade() {
    let cluster = tls_cluster();
    let scram = cluster.url_for("scram", Some("s3cret"), "postgres");
    // channel_binding=require logs in only through SCRAM-SHA-256-PLUS, whose proof the
    // server checks against its own certificate: success shows both.
    for mode in ["require", "verify-full"] {
        let params = format!(
            "sslmode={mode}&sslrootcert={}&channel_binding=require",
            ca(cluster)
        );
        assert_eq!(
            connect_both_ways(&config(&scram, &params)),
            Ok(true),
            "{mode}"
        );
    }
    assert_eq!(
        connect_both_ways(&config(&scram, "sslmode=require&channel_binding=disable")),
        Ok(true)
    );
    // No TLS: nothing to bind to.
    let err =
        connect_both_ways(&config(&scram, "sslmode=disable&channel_binding=require")).unwrap_err();
    assert!(err.contains("channel_binding=require needs TLS"), "{err}");
    // Servers that would take the login another way are refused before any password.
    for (user, what) in [
        ("md5user", "asked for an MD5 password"),
        ("clear", "asked for the password in clear"),
        ("postgres", "let the login in without authentication"),
    ] {
        let url = cluster.url_for(user, Some("s3cret"), "postgres");
        let err = connect_both_ways(&config(&url, "sslmode=require&channel_binding=require"))
            .unwrap_err();
        assert!(err.contains(what), "{user}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

#[test]
fn many_coroutines_pipeline_over_one_tls_connection() {
    let cluster = tls_cluster();
    let config = config(&cluster.url(), &cluster.tls().unwrap().verify_full_params());
    let client = Client::connect(&config).unwrap();
    let tls: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
        .unwrap();
    assert!(tls);
    let handles: Vec<_> = (0..500)
        .map(|c: i32| {
            let client = client.clone();
            may::go!(move || {
                for q in 0..40 {
                    let n = c * 40 + q;
                    let row = client.query_one("SELECT $1::int4 * 2", &[&n]).unwrap();
                    assert_eq!(row.get::<i32>(0).unwrap(), n * 2);
                }
                // Responses of many records, cut across reads.
                if c % 50 == 0 {
                    let row = client.query_one("SELECT repeat('x', 300000)", &[]).unwrap();
                    assert_eq!(row.get::<String>(0).unwrap().len(), 300_000);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a caller failed");
    }
    // A plain thread shares it too.
    let row = client.query_one("SELECT 'thread'::text", &[]).unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "thread");
    assert_eq!(client.stats().in_flight, 0);
}

/// Runs `callers` coroutines querying over TLS until each sees an error; the time from
/// `fault` to the last error.
fn callers_fail_fast(client: &Client, fault: impl FnOnce()) -> Duration {
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let client = client.clone();
            let running = running.clone();
            may::go!(move || {
                running.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                while client.query_one("SELECT 1", &[]).is_ok() {}
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.load(std::sync::atomic::Ordering::SeqCst) < 64 {
        assert!(Instant::now() < deadline, "the callers did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    fault();
    for h in handles {
        h.join().expect("a caller panicked");
    }
    started.elapsed()
}

#[test]
fn over_tls_a_terminated_backend_a_restart_or_a_frozen_server_fails_every_caller_in_bounds() {
    let cluster = Cluster::builder().tls().start().unwrap();
    cluster.create_database("faults").unwrap();
    let config = config(
        &cluster.url_for("postgres", None, "faults"),
        &cluster.tls().unwrap().verify_full_params(),
    );
    let client = Client::connect(&config).unwrap();
    let took = callers_fail_fast(&client, || {
        cluster.terminate_backends("faults").unwrap();
    });
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(client.is_closed());

    let client = Client::connect(&config).unwrap();
    let took = callers_fail_fast(&client, || {
        cluster.restart(lifeguard_harness::StopMode::Fast).unwrap();
    });
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let client = Client::connect(&config).unwrap();
    client.set_stall_timeout(Some(Duration::from_millis(500)));
    let took = callers_fail_fast(&client, || cluster.freeze().unwrap());
    cluster.thaw().unwrap();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // The server is back: a new TLS connection works.
    let mut conn = Connection::connect(&config).unwrap();
    assert!(uses_tls(&mut conn));
}
