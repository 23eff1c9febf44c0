//! `/fortunes`: every row of `fortune`, plus one added at request time, sorted by
//! message and rendered through `templates/fortunes.html`, an askama template compiled
//! into the binary that escapes what it inserts (one fortune is a `<script>` tag).

use askama::Template;
use bytes::BytesMut;
use lifeguard::{Pool, query_as};

use crate::failure::Failure;

/// The fortune each request adds before sorting (id 0, as the rules say).
const ADDED: &str = "Additional fortune added at request time.";

/// A row of `fortune`.
struct Fortune {
    id: i32,
    message: String,
}

/// The page: the fortunes in the order they are shown.
#[derive(Template)]
#[template(path = "fortunes.html")]
struct FortunesPage<'a> {
    fortunes: &'a [Fortune],
}

/// Reads the fortunes, adds one, sorts them and writes the page into `out`.
pub fn render(pool: &Pool, out: &mut BytesMut) -> Result<(), Failure> {
    let mut fortunes = query_as!(Fortune, "SELECT id, message FROM fortune").fetch_all(pool)?;
    fortunes.push(Fortune {
        id: 0,
        message: ADDED.to_owned(),
    });
    fortunes.sort_unstable_by(|a, b| a.message.cmp(&b.message));
    FortunesPage {
        fortunes: &fortunes,
    }
    .render_into(out)?;
    Ok(())
}
