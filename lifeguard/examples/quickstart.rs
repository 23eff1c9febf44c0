//! The quickstart: a pipelined client shared by coroutines, plus an exclusive
//! connection for a transaction and a COPY.
//!
//! ```sh
//! cargo run -p lifeguard --example quickstart
//! ```
//!
//! Uses `DATABASE_URL` when set; otherwise starts a private PostgreSQL and removes it
//! when done.

use std::io::Write;

use lifeguard::pg::{Client, Config, Connection, Error};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            eprintln!("DATABASE_URL is unset: starting a private PostgreSQL");
            lifeguard_harness::test_server().fresh_database("quickstart")
        }
    };
    let config: Config = url.parse()?;

    // Schema and data through an exclusive connection.
    let mut conn = Connection::connect(&config)?;
    conn.batch_execute(
        "DROP TABLE IF EXISTS quickstart_users;
         CREATE TABLE quickstart_users (id serial PRIMARY KEY, name text NOT NULL, email text)",
    )?;
    let mut copy = conn.copy_in("COPY quickstart_users (name, email) FROM STDIN")?;
    copy.write_all(b"ada\tada@example.com\ngrace\t\\N\n")?;
    println!("copied {} users", copy.finish()?);

    // A transaction with a savepoint that is rolled back.
    let mut tx = conn.transaction()?;
    let id: i32 = tx
        .query_one(
            "INSERT INTO quickstart_users (name) VALUES ($1) RETURNING id",
            &[&"linus"],
        )?
        .get(0)?;
    {
        let mut savepoint = tx.transaction()?;
        savepoint.execute("DELETE FROM quickstart_users", &[])?;
        // dropped without commit: the delete is rolled back
    }
    tx.commit()?;
    println!("inserted user {id} in a transaction");

    // The pipelined client: 100 coroutines share one connection.
    let client = Client::connect(&config)?;
    let workers: Vec<_> = (1..=100)
        .map(|i: i32| {
            let client = client.clone();
            may::go!(move || -> Result<i64, Error> {
                let row = client.query_one(
                    "SELECT count(*) FROM quickstart_users WHERE id <= $1",
                    &[&i],
                )?;
                row.get(0)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.join().expect("a coroutine panicked")?;
    }
    println!("100 coroutines counted {total} rows in all");

    for row in client.query(
        "SELECT id, name, email FROM quickstart_users ORDER BY id",
        &[],
    )? {
        let id: i32 = row.get("id")?;
        let name: String = row.get("name")?;
        let email: Option<String> = row.get("email")?;
        println!(
            "{id:>3} {name:<6} {}",
            email.as_deref().unwrap_or("(no email)")
        );
    }
    println!("client stats: {:?}", client.stats());
    Ok(())
}
