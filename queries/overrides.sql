-- Every override form of `queries!` on `samples` (queries/schema.sql), for
-- tests/queries.rs: column aliases `"c!"`, `"c?"`, `"c: Type"`, `"c!: Type"`,
-- `"c?: Type"`, and a parameter with a Rust type (`m: Type`, no check, ToSql only).

-- name: add_sample(id, t, m: lifeguard_suite::Mood) :execute
INSERT INTO samples (id, t, m) VALUES ($1, $2, $3);

-- name: sample(id) :one
SELECT id AS "id?",
       t AS "t!",
       m AS "mood: lifeguard_suite::Mood",
       m AS "sure!: lifeguard_suite::Mood",
       m AS "maybe?: lifeguard_suite::Mood",
       upper(t) AS "shout!"
FROM samples
WHERE id = $1;
