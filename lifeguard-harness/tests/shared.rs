//! The process-wide test server.

use lifeguard_harness::{psql, test_server};

#[test]
fn fresh_databases_are_distinct() {
    let server = test_server();
    if std::env::var("DATABASE_URL").is_err() {
        let cluster = server.cluster().expect("a private cluster");
        assert_eq!(server.url(), cluster.url());
    }
    let a = server.fresh_database("shared test");
    let b = server.fresh_database("shared test");
    assert_ne!(a, b);
    psql(&a, "create table t (a int); insert into t values (1)").unwrap();
    assert_eq!(psql(&a, "select count(*) from t").unwrap(), "1");
    assert!(psql(&b, "select count(*) from t").is_err());
    assert!(
        psql(&a, "select current_database()")
            .unwrap()
            .starts_with("shared_test_")
    );
}

#[test]
fn the_server_is_shared() {
    assert!(std::ptr::eq(test_server(), test_server()));
    assert_eq!(psql(test_server().url(), "select 1").unwrap(), "1");
}
