-- The schema every query! in this repository is checked against: the quickstart's
-- tables, the test suite's, the benchmark's `world` and the TechEmpower example's
-- `fortune`. Idempotent: the quickstart runs it on whatever database DATABASE_URL names.
--
-- Compile online against a database that has it, e.g. the private one
--   cargo run -p lifeguard-harness --bin lifeguard-build-server -- --schema queries/schema.sql
-- prints (export it before building).

CREATE EXTENSION IF NOT EXISTS citext;

DO $$ BEGIN
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE DOMAIN positive_int AS int4 CHECK (VALUE > 0);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- The quickstart.
CREATE TABLE IF NOT EXISTS users (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email text
);
CREATE TABLE IF NOT EXISTS posts (
    id serial PRIMARY KEY,
    author_id int NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL,
    likes int NOT NULL DEFAULT 0,
    published_at timestamptz
);

-- Nullability shapes (tests/nullability.rs).
CREATE TABLE IF NOT EXISTS customers (
    id int PRIMARY KEY,
    name text NOT NULL,
    email text
);
CREATE TABLE IF NOT EXISTS orders (
    id int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    total int NOT NULL,
    note text
);
CREATE TABLE IF NOT EXISTS order_tags (
    id int PRIMARY KEY,
    order_id int REFERENCES orders (id),
    label text NOT NULL
);
CREATE OR REPLACE VIEW customer_orders AS
    SELECT c.id, c.name, o.total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id;
CREATE OR REPLACE FUNCTION customer_names() RETURNS TABLE (n text)
    LANGUAGE sql STABLE AS 'SELECT name FROM customers';

-- Every mapped type, for round trips (tests/types.rs).
CREATE TABLE IF NOT EXISTS samples (
    id int PRIMARY KEY,
    b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, num numeric,
    t text, vc varchar(20), bp char(3), nm name, ci citext, by bytea,
    u uuid, j json, jb jsonb,
    d date, tm time, ts timestamp, tz timestamptz, iv interval, ip inet, o oid,
    pos positive_int, m mood,
    a_b bool[], a_i2 int2[], a_i4 int4[], a_i8 int8[], a_f4 float4[], a_f8 float8[],
    a_num numeric[], a_t text[], a_vc varchar[], a_by bytea[], a_u uuid[], a_jb jsonb[],
    a_d date[], a_tm time[], a_ts timestamp[], a_tz timestamptz[], a_iv interval[],
    a_ip inet[], a_o oid[]
);

-- The benchmark's table (TechEmpower's).
CREATE TABLE IF NOT EXISTS world (
    id int PRIMARY KEY,
    randomnumber int NOT NULL
);

-- TechEmpower's fortunes (examples/techempower; its rows are in queries/techempower.sql).
CREATE TABLE IF NOT EXISTS fortune (
    id int PRIMARY KEY,
    message varchar(2048) NOT NULL
);

-- Start-up verification (tests/verify.rs) alters it to make statements drift.
CREATE TABLE IF NOT EXISTS verify_items (
    id int PRIMARY KEY,
    label text NOT NULL,
    price int4 NOT NULL,
    note text
);

-- Routing to replicas (lifeguard/tests/routing.rs): each write names its caller's call,
-- so a write run twice shows as two rows.
CREATE TABLE IF NOT EXISTS routing_items (
    id serial PRIMARY KEY,
    call int NOT NULL,
    note text NOT NULL
);
