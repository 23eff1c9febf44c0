//! Framing of backend messages: how many bytes a message takes, and parsing one.
//!
//! postgres-protocol does the decoding; this module adds the checks that keep
//! malformed input from doing harm: a length field beyond [`MAX_MESSAGE_LEN`] is a
//! protocol error instead of a giant allocation, and every decoding failure is an
//! [`Error::Protocol`].

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use crate::error::Error;

/// The largest backend message accepted (PostgreSQL's own limit on a field is 1 GiB).
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// The length (tag included) of the complete message at the start of `buf`, or `None`
/// when `buf` does not hold a whole message yet.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, Error> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if !(4..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(Error::protocol(format!(
            "message '{}' has invalid length {len}",
            buf[0].escape_ascii()
        )));
    }
    let total = len + 1;
    Ok((buf.len() >= total).then_some(total))
}

/// Takes the first complete message off `buf`, or `None` when it holds no whole message.
pub fn parse_message(buf: &mut BytesMut) -> Result<Option<Message>, Error> {
    let Some(total) = frame_len(buf)? else {
        return Ok(None);
    };
    let tag = buf[0];
    let mut frame = buf.split_to(total);
    match Message::parse(&mut frame) {
        Ok(Some(message)) => Ok(Some(message)),
        Ok(None) => Err(Error::protocol(format!(
            "message '{}' is shorter than its length field",
            tag.escape_ascii()
        ))),
        Err(e) => Err(Error::protocol(format!(
            "malformed message '{}': {e}",
            tag.escape_ascii()
        ))),
    }
}

/// True for the messages the server may send at any time, outside any request's
/// response: NoticeResponse, NotificationResponse and ParameterStatus.
pub fn is_async_tag(tag: u8) -> bool {
    matches!(tag, b'N' | b'A' | b'S')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_needs_the_whole_message() {
        assert_eq!(frame_len(b"Z\0\0\0").unwrap(), None);
        assert_eq!(frame_len(b"Z\0\0\0\x05").unwrap(), None);
        assert_eq!(frame_len(b"Z\0\0\0\x05I").unwrap(), Some(6));
    }

    #[test]
    fn absurd_lengths_are_protocol_errors() {
        assert!(frame_len(b"Z\0\0\0\x03").is_err());
        assert!(frame_len(b"D\x7f\xff\xff\xff").is_err());
    }

    #[test]
    fn a_short_body_is_an_error_not_a_panic() {
        // CommandComplete whose body lacks the terminating NUL.
        let mut buf = BytesMut::from(&b"C\0\0\0\x06AB"[..]);
        assert!(parse_message(&mut buf).is_err());
    }
}
