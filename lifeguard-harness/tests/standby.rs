//! A streaming standby: replication, paused and resumed replay, independent lifecycle.

use std::time::Duration;

use lifeguard_harness::{Cluster, StopMode, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

fn count(cluster: &Cluster, sql: &str) -> lifeguard_harness::Result<String> {
    cluster.psql("postgres", sql)
}

#[test]
fn replicates_and_pauses() {
    let primary = Cluster::start().unwrap();
    let standby = primary.start_standby().unwrap();
    assert_ne!(standby.port(), primary.port());
    assert!(standby.is_in_recovery().unwrap());
    assert!(!primary.is_in_recovery().unwrap());
    assert!(
        standby
            .psql("postgres", "create table nope (a int)")
            .is_err()
    );
    assert!(primary.last_replay_lsn().is_err());
    assert!(standby.current_wal_lsn().is_err());

    primary
        .psql(
            "postgres",
            "create table t (a int); insert into t values (1)",
        )
        .unwrap();
    wait_until("the row on the standby", DEADLINE, || {
        Ok(count(&standby, "select count(*) from t")? == "1")
    })
    .unwrap();

    standby.pause_replay().unwrap();
    primary
        .psql("postgres", "insert into t values (2)")
        .unwrap();
    assert!(primary.current_wal_lsn().unwrap().contains('/'));
    let written = primary.current_wal_insert_lsn().unwrap();
    // The standby has received the insert but must not apply it while paused.
    let received = format!("select pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '{written}') >= 0");
    wait_until("the standby to receive the insert", DEADLINE, || {
        Ok(standby.psql("postgres", &received)? == "t")
    })
    .unwrap();
    assert_eq!(count(&standby, "select count(*) from t").unwrap(), "1");
    let paused_at = standby.last_replay_lsn().unwrap();

    standby.resume_replay().unwrap();
    wait_until("the second row on the standby", DEADLINE, || {
        Ok(count(&standby, "select count(*) from t")? == "2")
    })
    .unwrap();
    assert_ne!(standby.last_replay_lsn().unwrap(), paused_at);

    primary
        .psql("postgres", "insert into t values (3)")
        .unwrap();
    standby.wait_for_replay(&primary, DEADLINE).unwrap();
    assert_eq!(count(&standby, "select count(*) from t").unwrap(), "3");
}

#[test]
fn standby_lifecycle_is_independent() {
    let primary = Cluster::start().unwrap();
    let standby = primary.start_standby().unwrap();
    standby.restart(StopMode::Immediate).unwrap();
    assert!(standby.is_in_recovery().unwrap());
    primary.psql("postgres", "create table t (a int)").unwrap();
    standby.wait_for_replay(&primary, DEADLINE).unwrap();

    // Dropping the primary leaves the standby serving reads; dropping it cleans up.
    let primary_dir = primary.socket_dir().to_path_buf();
    drop(primary);
    assert!(!primary_dir.exists());
    assert_eq!(count(&standby, "select count(*) from t").unwrap(), "0");
    let standby_dir = standby.socket_dir().to_path_buf();
    drop(standby);
    assert!(!standby_dir.exists());
}
