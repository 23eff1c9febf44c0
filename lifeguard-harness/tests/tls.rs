//! Clusters that speak TLS, checked with `psql` (libpq's sslmode, sslrootcert, sslcert
//! and sslkey): verification against the generated CA and against an unrelated one,
//! server names, `hostssl` / `hostnossl` entries and `cert` authentication.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use lifeguard_harness::{AuthMethod, Cluster, StopMode, Transport};

/// Whether this session's connection uses TLS.
const SSL_IN_USE: &str = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";

fn path(p: &Path) -> &str {
    p.to_str().expect("the harness's paths are UTF-8")
}

/// Runs `sql` as `user` in database `postgres` over TCP to 127.0.0.1 with the extra
/// connection `options` (later ones win); the error text has psql's stderr.
fn query(
    cluster: &Cluster,
    user: &str,
    options: &[(&str, &str)],
    sql: &str,
) -> Result<String, String> {
    let mut conninfo = format!(
        "host=127.0.0.1 port={} user='{user}' dbname=postgres",
        cluster.port()
    );
    for (key, value) in options {
        let value = value.replace('\\', "\\\\").replace('\'', "\\'");
        conninfo.push_str(&format!(" {key}='{value}'"));
    }
    lifeguard_harness::psql(&conninfo, sql).map_err(|e| e.to_string())
}

/// Connects as `user` with `options` and checks the outcome: with `Ok(ssl)`, that the
/// session's `pg_stat_ssl.ssl` is `ssl`; with `Err(text)`, that the connection is refused
/// with an error that contains `text`.
fn expect(cluster: &Cluster, user: &str, options: &[(&str, &str)], outcome: Result<&str, &str>) {
    let result = query(cluster, user, options, SSL_IN_USE);
    match (result, outcome) {
        (Ok(ssl), Ok(expected)) => assert_eq!(ssl, expected, "{user} with {options:?}"),
        (Err(err), Err(expected)) => {
            assert!(
                err.contains(expected),
                "{user} with {options:?}: expected `{expected}` in: {err}"
            )
        }
        (result, outcome) => {
            panic!("{user} with {options:?}: got {result:?}, expected {outcome:?}")
        }
    }
}

/// The uid this process runs as (the owner of `/proc/self`).
fn own_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn verify_full_against_the_test_ca_connects_with_tls() {
    let cluster = Cluster::builder().tls().start().unwrap();
    let certs = cluster.tls().unwrap();
    let ca = path(certs.ca_cert());
    let other_ca = path(certs.other_ca_cert());
    let by_name = [("host", "localhost"), ("hostaddr", "127.0.0.1")];
    for (options, outcome) in [
        (
            &[("sslmode", "verify-full"), ("sslrootcert", ca)][..],
            Ok("t"),
        ),
        // The certificate names `localhost` too.
        (
            &[
                ("sslmode", "verify-full"),
                ("sslrootcert", ca),
                by_name[0],
                by_name[1],
            ],
            Ok("t"),
        ),
        // Users without TLS-specific entries may still connect in plain text.
        (&[("sslmode", "disable")], Ok("f")),
        // The other CA signed nothing the server uses.
        (
            &[("sslmode", "verify-ca"), ("sslrootcert", other_ca)],
            Err("certificate verify failed"),
        ),
        (
            &[("sslmode", "verify-full"), ("sslrootcert", other_ca)],
            Err("certificate verify failed"),
        ),
    ] {
        expect(&cluster, "postgres", options, outcome);
    }
    assert_ne!(std::fs::read(ca).unwrap(), std::fs::read(other_ca).unwrap());
}

#[test]
fn the_files_are_pem_with_private_keys_only_their_owner_reads_and_go_with_the_cluster() {
    let cluster = Cluster::builder().tls().start().unwrap();
    let certs = cluster.tls().unwrap();
    assert!(certs.dir().starts_with(cluster.socket_dir()));
    assert_eq!(certs.server_names(), ["localhost", "127.0.0.1"]);
    assert_eq!(certs.client_user(), "postgres");
    for cert in [
        certs.ca_cert(),
        certs.other_ca_cert(),
        certs.server_cert(),
        certs.client_cert(),
    ] {
        let text = std::fs::read_to_string(cert).unwrap();
        assert!(
            text.starts_with("-----BEGIN CERTIFICATE-----"),
            "{}",
            cert.display()
        );
    }
    let server_user = std::fs::metadata(cluster.data_dir()).unwrap().uid();
    for (key, owner) in [
        (certs.server_key(), server_user),
        (certs.client_key(), own_uid()),
    ] {
        let text = std::fs::read_to_string(key).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{}",
            key.display()
        );
        let meta = std::fs::metadata(key).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600, "{}", key.display());
        assert_eq!(meta.uid(), owner, "{}", key.display());
    }
    let key_file = cluster.psql("postgres", "show ssl_key_file").unwrap();
    assert_eq!(key_file, path(certs.server_key()));
    let dir = certs.dir().to_path_buf();
    drop(cluster);
    assert!(!dir.exists(), "{} outlived its cluster", dir.display());
}

#[test]
fn hostssl_entries_require_tls_and_hostnossl_entries_refuse_it() {
    let cluster = Cluster::builder().tls().start().unwrap();
    let ca = path(cluster.tls().unwrap().ca_cert());
    for (user, transport) in [
        ("tls_only", Transport::Tls),
        ("plain_only", Transport::Plain),
    ] {
        cluster.create_role(user, None).unwrap();
        cluster
            .set_auth_over(user, AuthMethod::Trust, transport)
            .unwrap();
    }
    let verify_full = [("sslmode", "verify-full"), ("sslrootcert", ca)];
    let disable = [("sslmode", "disable")];
    let socket = [("host", path(cluster.socket_dir()))];
    // libpq's `prefer` falls back to plain text when the TLS attempt is refused.
    let prefer = [("sslmode", "prefer")];
    for (user, options, outcome) in [
        ("tls_only", &verify_full[..], Ok("t")),
        ("tls_only", &disable, Err("no encryption")),
        (
            "tls_only",
            &socket,
            Err("rejects connection for host \"[local]\""),
        ),
        ("plain_only", &disable, Ok("f")),
        ("plain_only", &verify_full, Err("SSL encryption")),
        ("plain_only", &prefer, Ok("f")),
    ] {
        expect(&cluster, user, options, outcome);
    }
}

#[test]
fn cert_auth_logs_the_certificate_user_in_with_the_client_certificate() {
    let cluster = Cluster::builder()
        .tls_client_user("cert_user")
        .start()
        .unwrap();
    let certs = cluster.tls().unwrap();
    for user in ["cert_user", "someone_else"] {
        cluster
            .create_role_with(user, None, AuthMethod::Cert)
            .unwrap();
    }
    let verify_full = [
        ("sslmode", "verify-full"),
        ("sslrootcert", path(certs.ca_cert())),
    ];
    let client_cert = [
        ("sslcert", path(certs.client_cert())),
        ("sslkey", path(certs.client_key())),
    ];
    let with_cert = [&verify_full[..], &client_cert[..]].concat();
    let who = query(&cluster, "cert_user", &with_cert, "select current_user");
    assert_eq!(who.unwrap(), "cert_user");
    for (user, options, outcome) in [
        ("cert_user", &with_cert[..], Ok("t")),
        (
            "cert_user",
            &verify_full,
            Err("connection requires a valid client certificate"),
        ),
        ("cert_user", &[("sslmode", "disable")], Err("no encryption")),
        // The certificate's common name is `cert_user`: it logs in no one else.
        (
            "someone_else",
            &with_cert,
            Err("certificate authentication failed for user"),
        ),
    ] {
        expect(&cluster, user, options, outcome);
    }
}

#[test]
fn a_certificate_for_other_names_fails_verify_full_but_passes_verify_ca() {
    let cluster = Cluster::builder()
        .tls_server_names(["db.example"])
        .start()
        .unwrap();
    let ca = path(cluster.tls().unwrap().ca_cert());
    let by_its_name = [("host", "db.example"), ("hostaddr", "127.0.0.1")];
    for (options, outcome) in [
        (
            &[("sslmode", "verify-full"), ("sslrootcert", ca)][..],
            Err("does not match host name \"127.0.0.1\""),
        ),
        (&[("sslmode", "verify-ca"), ("sslrootcert", ca)], Ok("t")),
        (
            &[
                ("sslmode", "verify-full"),
                ("sslrootcert", ca),
                by_its_name[0],
                by_its_name[1],
            ],
            Ok("t"),
        ),
    ] {
        expect(&cluster, "postgres", options, outcome);
    }
}

#[test]
fn a_standby_serves_its_own_copy_of_the_primarys_certificates() {
    let primary = Cluster::builder().tls().start().unwrap();
    let standby = primary.start_standby().unwrap();
    let certs = standby.tls().unwrap();
    assert!(certs.dir().starts_with(standby.socket_dir()));
    let primary_ca = std::fs::read(primary.tls().unwrap().ca_cert()).unwrap();
    assert_eq!(std::fs::read(certs.ca_cert()).unwrap(), primary_ca);
    // Without the primary's files, the standby still starts and serves TLS.
    drop(primary);
    standby.restart(StopMode::Fast).unwrap();
    let verify_full = [
        ("sslmode", "verify-full"),
        ("sslrootcert", path(certs.ca_cert())),
    ];
    expect(&standby, "postgres", &verify_full, Ok("t"));
}
