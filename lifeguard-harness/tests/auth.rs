//! Roles and authentication methods, checked with `psql` and `PGPASSWORD`.

use std::process::Command;

use lifeguard_harness::{AuthMethod, Cluster, PgBinaries};

/// Connects as `user` with `password` over TCP (`host`) or the Unix socket (`local`);
/// returns psql's stderr on failure.
fn connect(cluster: &Cluster, user: &str, password: &str, tcp: bool) -> Result<(), String> {
    let psql = PgBinaries::find().unwrap().tool("psql").unwrap();
    let host = if tcp {
        "127.0.0.1".to_owned()
    } else {
        cluster.socket_dir().to_string_lossy().into_owned()
    };
    let out = Command::new(psql)
        .args(["-X", "-A", "-t", "-w", "-c", "select current_user"])
        .args(["-h", &host, "-p", &cluster.port().to_string()])
        .args(["-U", user, "-d", "postgres"])
        .env("PGPASSWORD", password)
        .env_remove("PGPASSFILE")
        .output()
        .unwrap();
    if out.status.success() {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), user);
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn stored_as(cluster: &Cluster, user: &str) -> String {
    cluster
        .psql(
            "postgres",
            &format!(
                "select split_part(rolpassword, '$', 1) from pg_authid where rolname = '{user}'"
            ),
        )
        .unwrap()
}

#[test]
fn each_password_method_accepts_the_right_password_only() {
    let cluster = Cluster::start().unwrap();
    for (user, method, storage) in [
        ("u_password", AuthMethod::Password, "SCRAM-SHA-256"),
        ("u_md5", AuthMethod::Md5, ""),
        ("u_scram", AuthMethod::ScramSha256, "SCRAM-SHA-256"),
    ] {
        cluster
            .create_role_with(user, Some("right pw"), method)
            .unwrap();
        let stored = stored_as(&cluster, user);
        if method == AuthMethod::Md5 {
            assert!(stored.starts_with("md5"), "{user}: {stored}");
        } else {
            assert_eq!(stored, storage, "{user}");
        }
        for tcp in [true, false] {
            connect(&cluster, user, "right pw", tcp)
                .unwrap_or_else(|e| panic!("{user} ({method}, tcp {tcp}): {e}"));
            let err = connect(&cluster, user, "wrong", tcp).unwrap_err();
            assert!(
                err.contains("password authentication failed"),
                "{user} ({method}, tcp {tcp}): {err}"
            );
        }
    }
    // The superuser and roles without entries keep `trust`.
    connect(&cluster, "postgres", "anything", true).unwrap();
    cluster.create_role("plain", Some("pw")).unwrap();
    connect(&cluster, "plain", "not the password", true).unwrap();
}

#[test]
fn trust_and_changing_methods() {
    let cluster = Cluster::start().unwrap();
    cluster
        .create_role_with("t", None, AuthMethod::Trust)
        .unwrap();
    connect(&cluster, "t", "whatever", true).unwrap();
    cluster.create_role("changing", Some("pw")).unwrap();
    cluster
        .set_auth("changing", AuthMethod::ScramSha256)
        .unwrap();
    assert!(connect(&cluster, "changing", "nope", true).is_err());
    connect(&cluster, "changing", "pw", true).unwrap();
    cluster.set_auth("changing", AuthMethod::Trust).unwrap();
    connect(&cluster, "changing", "nope", true).unwrap();
    let hba = std::fs::read_to_string(cluster.data_dir().join("pg_hba.conf")).unwrap();
    assert_eq!(hba.matches("\"changing\"").count(), 3, "{hba}");
}

#[test]
fn url_for_connects_with_a_password() {
    let cluster = Cluster::start().unwrap();
    cluster
        .create_role_with("app user", Some("p@ss/w:rd"), AuthMethod::ScramSha256)
        .unwrap();
    cluster.create_database("app db").unwrap();
    let url = cluster.url_for("app user", Some("p@ss/w:rd"), "app db");
    let row = lifeguard_harness::psql(&url, "select current_user || '@' || current_database()");
    assert_eq!(row.unwrap(), "app user@app db");
    let wrong = cluster.url_for("app user", Some("nope"), "app db");
    let err = lifeguard_harness::psql(&wrong, "select 1").unwrap_err();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
}
