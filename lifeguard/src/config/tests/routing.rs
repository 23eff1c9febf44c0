//! The settings of a pool with replicas, from every source.

use super::super::{PoolConfig, ReadPreference};
use super::{message, ms, secs, toml, vars};

#[test]
fn replicas_and_routing_keys_from_toml() {
    let config = toml(
        r#"
        url = "postgres://app@primary.example/orders"
        replicas = ["postgres://app@standby1.example/orders", "host=standby2.example dbname=orders"]
        read_preference = "replica_only"
        replica_poll_interval = "250ms"
        replica_max_lag = "3s"
        replica_max_lag_bytes = 1024
        "#,
    )
    .unwrap();
    let hosts: Vec<String> = config
        .servers()
        .iter()
        .map(|s| s.get_host().unwrap().to_string())
        .collect();
    assert_eq!(
        hosts,
        ["primary.example", "standby1.example", "standby2.example"]
    );
    assert_eq!(config.get_read_preference(), ReadPreference::ReplicaOnly);
    assert_eq!(config.get_replica_poll_interval(), ms(250));
    assert_eq!(config.get_replica_max_lag(), secs(3));
    assert_eq!(config.get_replica_max_lag_bytes(), 1024);
    config.validate().unwrap();
}

#[test]
fn replicas_and_routing_keys_from_the_environment() {
    let config = PoolConfig::from_vars(vars(&[
        ("DATABASE_URL", "postgres://app@primary.example/orders"),
        (
            "LIFEGUARD_REPLICAS",
            "postgres://app@standby1.example/orders  postgres://app@standby2.example/orders",
        ),
        ("LIFEGUARD_READ_PREFERENCE", "primary"),
        ("LIFEGUARD_REPLICA_POLL_INTERVAL", "50ms"),
        ("LIFEGUARD_REPLICA_MAX_LAG", "2s"),
        ("LIFEGUARD_REPLICA_MAX_LAG_BYTES", "4096"),
    ]))
    .unwrap();
    assert_eq!(config.servers().len(), 3);
    assert_eq!(config.get_read_preference(), ReadPreference::Primary);
    assert_eq!(config.get_replica_poll_interval(), ms(50));
    assert_eq!(config.get_replica_max_lag(), secs(2));
    assert_eq!(config.get_replica_max_lag_bytes(), 4096);
}

#[test]
fn defaults_and_a_multi_host_url_with_target_session_attrs() {
    let config = PoolConfig::new("postgres://app:s3cret@a.example,b.example:6543/orders").unwrap();
    assert_eq!(config.get_read_preference(), ReadPreference::PreferReplica);
    assert_eq!(config.get_replica_poll_interval(), ms(100));
    assert_eq!(config.get_replica_max_lag(), secs(1));
    assert_eq!(config.get_replica_max_lag_bytes(), 16 << 20);
    let servers = config.servers();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[1].get_port(), 6543);
    assert_eq!(servers[1].get_password(), Some(&b"s3cret"[..]));
    assert!(!format!("{config:?}").contains("s3cret"));
    let standby = PoolConfig::new("host=a,b port=1,2 target_session_attrs=standby").unwrap();
    assert_eq!(standby.get_read_preference(), ReadPreference::ReplicaOnly);
    assert_eq!(standby.servers()[1].get_port(), 2);
}

#[test]
fn bad_routing_values_are_named() {
    let err = message(toml("url = \"host=db\"\nread_preference = \"nearest\""));
    assert!(err.contains("database.read_preference"), "{err}");
    assert!(err.contains("prefer_replica"), "{err}");
    let err = message(toml(
        "url = \"host=db\"\nreplicas = \"host=x\"\nreplica_poll_interval = \"0s\"",
    ));
    assert!(err.contains("replica_poll_interval"), "{err}");
    let err = message(toml("url = \"host=db\"\nreplicas = [1]"));
    assert!(err.contains("database.replicas"), "{err}");
    let err = message(PoolConfig::new(
        "postgres://u:s3cret@a,b/db?target_session_attrs=bogus",
    ));
    assert!(err.contains("bogus") && !err.contains("s3cret"), "{err}");
    let err = message(
        PoolConfig::new("postgres://u:s3cret@a/db")
            .and_then(|c| c.replica("mysql://u:s3cret@b/db")),
    );
    assert!(!err.contains("s3cret"), "{err}");
}
