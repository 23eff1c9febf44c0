//! The HTTP side: one [`Service`] per connection (may_minihttp runs each connection in a
//! coroutine of its own and calls the service for one request after another), routing
//! by path, the `Content-Type` of each test (may_minihttp writes `Server`, `Date` and
//! `Content-Length`), and failures turned into a 500 with a short message: a handler
//! returns errors as values and never panics.

use std::io;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use fastrand::Rng;
use lifeguard::Pool;
use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};
use serde::Serialize;

use crate::failure::Failure;
use crate::lifecycle::Lifecycle;
use crate::{fortunes, params, world};

const JSON: &str = "Content-Type: application/json";
const TEXT: &str = "Content-Type: text/plain";
const HTML: &str = "Content-Type: text/html; charset=utf-8";

/// What every connection's service shares: the pool and the service's life.
pub struct Factory {
    pub pool: Pool,
    pub lifecycle: Arc<Lifecycle>,
    /// The statements the pool pipelines at once: connections × `max_in_flight`.
    pub pool_capacity: usize,
}

/// The service of one connection.
pub struct Service {
    pool: Pool,
    lifecycle: Arc<Lifecycle>,
    pool_capacity: usize,
    /// This connection's random ids and numbers (no thread-local generator: the
    /// coroutine may move between threads).
    rng: Rng,
}

impl HttpServiceFactory for Factory {
    type Service = Service;

    fn new_service(&self, id: usize) -> Service {
        Service {
            pool: self.pool.clone(),
            lifecycle: self.lifecycle.clone(),
            pool_capacity: self.pool_capacity,
            rng: Rng::with_seed(fastrand::u64(..) ^ id as u64),
        }
    }
}

/// `/json`'s object, made for each request as the rules ask.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

impl HttpService for Service {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        let Some(_counted) = self.lifecycle.enter() else {
            rsp.status_code(503, "Service Unavailable")
                .header(TEXT)
                .body("shutting down\n");
            return Ok(());
        };
        let (path, query_string) = match req.path().split_once('?') {
            Some((path, query_string)) => (path, Some(query_string)),
            None => (req.path(), None),
        };
        let lanes = world::lanes(self.lifecycle.in_flight(), self.pool_capacity);
        let outcome = match path {
            "/plaintext" => {
                rsp.body("Hello, World!");
                Ok(TEXT)
            }
            "/json" => write_json(
                rsp.body_mut(),
                &Message {
                    message: "Hello, World!",
                },
            ),
            "/db" => world::one(&self.pool, world::random_id(&mut self.rng))
                .map_err(Failure::from)
                .and_then(|row| write_json(rsp.body_mut(), &row)),
            "/queries" => random_rows(&self.pool, &mut self.rng, query_string, lanes)
                .and_then(|rows| write_json(rsp.body_mut(), &rows)),
            "/updates" => random_rows(&self.pool, &mut self.rng, query_string, lanes)
                .and_then(|mut rows| {
                    world::update(&self.pool, &mut rows, &mut self.rng)?;
                    Ok(rows)
                })
                .and_then(|rows| write_json(rsp.body_mut(), &rows)),
            "/fortunes" => fortunes::render(&self.pool, rsp.body_mut()).map(|()| HTML),
            _ => {
                rsp.status_code(404, "Not Found")
                    .header(TEXT)
                    .body("not found\n");
                return Ok(());
            }
        };
        match outcome {
            Ok(content_type) => {
                rsp.header(content_type);
            }
            Err(failure) => {
                eprintln!("{path}: {failure}");
                rsp.body_mut().clear();
                rsp.status_code(500, "Internal Server Error")
                    .header(TEXT)
                    .body(failure.public_message());
            }
        }
        Ok(())
    }
}

/// The rows of `/queries` and `/updates`: as many random ones as the query string asks
/// for, on `lanes` coroutines.
fn random_rows(
    pool: &Pool,
    rng: &mut Rng,
    query_string: Option<&str>,
    lanes: usize,
) -> Result<Vec<world::World>, Failure> {
    let ids: Vec<i32> = (0..params::queries(query_string))
        .map(|_| world::random_id(rng))
        .collect();
    Ok(world::many(pool, &ids, lanes)?)
}

/// Serialises `value` into the body; the content type is JSON's.
fn write_json(body: &mut BytesMut, value: &impl Serialize) -> Result<&'static str, Failure> {
    serde_json::to_writer(body.writer(), value)?;
    Ok(JSON)
}
