//! Asynchronous notifications (LISTEN/NOTIFY).

use postgres_protocol::message::backend::NotificationResponseBody;

use crate::error::Error;

/// A notification sent with `NOTIFY channel, 'payload'` (or `pg_notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    process_id: i32,
    channel: String,
    payload: String,
}

impl Notification {
    pub(crate) fn from_body(body: &NotificationResponseBody) -> Result<Notification, Error> {
        let bad =
            |e: std::io::Error| Error::protocol(format!("malformed NotificationResponse: {e}"));
        Ok(Notification {
            process_id: body.process_id(),
            channel: body.channel().map_err(bad)?.to_owned(),
            payload: body.message().map_err(bad)?.to_owned(),
        })
    }

    /// The process ID of the backend that sent it.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// The channel it was sent on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The payload (empty when none was given).
    pub fn payload(&self) -> &str {
        &self.payload
    }
}
