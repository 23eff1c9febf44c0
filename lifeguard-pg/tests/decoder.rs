//! The message decoder fed truncated and random bytes returns errors, never panics.

use bytes::{BufMut, BytesMut};
use lifeguard_pg::codec::parse_message;
use proptest::prelude::*;

/// Valid backend messages: a RowDescription, two DataRows, CommandComplete, an
/// ErrorResponse, a NotificationResponse and ReadyForQuery.
fn valid_stream() -> Vec<u8> {
    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }
    let mut out = Vec::new();
    let mut rd = BytesMut::new();
    rd.put_u16(1);
    rd.put_slice(b"id\0");
    rd.put_u32(0);
    rd.put_i16(0);
    rd.put_u32(23);
    rd.put_i16(4);
    rd.put_i32(-1);
    rd.put_i16(1);
    out.extend(message(b'T', &rd));
    for v in [1i32, 2] {
        let mut dr = BytesMut::new();
        dr.put_u16(1);
        dr.put_i32(4);
        dr.put_i32(v);
        out.extend(message(b'D', &dr));
    }
    out.extend(message(b'C', b"SELECT 2\0"));
    out.extend(message(b'E', b"SERROR\0C22012\0Mdivision by zero\0\0"));
    out.extend(message(b'A', b"\0\0\0\x07chan\0payload\0"));
    out.extend(message(b'Z', b"I"));
    out
}

/// Parses everything parseable; stops at the first error or incomplete message.
fn drain(bytes: &[u8]) -> usize {
    let mut buf = BytesMut::from(bytes);
    let mut n = 0;
    while let Ok(Some(_)) = parse_message(&mut buf) {
        n += 1;
    }
    n
}

#[test]
fn the_valid_stream_parses_completely() {
    assert_eq!(drain(&valid_stream()), 7);
}

#[test]
fn every_truncation_of_a_valid_stream_is_handled() {
    let stream = valid_stream();
    for cut in 0..stream.len() {
        drain(&stream[..cut]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        drain(&bytes);
    }

    #[test]
    fn corrupted_valid_streams_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut stream = valid_stream();
        for (at, value) in flips {
            let i = at.index(stream.len());
            stream[i] = value;
        }
        drain(&stream);
    }

    #[test]
    fn random_bodies_behind_valid_headers_never_panic(
        tag in prop::sample::select(b"123nstTDCEINAZSKRGHcdWvV".to_vec()),
        body in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(&body);
        drain(&m);
    }
}
