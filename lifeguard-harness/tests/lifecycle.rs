//! Starting, stopping, killing and dropping a cluster.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lifeguard_harness::{Cluster, PgBinaries, StopMode, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

/// A `psql` session sleeping in the server, to watch it being cut off.
fn sleeping_session(cluster: &Cluster, db: &str) -> Child {
    let psql = PgBinaries::find().unwrap().tool("psql").unwrap();
    Command::new(psql)
        .args(["-X", "-c", "select pg_sleep(600)"])
        .arg(cluster.url_for("postgres", None, db))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn active_sessions(cluster: &Cluster) -> String {
    cluster
        .psql(
            "postgres",
            "select count(*) from pg_stat_activity where query like 'select pg_sleep%'",
        )
        .unwrap()
}

fn exits_with_error(child: &mut Child) {
    let mut status = None;
    wait_until("the session to end", DEADLINE, || {
        status = child.try_wait().unwrap();
        Ok(status.is_some())
    })
    .unwrap();
    assert!(!status.unwrap().success());
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                let rest = &stat[stat.rfind(')').unwrap() + 2..];
                rest.split(' ').nth(1) == Some(&pid.to_string())
            })
        })
        .collect()
}

fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn starts_and_answers_queries() {
    let cluster = Cluster::start().unwrap();
    assert_ne!(cluster.port(), 5432);
    assert_eq!(cluster.psql("postgres", "select 1").unwrap(), "1");
    assert_eq!(
        cluster.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port())
    );
    let socket = cluster
        .socket_dir()
        .join(format!(".s.PGSQL.{}", cluster.port()));
    assert!(socket.exists(), "{} missing", socket.display());
    assert_eq!(cluster.psql("postgres", "show fsync").unwrap(), "off");
    assert_eq!(
        cluster.psql("postgres", "show wal_level").unwrap(),
        "replica"
    );
    assert_eq!(
        cluster.psql("postgres", "show server_encoding").unwrap(),
        "UTF8"
    );
    assert!(cluster.is_running());
    let err = cluster.psql("postgres", "select nope").unwrap_err();
    assert!(
        err.to_string().contains("column \"nope\" does not exist"),
        "{err}"
    );
}

#[test]
fn builder_settings_apply() {
    let cluster = Cluster::builder()
        .max_connections(37)
        .setting("log_line_prefix", "%m it's ")
        .start()
        .unwrap();
    assert_eq!(
        cluster.psql("postgres", "show max_connections").unwrap(),
        "37"
    );
    assert_eq!(
        cluster.psql("postgres", "show log_line_prefix").unwrap(),
        "%m it's "
    );
}

#[test]
fn stop_immediate_then_start_again() {
    let cluster = Cluster::start().unwrap();
    let port = cluster.port();
    cluster.create_database("app").unwrap();
    cluster
        .psql("app", "create table t (a int); insert into t values (1)")
        .unwrap();
    cluster.psql("postgres", "checkpoint").unwrap();
    cluster.stop(StopMode::Immediate).unwrap();
    assert!(!cluster.is_running());
    assert!(cluster.psql("app", "select 1").is_err());
    cluster.stop(StopMode::Fast).unwrap(); // stopping a stopped server is a no-op
    cluster.start_again().unwrap();
    assert!(cluster.is_running());
    assert_eq!(cluster.port(), port);
    assert_eq!(cluster.psql("app", "select a from t").unwrap(), "1");
    assert!(cluster.start_again().is_err(), "already running");
}

#[test]
fn fast_restart_keeps_data_and_ends_sessions() {
    let cluster = Cluster::start().unwrap();
    cluster
        .psql(
            "postgres",
            "create table t (a int); insert into t values (7)",
        )
        .unwrap();
    let mut session = sleeping_session(&cluster, "postgres");
    wait_until("the session", DEADLINE, || {
        Ok(active_sessions(&cluster) == "1")
    })
    .unwrap();
    let before = cluster.pid().unwrap();
    cluster.restart(StopMode::Fast).unwrap();
    exits_with_error(&mut session);
    assert_ne!(cluster.pid().unwrap(), before);
    assert_eq!(cluster.psql("postgres", "select a from t").unwrap(), "7");
}

#[test]
fn kill_then_start_again() {
    let cluster = Cluster::start().unwrap();
    let mut session = sleeping_session(&cluster, "postgres");
    wait_until("the session", DEADLINE, || {
        Ok(active_sessions(&cluster) == "1")
    })
    .unwrap();
    let postmaster = cluster.pid().unwrap();
    let children = children_of(postmaster);
    assert!(children.len() >= 3, "{children:?}");
    cluster.kill().unwrap();
    assert!(!cluster.is_running());
    assert_eq!(cluster.pid(), None);
    exits_with_error(&mut session);
    // The postmaster and all its processes are gone, zombies included.
    assert!(!exists(postmaster));
    for child in children {
        assert!(!exists(child), "process {child} left behind");
    }
    cluster.start_again().unwrap();
    assert_eq!(cluster.psql("postgres", "select 1").unwrap(), "1");
    cluster.kill().unwrap();
    cluster.kill().unwrap(); // killing a dead server is a no-op
}

#[test]
fn terminate_backends_ends_other_sessions() {
    let cluster = Cluster::start().unwrap();
    cluster.create_database("busy").unwrap();
    let mut a = sleeping_session(&cluster, "busy");
    let mut b = sleeping_session(&cluster, "busy");
    wait_until("two sessions", DEADLINE, || {
        Ok(active_sessions(&cluster) == "2")
    })
    .unwrap();
    assert_eq!(cluster.terminate_backends("busy").unwrap(), 2);
    exits_with_error(&mut a);
    exits_with_error(&mut b);
    assert_eq!(cluster.terminate_backends("busy").unwrap(), 0);
    assert_eq!(cluster.psql("busy", "select 1").unwrap(), "1");
}

#[test]
fn drop_removes_directory_and_processes() {
    let cluster = Cluster::start().unwrap();
    let dir = cluster.socket_dir().to_path_buf();
    let postmaster = cluster.pid().unwrap();
    let children = children_of(postmaster);
    assert!(dir.join("data").is_dir());
    drop(cluster);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!exists(postmaster));
    for child in children {
        assert!(!exists(child), "process {child} left behind");
    }
}

#[test]
fn drop_after_kill_cleans_up_too() {
    let cluster = Cluster::start().unwrap();
    let dir = cluster.socket_dir().to_path_buf();
    cluster.kill().unwrap();
    drop(cluster);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn drop_during_a_panic_cleans_up() {
    let mut dir = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let cluster = Cluster::start().unwrap();
        dir = Some(cluster.socket_dir().to_path_buf());
        panic!("test failure while the cluster runs");
    }));
    assert!(result.is_err());
    let dir = dir.unwrap();
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn clusters_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cluster>();
    assert_send_sync::<lifeguard_harness::TestServer>();
    assert_send_sync::<lifeguard_harness::HarnessError>();
}
