//! `Pool::verify_statements`: the statements compiled into this test binary, described
//! again on a live database, before and after the schema changes under them.

use lifeguard::{Drift, Pool, PoolConfig, query, query_scalar};

/// The statements this binary registers (they only need to be compiled in).
#[allow(dead_code)]
fn statements(pool: &Pool) -> Result<(), lifeguard::Error> {
    query!("SELECT id, label, price FROM verify_items WHERE id = $1", 1).fetch_optional(pool)?;
    query!("SELECT * FROM verify_items").fetch_all(pool)?;
    query_scalar!("SELECT note FROM verify_items WHERE price > $1", 10).fetch_all(pool)?;
    Ok(())
}

fn pool(prefix: &str) -> Pool {
    let url = lifeguard_suite::schema_database(prefix);
    Pool::new(PoolConfig::new(&url).expect("url").connections(1)).expect("pool")
}

/// The schema the statements were checked against: nothing to report.
#[test]
fn unchanged_schema_reports_nothing() {
    let report = pool("verify_same").verify_statements().expect("verify");
    assert!(report.is_ok(), "{report}");
    assert!(report.checked >= 3, "{report}");
    assert!(report.to_string().contains("match the live schema"));
}

/// A changed type, a dropped NOT NULL and a dropped column are each reported, on the
/// statements they affect, with what the code expects and what the database has now.
#[test]
fn drift_is_reported() {
    let pool = pool("verify_drift");
    pool.acquire()
        .expect("connection")
        .batch_execute(
            "ALTER TABLE verify_items ALTER COLUMN price TYPE int8, \
             ALTER COLUMN label DROP NOT NULL, DROP COLUMN note",
        )
        .expect("migrate");
    let report = pool.verify_statements().expect("verify");
    assert!(!report.is_ok());
    let changes = |sql_start: &str| -> Vec<Drift> {
        report
            .drifted
            .iter()
            .find(|(s, _)| s.sql.starts_with(sql_start))
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("no drift reported for {sql_start}: {report}"))
    };

    let by_id = changes("SELECT id, label, price");
    assert!(by_id.contains(&Drift::Nullability {
        column: "label".into(),
        compiled_nullable: false,
        live_nullable: true,
    }));
    assert!(by_id.contains(&Drift::ColumnType {
        column: "price".into(),
        compiled: "int4".into(),
        live: "int8".into(),
    }));

    let star = changes("SELECT * FROM verify_items");
    assert!(star.contains(&Drift::ColumnGone {
        column: "note".into()
    }));

    let note = changes("SELECT note FROM verify_items");
    assert!(
        matches!(&note[..], [Drift::Rejected { error }] if error.contains("note")),
        "{note:?}"
    );

    let text = report.to_string();
    assert!(text.contains("3 of"), "{text}");
    assert!(text.contains("tests/verify.rs:"), "{text}");
    assert!(
        text.contains("column `price` was int4, is now int8"),
        "{text}"
    );
}
