-- The most liked posts with their authors (the quickstart's query_file! example).
SELECT p.title, u.name AS author, p.likes
FROM posts p
JOIN users u ON u.id = p.author_id
ORDER BY p.likes DESC, p.id
LIMIT $1
