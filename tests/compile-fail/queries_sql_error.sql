-- A file whose second statement has a syntax error on its third line (line 10 of the
-- file): the error names the statement and shows that line with a caret.

-- name: fine(id) :one
SELECT id, name FROM users WHERE id = $1;

-- name: broken(id)
SELECT id, name
FROM users
WHER id = $1;
