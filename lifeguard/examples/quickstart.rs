//! The quickstart: statements checked at compile time with the `query!` family, run on
//! a pool shared by coroutines, and a transaction with a savepoint.
//!
//! ```sh
//! cargo run -p lifeguard --example quickstart
//! ```
//!
//! Without `DATABASE_URL` it starts a private PostgreSQL (removed when done), and the
//! build checks the statements against the committed `.lifeguard/` metadata. With
//! `DATABASE_URL` set, the build checks them against that database, which must already
//! hold `queries/schema.sql` (`psql "$DATABASE_URL" -f queries/schema.sql`).

use lifeguard::{Error, Pool, PoolConfig, query, query_as, query_file, query_scalar};

/// A row type of our own, filled by `query_as!`.
struct User {
    id: i32,
    name: String,
    email: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            eprintln!("DATABASE_URL is unset: starting a private PostgreSQL");
            lifeguard_harness::test_server().fresh_database("quickstart")
        }
    };
    let pool = Pool::new(PoolConfig::new(&url)?.connections(2))?;
    pool.acquire()?
        .batch_execute(include_str!("../../queries/schema.sql"))?;
    query!("DELETE FROM users").execute(&pool)?;

    // Insert ... RETURNING: the row struct has `id: i32` (a NOT NULL column).
    let ada = query!(
        "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id",
        "ada",
        Some("ada@example.com")
    )
    .fetch_one(&pool)?
    .id;
    let grace = query!(
        "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id",
        "grace",
        None::<&str>
    )
    .fetch_one(&pool)?
    .id;
    println!("inserted ada ({ada}) and grace ({grace})");

    // One row; `email` is Option<String> because the column can be NULL.
    let user = query!("SELECT id, name, email FROM users WHERE id = $1", ada).fetch_one(&pool)?;
    println!(
        "user {}: {} <{}>",
        user.id,
        user.name,
        user.email.unwrap_or_default()
    );

    // Zero or one row.
    let nobody = query!(
        "SELECT name FROM users WHERE email = $1",
        "nobody@example.com"
    )
    .fetch_optional(&pool)?;
    println!("lookup of nobody@example.com: {nobody:?}");

    // A transaction: two posts, and a savepoint whose failure rolls back only itself.
    pool.transaction(|tx| -> Result<(), Error> {
        for (author, title) in [(ada, "Notes on the engine"), (grace, "Compilers")] {
            query!(
                "INSERT INTO posts (author_id, title, likes) VALUES ($1, $2, $3)",
                author,
                title,
                3
            )
            .execute(&mut *tx)?;
        }
        let failed = tx.savepoint(|tx| {
            query!(
                "INSERT INTO posts (author_id, title) VALUES ($1, $2)",
                -1,
                "orphan"
            )
            .execute(tx)
        });
        println!("savepoint rolled back: {}", failed.unwrap_err());
        Ok(())
    })?;

    // Update: rows affected.
    let liked = query!(
        "UPDATE posts SET likes = likes + 1 WHERE author_id = $1",
        ada
    )
    .execute(&pool)?;
    println!("liked {liked} post(s) by ada");

    // A list into our own struct.
    let users: Vec<User> =
        query_as!(User, "SELECT id, name, email FROM users ORDER BY id").fetch_all(&pool)?;
    for user in &users {
        let email = user.email.as_deref().unwrap_or("(no email)");
        println!("user {:>2} {:<6} {email}", user.id, user.name);
    }

    // A join.
    for row in query!(
        "SELECT u.name, p.title FROM posts p JOIN users u ON u.id = p.author_id ORDER BY p.id"
    )
    .fetch_all(&pool)?
    {
        println!("{} wrote {:?}", row.name, row.title);
    }

    // An aggregate over a LEFT JOIN: count is never NULL, max can be.
    for row in query!(
        "SELECT u.name, count(p.id) AS posts, max(p.likes) AS top_likes \
         FROM users u LEFT JOIN posts p ON p.author_id = u.id GROUP BY u.name ORDER BY u.name"
    )
    .fetch_all(&pool)?
    {
        println!(
            "{}: {} post(s), best {:?} likes",
            row.name, row.posts, row.top_likes
        );
    }

    // SQL from a file (relative to this crate's root).
    for row in query_file!("../queries/top_posts.sql", 1i64).fetch_all(&pool)? {
        println!(
            "top post: {:?} by {} ({} likes)",
            row.title, row.author, row.likes
        );
    }

    // 100 coroutines share the pool; their statements are pipelined.
    let workers: Vec<_> = (1..=100)
        .map(|i: i32| {
            let pool = pool.clone();
            may::go!(move || {
                query_scalar!("SELECT count(*) FROM posts WHERE likes >= $1", i % 5)
                    .fetch_one(&pool)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.join().expect("a coroutine panicked")?;
    }
    println!("100 coroutines counted {total} posts in all");

    let check = query_scalar!("SELECT count(*) FROM users");
    println!(
        "{:?} is a {:?}",
        check.statement().sql,
        check.statement().kind()
    );
    println!("{:?}", pool.stats());
    pool.close(std::time::Duration::from_secs(5));
    Ok(())
}
