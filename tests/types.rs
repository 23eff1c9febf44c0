//! Every PostgreSQL type the `query!` family maps, round-tripped through a real database:
//! written with `query!` arguments, read back into the generated row struct (and through
//! `query_as!` and `query_scalar!`), with NULL and non-NULL values and every argument
//! shape the macros accept.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use lifeguard::Pool;
use lifeguard::pg::Interval;
use lifeguard_suite::Mood;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

/// One row of `samples` (every column nullable, so every field is an `Option`).
#[derive(Debug, Clone, Default, PartialEq)]
struct Sample {
    b: Option<bool>,
    i2: Option<i16>,
    i4: Option<i32>,
    i8: Option<i64>,
    f4: Option<f32>,
    f8: Option<f64>,
    num: Option<Decimal>,
    t: Option<String>,
    vc: Option<String>,
    bp: Option<String>,
    nm: Option<String>,
    ci: Option<String>,
    by: Option<Vec<u8>>,
    u: Option<Uuid>,
    j: Option<Value>,
    jb: Option<Value>,
    d: Option<NaiveDate>,
    tm: Option<NaiveTime>,
    ts: Option<NaiveDateTime>,
    tz: Option<DateTime<Utc>>,
    iv: Option<Interval>,
    ip: Option<IpAddr>,
    o: Option<u32>,
    pos: Option<i32>,
    m: Option<Mood>,
    a_b: Option<Vec<bool>>,
    a_i2: Option<Vec<i16>>,
    a_i4: Option<Vec<i32>>,
    a_i8: Option<Vec<i64>>,
    a_f4: Option<Vec<f32>>,
    a_f8: Option<Vec<f64>>,
    a_num: Option<Vec<Decimal>>,
    a_t: Option<Vec<String>>,
    a_vc: Option<Vec<String>>,
    a_by: Option<Vec<Vec<u8>>>,
    a_u: Option<Vec<Uuid>>,
    a_jb: Option<Vec<Value>>,
    a_d: Option<Vec<NaiveDate>>,
    a_tm: Option<Vec<NaiveTime>>,
    a_ts: Option<Vec<NaiveDateTime>>,
    a_tz: Option<Vec<DateTime<Utc>>>,
    a_iv: Option<Vec<Interval>>,
    a_ip: Option<Vec<IpAddr>>,
    a_o: Option<Vec<u32>>,
}

/// One pool on one fresh database for the whole file; each test owns its `samples` ids.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| lifeguard_suite::schema_pool("types", ""))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn time(h: u32, m: u32, s: u32, micro: u32) -> NaiveTime {
    NaiveTime::from_hms_micro_opt(h, m, s, micro).unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A row with a value (edge values where they matter) in every column.
fn full_sample() -> Sample {
    let ts = date(2024, 2, 29).and_time(time(23, 59, 58, 123_456));
    Sample {
        b: Some(true),
        i2: Some(i16::MIN),
        i4: Some(i32::MAX),
        i8: Some(i64::MIN),
        f4: Some(1.5),
        f8: Some(-2.25e300),
        num: Some(dec("-12345678901234567890.0123456789")),
        t: Some("text with ünïcode, 'quotes' and \"doubles\"".into()),
        vc: Some("varchar".into()),
        bp: Some("abc".into()),
        nm: Some("a_name".into()),
        ci: Some("MiXeD Case".into()),
        by: Some(vec![0, 1, 2, 0x7f, 0x80, 0xff]),
        u: Some(uuid(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
        j: Some(json!({"a": [1, 2, {"b": null}], "s": "x"})),
        jb: Some(json!({"k": "v", "n": 1.5, "nested": [true, false]})),
        d: Some(date(2024, 2, 29)),
        tm: Some(time(23, 59, 58, 123_456)),
        ts: Some(ts),
        tz: Some(utc(1999, 12, 31, 23, 59, 59) + chrono::Duration::microseconds(999_999)),
        iv: Some(Interval {
            months: 14,
            days: -3,
            microseconds: 3_600_000_123,
        }),
        ip: Some(ip("2001:db8::1")),
        o: Some(4_000_000_000),
        pos: Some(42),
        m: Some(Mood::Happy),
        a_b: Some(vec![true, false, true]),
        a_i2: Some(vec![i16::MIN, 0, i16::MAX]),
        a_i4: Some(vec![i32::MIN, 0, i32::MAX]),
        a_i8: Some(vec![i64::MIN, 0, i64::MAX]),
        a_f4: Some(vec![-0.5, 0.0, 3.25]),
        a_f8: Some(vec![f64::MIN_POSITIVE, 1e-300, -7.125]),
        a_num: Some(vec![dec("0"), dec("1.50"), dec("-99999999999.999999")]),
        a_t: Some(vec![
            "a".into(),
            String::new(),
            "with,comma {brace} \"q\"".into(),
        ]),
        a_vc: Some(vec!["x".into(), "NULL".into()]),
        a_by: Some(vec![vec![], vec![1, 2, 3]]),
        a_u: Some(vec![uuid(1), uuid(u128::MAX)]),
        a_jb: Some(vec![json!(1), json!({"x": []}), json!(null)]),
        a_d: Some(vec![date(1970, 1, 1), date(2000, 1, 1)]),
        a_tm: Some(vec![time(0, 0, 0, 0), time(12, 30, 0, 1)]),
        a_ts: Some(vec![ts, date(1900, 1, 1).and_time(time(0, 0, 0, 0))]),
        a_tz: Some(vec![utc(2020, 1, 1, 0, 0, 0), utc(2038, 1, 19, 3, 14, 8)]),
        a_iv: Some(vec![
            Interval::default(),
            Interval {
                months: -1,
                days: 40,
                microseconds: -1,
            },
        ]),
        a_ip: Some(vec![ip("127.0.0.1"), ip("::ffff:10.0.0.1"), ip("fe80::2")]),
        a_o: Some(vec![0, 1, u32::MAX]),
    }
}

/// Writes `s` as row `id` with one argument per column, passed as `Option<T>`.
fn insert(id: i32, s: &Sample) {
    let inserted = lifeguard::query!(
        "INSERT INTO samples (id, b, i2, i4, i8, f4, f8, num, t, vc, bp, nm, ci, by, u, j, jb,
             d, tm, ts, tz, iv, ip, o, pos, m,
             a_b, a_i2, a_i4, a_i8, a_f4, a_f8, a_num, a_t, a_vc, a_by, a_u, a_jb,
             a_d, a_tm, a_ts, a_tz, a_iv, a_ip, a_o)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18, $19, $20, $21, $22, $23, $24, $25, $26,
             $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38,
             $39, $40, $41, $42, $43, $44, $45)",
        id,
        s.b,
        s.i2,
        s.i4,
        s.i8,
        s.f4,
        s.f8,
        s.num,
        s.t,
        s.vc,
        s.bp,
        s.nm,
        s.ci,
        s.by,
        s.u,
        s.j,
        s.jb,
        s.d,
        s.tm,
        s.ts,
        s.tz,
        s.iv,
        s.ip,
        s.o,
        s.pos,
        s.m as Option<Mood>,
        s.a_b,
        s.a_i2,
        s.a_i4,
        s.a_i8,
        s.a_f4,
        s.a_f8,
        s.a_num,
        s.a_t,
        s.a_vc,
        s.a_by,
        s.a_u,
        s.a_jb,
        s.a_d,
        s.a_tm,
        s.a_ts,
        s.a_tz,
        s.a_iv,
        s.a_ip,
        s.a_o,
    )
    .execute(pool())
    .unwrap();
    assert_eq!(inserted, 1);
}

/// Reads row `id` back through `query!`: building a `Sample` from the generated record
/// also proves each field's Rust type (a wrong mapping would not compile).
fn select(id: i32) -> Sample {
    let r = lifeguard::query!(
        r#"SELECT b, i2, i4, i8, f4, f8, num, t, vc, bp, nm, ci, by, u, j, jb,
               d, tm, ts, tz, iv, ip, o, pos, m AS "m: Mood",
               a_b, a_i2, a_i4, a_i8, a_f4, a_f8, a_num, a_t, a_vc, a_by, a_u, a_jb,
               a_d, a_tm, a_ts, a_tz, a_iv, a_ip, a_o
           FROM samples WHERE id = $1"#,
        id
    )
    .fetch_one(pool())
    .unwrap();
    Sample {
        b: r.b,
        i2: r.i2,
        i4: r.i4,
        i8: r.i8,
        f4: r.f4,
        f8: r.f8,
        num: r.num,
        t: r.t,
        vc: r.vc,
        bp: r.bp,
        nm: r.nm,
        ci: r.ci,
        by: r.by,
        u: r.u,
        j: r.j,
        jb: r.jb,
        d: r.d,
        tm: r.tm,
        ts: r.ts,
        tz: r.tz,
        iv: r.iv,
        ip: r.ip,
        o: r.o,
        pos: r.pos,
        m: r.m,
        a_b: r.a_b,
        a_i2: r.a_i2,
        a_i4: r.a_i4,
        a_i8: r.a_i8,
        a_f4: r.a_f4,
        a_f8: r.a_f8,
        a_num: r.a_num,
        a_t: r.a_t,
        a_vc: r.a_vc,
        a_by: r.a_by,
        a_u: r.a_u,
        a_jb: r.a_jb,
        a_d: r.a_d,
        a_tm: r.a_tm,
        a_ts: r.a_ts,
        a_tz: r.a_tz,
        a_iv: r.a_iv,
        a_ip: r.a_ip,
        a_o: r.a_o,
    }
}

/// Compares field by field first, so a failure names the column.
fn assert_same(read: &Sample, written: &Sample) {
    macro_rules! fields {
        ($($f:ident),*) => {$(
            assert_eq!(read.$f, written.$f, "column {}", stringify!($f));
        )*};
    }
    fields!(
        b, i2, i4, i8, f4, f8, num, t, vc, bp, nm, ci, by, u, j, jb, d, tm, ts, tz, iv, ip, o, pos,
        m, a_b, a_i2, a_i4, a_i8, a_f4, a_f8, a_num, a_t, a_vc, a_by, a_u, a_jb, a_d, a_tm, a_ts,
        a_tz, a_iv, a_ip, a_o
    );
    assert_eq!(read, written);
}

/// Every mapped type, arrays included, round-trips a non-NULL value exactly.
#[test]
fn every_type_round_trips_a_value() {
    let written = full_sample();
    insert(1, &written);
    assert_same(&select(1), &written);
}

/// A row of NULLs in every nullable column reads back as `None` in every field.
#[test]
fn every_type_round_trips_null() {
    let written = Sample::default();
    insert(2, &written);
    assert_same(&select(2), &written);
}

/// Empty arrays and values that need care (extreme floats, empty text, min/max
/// intervals, the other moods) survive too.
#[test]
fn edge_values_round_trip() {
    let written = Sample {
        f4: Some(f32::INFINITY),
        f8: Some(f64::NEG_INFINITY),
        t: Some(String::new()),
        by: Some(Vec::new()),
        num: Some(dec("0.000000000000000000000000001")),
        j: Some(json!(null)),
        jb: Some(json!([])),
        m: Some(Mood::Sad),
        a_i4: Some(Vec::new()),
        a_t: Some(Vec::new()),
        a_by: Some(Vec::new()),
        ip: Some(ip("0.0.0.0")),
        o: Some(0),
        iv: Some(Interval {
            months: i32::MIN,
            days: i32::MAX,
            microseconds: i64::MAX,
        }),
        ..Sample::default()
    };
    insert(3, &written);
    assert_same(&select(3), &written);
    let nan = Sample {
        f8: Some(f64::NAN),
        m: Some(Mood::Meh),
        ..Sample::default()
    };
    insert(4, &nan);
    let read = select(4);
    assert!(read.f8.is_some_and(f64::is_nan));
    assert_eq!(read.m, Some(Mood::Meh));
}

/// `char(n)` pads, `varchar(n)` checks its length, `citext` compares without case:
/// the server's semantics come through the mapping to `String` untouched.
#[test]
fn character_types_keep_server_semantics() {
    lifeguard::query!(
        "INSERT INTO samples (id, bp, vc, ci) VALUES ($1, $2, $3, $4)",
        10,
        "a",
        "twenty characters!!!",
        "Hello"
    )
    .execute(pool())
    .unwrap();
    let r = lifeguard::query!("SELECT bp, vc, ci FROM samples WHERE id = $1", 10)
        .fetch_one(pool())
        .unwrap();
    assert_eq!(r.bp.as_deref(), Some("a  "));
    assert_eq!(r.vc.as_deref(), Some("twenty characters!!!"));
    assert_eq!(r.ci.as_deref(), Some("Hello"));
    let found = lifeguard::query_scalar!("SELECT id FROM samples WHERE ci = $1", "hELLO")
        .fetch_all(pool())
        .unwrap();
    assert_eq!(found, vec![10]);
    let too_long = lifeguard::query!(
        "UPDATE samples SET vc = $2 WHERE id = $1",
        10,
        "twenty-one characters"
    )
    .execute(pool());
    assert!(
        matches!(too_long, Err(lifeguard::Error::Db(_))),
        "{too_long:?}"
    );
}

/// The domain `positive_int` maps to its base type `int4`, and its CHECK still runs.
#[test]
fn domain_maps_to_its_base_type() {
    let q = lifeguard::query!("INSERT INTO samples (id, pos) VALUES ($1, $2)", 20, 7);
    assert_eq!(q.statement().params()[1].name, "int4");
    q.execute(pool()).unwrap();
    let pos: Option<i32> = lifeguard::query_scalar!("SELECT pos FROM samples WHERE id = $1", 20)
        .fetch_one(pool())
        .unwrap();
    assert_eq!(pos, Some(7));
    let negative =
        lifeguard::query!("INSERT INTO samples (id, pos) VALUES ($1, $2)", 21, -1).execute(pool());
    assert!(
        matches!(negative, Err(lifeguard::Error::Db(_))),
        "{negative:?}"
    );
}

/// `query_as!` fills a struct the caller names, NULLs and values alike.
#[test]
fn query_as_reads_every_type_into_a_struct() {
    let written = full_sample();
    insert(30, &written);
    insert(31, &Sample::default());
    let read: Vec<Sample> = lifeguard::query_as!(
        Sample,
        r#"SELECT b, i2, i4, i8, f4, f8, num, t, vc, bp, nm, ci, by, u, j, jb,
               d, tm, ts, tz, iv, ip, o, pos, m AS "m: Mood",
               a_b, a_i2, a_i4, a_i8, a_f4, a_f8, a_num, a_t, a_vc, a_by, a_u, a_jb,
               a_d, a_tm, a_ts, a_tz, a_iv, a_ip, a_o
           FROM samples WHERE id IN ($1, $2) ORDER BY id"#,
        30,
        31
    )
    .fetch_all(pool())
    .unwrap();
    assert_eq!(read.len(), 2);
    assert_same(&read[0], &written);
    assert_same(&read[1], &Sample::default());
}

/// `query_scalar!` yields the bare value: `T` for a NOT NULL column or expression,
/// `Option<T>` for a nullable one.
#[test]
fn query_scalar_reads_values_and_nulls() {
    insert(40, &full_sample());
    insert(41, &Sample::default());
    let uuids: Vec<Option<Uuid>> =
        lifeguard::query_scalar!("SELECT u FROM samples WHERE id IN (40, 41) ORDER BY id")
            .fetch_all(pool())
            .unwrap();
    assert_eq!(uuids, vec![full_sample().u, None]);
    let ids: Vec<i32> = lifeguard::query_scalar!(
        "SELECT id FROM samples WHERE id BETWEEN $1 AND $2 ORDER BY id",
        40,
        41
    )
    .fetch_all(pool())
    .unwrap();
    assert_eq!(ids, vec![40, 41]);
    let count: i64 = lifeguard::query_scalar!(
        "SELECT count(*) FROM samples WHERE id BETWEEN $1 AND $2",
        40,
        41
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(count, 2);
    let mood = lifeguard::query_scalar!(r#"SELECT m AS "m: Mood" FROM samples WHERE id = 40"#)
        .fetch_one(pool())
        .unwrap();
    assert_eq!(mood, Some(Mood::Happy));
}

/// Scalar arguments bind as `T`, `&T`, `Option<T>` and `Option<&T>`, and text as
/// `&str`, `String`, `&String` and their `Option`s.
#[test]
fn scalar_argument_shapes() {
    let id = 50;
    insert(id, &Sample::default());
    let set_i4 = |q: lifeguard::CheckedQuery<Option<i32>>| q.fetch_one(pool()).unwrap();
    let seven = 7;
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET i4 = $2 WHERE id = $1 RETURNING i4",
            id,
            7
        )),
        Some(7)
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET i4 = $2 WHERE id = $1 RETURNING i4",
            &id,
            &seven
        )),
        Some(7)
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET i4 = $2 WHERE id = $1 RETURNING i4",
            id,
            Some(8)
        )),
        Some(8)
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET i4 = $2 WHERE id = $1 RETURNING i4",
            id,
            Some(&seven)
        )),
        Some(7)
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET i4 = $2 WHERE id = $1 RETURNING i4",
            id,
            None::<i32>
        )),
        None
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET i4 = $2 WHERE id = $1 RETURNING i4",
            id,
            None::<&i32>
        )),
        None
    );

    let set_t = |q: lifeguard::CheckedQuery<Option<String>>| q.fetch_one(pool()).unwrap();
    let owned = String::from("owned");
    let borrowed: &str = "borrowed";
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            "literal"
        ))
        .as_deref(),
        Some("literal")
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            borrowed
        ))
        .as_deref(),
        Some("borrowed")
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            String::from("String")
        ))
        .as_deref(),
        Some("String")
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            &owned
        ))
        .as_deref(),
        Some("owned")
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            Some(borrowed)
        ))
        .as_deref(),
        Some("borrowed")
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            Some(owned.clone())
        ))
        .as_deref(),
        Some("owned")
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            Some(&owned)
        ))
        .as_deref(),
        Some("owned")
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET t = $2 WHERE id = $1 RETURNING t",
            id,
            None::<&str>
        )),
        None
    );
}

/// bytea binds as `&[u8]`, `Vec<u8>`, `&Vec<u8>` and their `Option`s.
#[test]
fn bytea_argument_shapes() {
    let id = 51;
    insert(id, &Sample::default());
    let set = |q: lifeguard::CheckedQuery<Option<Vec<u8>>>| q.fetch_one(pool()).unwrap();
    let bytes: Vec<u8> = vec![9, 8, 7];
    let expected = Some(bytes.clone());
    let head: &[u8] = &bytes[..2];
    assert_eq!(
        set(lifeguard::query_scalar!(
            "UPDATE samples SET by = $2 WHERE id = $1 RETURNING by",
            id,
            bytes.as_slice()
        )),
        expected
    );
    assert_eq!(
        set(lifeguard::query_scalar!(
            "UPDATE samples SET by = $2 WHERE id = $1 RETURNING by",
            id,
            head
        )),
        Some(vec![9, 8])
    );
    assert_eq!(
        set(lifeguard::query_scalar!(
            "UPDATE samples SET by = $2 WHERE id = $1 RETURNING by",
            id,
            bytes.clone()
        )),
        expected
    );
    assert_eq!(
        set(lifeguard::query_scalar!(
            "UPDATE samples SET by = $2 WHERE id = $1 RETURNING by",
            id,
            &bytes
        )),
        expected
    );
    assert_eq!(
        set(lifeguard::query_scalar!(
            "UPDATE samples SET by = $2 WHERE id = $1 RETURNING by",
            id,
            Some(bytes.as_slice())
        )),
        expected
    );
    assert_eq!(
        set(lifeguard::query_scalar!(
            "UPDATE samples SET by = $2 WHERE id = $1 RETURNING by",
            id,
            None::<Vec<u8>>
        )),
        None
    );
}

/// Arrays bind as slices and `Vec`s, of values, of `Option`s (NULL elements) and, for
/// text, of `&str`; reading NULL elements needs a `Vec<Option<T>>` override.
#[test]
fn array_argument_shapes() {
    let id = 52;
    insert(id, &Sample::default());
    let set_i4 = |q: lifeguard::CheckedQuery<Option<Vec<i32>>>| q.fetch_one(pool()).unwrap();
    let v = vec![1, 2, 3];
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET a_i4 = $2 WHERE id = $1 RETURNING a_i4",
            id,
            v.as_slice()
        )),
        Some(v.clone())
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET a_i4 = $2 WHERE id = $1 RETURNING a_i4",
            id,
            v.clone()
        )),
        Some(v.clone())
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET a_i4 = $2 WHERE id = $1 RETURNING a_i4",
            id,
            &v
        )),
        Some(v.clone())
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET a_i4 = $2 WHERE id = $1 RETURNING a_i4",
            id,
            Some(v.as_slice())
        )),
        Some(v.clone())
    );
    assert_eq!(
        set_i4(lifeguard::query_scalar!(
            "UPDATE samples SET a_i4 = $2 WHERE id = $1 RETURNING a_i4",
            id,
            None::<Vec<i32>>
        )),
        None
    );

    let with_nulls = [Some(1), None, Some(3)];
    let read: Option<Vec<Option<i32>>> = lifeguard::query_scalar!(
        r#"UPDATE samples SET a_i4 = $2 WHERE id = $1 RETURNING a_i4 AS "a_i4: Vec<Option<i32>>""#,
        id,
        with_nulls.as_slice()
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(read, Some(with_nulls.to_vec()));
    let read: Option<Vec<Option<i32>>> = lifeguard::query_scalar!(
        r#"UPDATE samples SET a_i4 = $2 WHERE id = $1 RETURNING a_i4 AS "a_i4: Vec<Option<i32>>""#,
        id,
        vec![None, Some(2)]
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(read, Some(vec![None, Some(2)]));
    // Without the override the field is Vec<i32>: a NULL element is a decode error,
    // not a panic.
    let plain =
        lifeguard::query_scalar!("SELECT a_i4 FROM samples WHERE id = $1", id).fetch_one(pool());
    assert!(
        matches!(plain, Err(lifeguard::Error::Decode { .. })),
        "{plain:?}"
    );

    let set_t = |q: lifeguard::CheckedQuery<Option<Vec<String>>>| q.fetch_one(pool()).unwrap();
    let strs = ["a", "b"];
    let strings = vec![String::from("c"), String::from("d")];
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET a_t = $2 WHERE id = $1 RETURNING a_t",
            id,
            strs.as_slice()
        )),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET a_t = $2 WHERE id = $1 RETURNING a_t",
            id,
            strings.as_slice()
        )),
        Some(strings.clone())
    );
    assert_eq!(
        set_t(lifeguard::query_scalar!(
            "UPDATE samples SET a_t = $2 WHERE id = $1 RETURNING a_t",
            id,
            strings.clone()
        )),
        Some(strings.clone())
    );

    let byteas: [&[u8]; 2] = [b"xy", b""];
    let read: Option<Vec<Vec<u8>>> = lifeguard::query_scalar!(
        "UPDATE samples SET a_by = $2 WHERE id = $1 RETURNING a_by",
        id,
        byteas.as_slice()
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(read, Some(vec![b"xy".to_vec(), Vec::new()]));
}

/// `timestamptz` also binds from `DateTime<FixedOffset>` and `time::OffsetDateTime`;
/// it reads back as the same instant in UTC.
#[test]
fn timestamptz_binds_from_other_offsets() {
    let id = 53;
    insert(id, &Sample::default());
    let instant = utc(2021, 6, 1, 12, 0, 0);
    let plus_two = FixedOffset::east_opt(2 * 3600)
        .unwrap()
        .from_utc_datetime(&instant.naive_utc());
    let read = lifeguard::query_scalar!(
        "UPDATE samples SET tz = $2 WHERE id = $1 RETURNING tz",
        id,
        plus_two
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(read, Some(instant));
    let offset = time::OffsetDateTime::from_unix_timestamp(instant.timestamp()).unwrap();
    let read = lifeguard::query_scalar!(
        "UPDATE samples SET tz = $2 WHERE id = $1 RETURNING tz",
        id,
        offset
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(read, Some(instant));
}

/// An argument can be any Rust expression: a range index, an `if`, a block, a method
/// call, an array literal (the macros parse them with syn's full expression grammar).
#[test]
fn arguments_are_any_expression() {
    let id = 54;
    insert(id, &Sample::default());
    let v = [5, 6, 7];
    let eight = || 8i64;
    let read = lifeguard::query_scalar!(
        "UPDATE samples SET a_i4 = $2, i4 = $3, i8 = $4 WHERE id = $1 RETURNING a_i4",
        if id > 0 { id } else { 0 },
        &v[1..],
        { v.len() as i32 },
        eight()
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(read, Some(vec![6, 7]));
    let row = lifeguard::query!(
        "UPDATE samples SET a_t = $2 WHERE id = $1 RETURNING i4, i8, a_t",
        id,
        &["x", "y"][..]
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!((row.i4, row.i8), (Some(3), Some(8)));
    assert_eq!(row.a_t, Some(vec!["x".to_string(), "y".to_string()]));
}
