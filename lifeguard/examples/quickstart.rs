//! The quickstart: a pool shared by coroutines, autocommit statements pipelined over
//! its shared connections, and a transaction (with a savepoint and a COPY) on a
//! connection of its own.
//!
//! ```sh
//! cargo run -p lifeguard --example quickstart
//! ```
//!
//! Uses `DATABASE_URL` when set; otherwise starts a private PostgreSQL and removes it
//! when done.

use std::io::Write;

use lifeguard::{Error, Pool, PoolConfig, query};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            eprintln!("DATABASE_URL is unset: starting a private PostgreSQL");
            lifeguard_harness::test_server().fresh_database("quickstart")
        }
    };
    let pool = Pool::new(PoolConfig::new(&url)?.connections(2))?;

    // Autocommit statements: each goes to the least busy shared connection.
    query("DROP TABLE IF EXISTS quickstart_users").execute(&pool)?;
    query("CREATE TABLE quickstart_users (id serial PRIMARY KEY, name text NOT NULL, email text)")
        .execute(&pool)?;
    let id: i32 = query("INSERT INTO quickstart_users (name, email) VALUES ($1, $2) RETURNING id")
        .bind(&"ada")
        .bind(&"ada@example.com")
        .fetch_one(&pool)?
        .get(0)?;
    println!("inserted ada as user {id}");

    // A transaction on an exclusive connection: COPY, a failed savepoint, commit.
    pool.transaction(|tx| -> Result<(), Error> {
        let mut copy = tx
            .connection()
            .copy_in("COPY quickstart_users (name) FROM STDIN")?;
        copy.write_all(b"grace\nlinus\n").map_err(Error::Io)?;
        println!("copied {} users", copy.finish()?);
        let duplicate = tx.savepoint(|tx| {
            query("INSERT INTO quickstart_users (id, name) VALUES (1, 'again')").execute(tx)
        });
        println!("savepoint rolled back: {}", duplicate.unwrap_err());
        Ok(())
    })?;

    // 100 coroutines share the pool; their statements are pipelined.
    let workers: Vec<_> = (1..=100)
        .map(|i: i32| {
            let pool = pool.clone();
            may::go!(move || -> Result<i64, Error> {
                query("SELECT count(*) FROM quickstart_users WHERE id <= $1")
                    .bind(&i)
                    .fetch_one(&pool)?
                    .get(0)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.join().expect("a coroutine panicked")?;
    }
    println!("100 coroutines counted {total} rows in all");

    for row in query("SELECT id, name, email FROM quickstart_users ORDER BY id").fetch_all(&pool)? {
        let id: i32 = row.get("id")?;
        let name: String = row.get("name")?;
        let email: Option<String> = row.get("email")?;
        println!(
            "{id:>3} {name:<6} {}",
            email.as_deref().unwrap_or("(no email)")
        );
    }
    println!("{:?}", pool.stats());
    pool.close(std::time::Duration::from_secs(5));
    Ok(())
}
