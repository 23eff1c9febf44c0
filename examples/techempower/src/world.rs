//! The `world` table behind `/db`, `/queries` and `/updates`: one row by id, many rows
//! by separate statements run at once (so they pipeline over the pool's shared
//! connections), and new random numbers persisted in one statement.

use fastrand::Rng;
use lifeguard::{Error, Pool, query, query_as};
use serde::Serialize;

/// Rows in `world`: ids and random numbers run from 1 to this.
pub const ROWS: i32 = 10_000;

/// A row of `world`, serialised as the benchmark's rules spell it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct World {
    id: i32,
    #[serde(rename = "randomNumber")]
    random_number: i32,
}

/// A uniformly random id of `world`.
pub fn random_id(rng: &mut Rng) -> i32 {
    rng.i32(1..=ROWS)
}

/// The row of `id`.
pub fn one(pool: &Pool, id: i32) -> Result<World, Error> {
    query_as!(
        World,
        "SELECT id, randomnumber AS random_number FROM world WHERE id = $1",
        id
    )
    .fetch_one(pool)
}

/// The most coroutines one request runs its statements on: the benchmark's largest
/// test asks for 20 rows, and past this a request of 500 rows would hold 500 stacks.
const MAX_LANES: usize = 20;

/// How many coroutines a request should spread its statements over, given the
/// requests in flight now and the statements the pool can pipeline at once
/// (connections × `max_in_flight`): enough for the requests together to fill the
/// pool's pipelines, no more. Under load the requests fill them by themselves, and
/// spreading only costs stacks and scheduling: at 256 connections, /queries?queries=20
/// ran its statements one after another faster, in a third of the memory, than on 20
/// coroutines; at 2 connections the 20 coroutines answered in about half the time.
pub fn lanes(requests_in_flight: usize, pool_capacity: usize) -> usize {
    (pool_capacity / requests_in_flight.max(1)).clamp(1, MAX_LANES)
}

/// The rows of `ids`, in their order, each by a statement of its own, on up to `lanes`
/// coroutines (each taking a consecutive share of `ids`; see [`lanes`]). Statements
/// running at once are pipelined over the pool's shared connections instead of
/// waiting one round trip each; the caller waits for all of them.
pub fn many(pool: &Pool, ids: &[i32], lanes: usize) -> Result<Vec<World>, Error> {
    let lanes = ids.len().min(lanes);
    if lanes <= 1 {
        return ids.iter().map(|&id| one(pool, id)).collect();
    }
    let share = ids.len().div_ceil(lanes);
    may::coroutine::scope(|scope| {
        let running: Vec<_> = ids
            .chunks(share)
            .map(|part| {
                // SAFETY: the coroutine uses no thread-locals and blocks only on may
                // primitives (the pool's); the scope joins it before `pool` and `ids`
                // go away.
                unsafe {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&id| one(pool, id))
                            .collect::<Result<Vec<World>, Error>>()
                    })
                }
            })
            .collect();
        let mut rows = Vec::with_capacity(ids.len());
        for lane in running {
            rows.extend(lane.join()?);
        }
        Ok(rows)
    })
}

/// Gives every row a new random number (never the one it had) and persists them all
/// in one statement before returning. An id drawn twice is one row: every copy in
/// `rows` ends with the number that was stored. Ids go to the server sorted and the
/// plan walks them in that order through the primary key (a nested loop over `unnest`),
/// so concurrent updates lock rows in the same order and cannot deadlock.
pub fn update(pool: &Pool, rows: &mut [World], rng: &mut Rng) -> Result<(), Error> {
    for row in rows.iter_mut() {
        row.random_number = another_number(row.random_number, rng);
    }
    let (ids, numbers) = stored(rows);
    for row in rows.iter_mut() {
        if let Ok(at) = ids.binary_search(&row.id) {
            row.random_number = numbers[at];
        }
    }
    query!(
        "UPDATE world SET randomnumber = new.randomnumber \
         FROM unnest($1::int4[], $2::int4[]) AS new (id, randomnumber) \
         WHERE world.id = new.id",
        &ids,
        &numbers
    )
    .execute(pool)?;
    Ok(())
}

/// A random number in `1..=ROWS` other than `old` (one of `old`), uniform over the rest.
fn another_number(old: i32, rng: &mut Rng) -> i32 {
    1 + (old - 1 + rng.i32(1..ROWS)) % ROWS
}

/// What `update` stores: each id of `rows` once, sorted, with the number its last copy
/// in `rows` carries.
fn stored(rows: &[World]) -> (Vec<i32>, Vec<i32>) {
    let mut pairs: Vec<(i32, i32)> = rows.iter().map(|r| (r.id, r.random_number)).collect();
    // Stable: copies of one id keep their order, the last one last.
    pairs.sort_by_key(|&(id, _)| id);
    let mut ids: Vec<i32> = Vec::with_capacity(pairs.len());
    let mut numbers: Vec<i32> = Vec::with_capacity(pairs.len());
    for (id, number) in pairs {
        if ids.last() == Some(&id) {
            if let Some(last) = numbers.last_mut() {
                *last = number;
            }
        } else {
            ids.push(id);
            numbers.push(number);
        }
    }
    (ids, numbers)
}

#[cfg(test)]
mod tests {
    use super::{MAX_LANES, ROWS, World, another_number, lanes, stored};

    fn world(id: i32, random_number: i32) -> World {
        World { id, random_number }
    }

    #[test]
    fn stored_rows_are_sorted_once_each_with_the_last_number() {
        let rows = [
            world(7, 1),
            world(3, 2),
            world(7, 3),
            world(1, 4),
            world(3, 5),
        ];
        assert_eq!(stored(&rows), (vec![1, 3, 7], vec![4, 5, 3]));
        assert_eq!(stored(&[]), (vec![], vec![]));
    }

    #[test]
    fn lanes_fill_the_pool_and_no_more() {
        assert_eq!(lanes(1, 256), MAX_LANES);
        assert_eq!(lanes(0, 256), MAX_LANES);
        assert_eq!(lanes(32, 256), 8);
        assert_eq!(lanes(256, 256), 1);
        assert_eq!(lanes(5000, 256), 1);
    }

    #[test]
    fn another_number_differs_and_stays_in_range() {
        let mut rng = fastrand::Rng::with_seed(15);
        for old in [1, 2, ROWS / 2, ROWS - 1, ROWS] {
            for _ in 0..10_000 {
                let new = another_number(old, &mut rng);
                assert!((1..=ROWS).contains(&new) && new != old, "{old} -> {new}");
            }
        }
    }
}
