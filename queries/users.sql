-- The quickstart's `users` (queries/schema.sql) as a module of functions, through
-- `lifeguard::queries!` (its documentation, tests/queries.rs).

-- name: user_by_email(email) :optional
SELECT id, name, email FROM users WHERE email = $1;

-- name: add_user(name, email) :one
INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id;

-- name: rename_user(id, name) :execute
UPDATE users SET name = $2 WHERE id = $1;

-- name: users_named_like(pattern)
-- Every user whose name matches a LIKE pattern, by id.
SELECT id, name, email
FROM users
WHERE name LIKE $1
ORDER BY id;

-- name: count_users
SELECT count(*) AS n FROM users;
