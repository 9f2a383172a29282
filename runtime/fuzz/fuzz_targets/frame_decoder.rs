//! The frame decoder on arbitrary bytes, fed in arbitrary chunk sizes: it must
//! never panic, never yield a frame above its limit, and decode the same frames
//! (and the same error) whatever the chunking.

#![no_main]

use acton_reactive::ipc::protocol::{Frame, FrameCodec, FrameError};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const LIMIT: usize = 4096;

fn error_kind(error: &FrameError) -> &'static str {
    match error {
        FrameError::TooLarge { .. } => "too large",
        FrameError::UnsupportedVersion(_) => "version",
        FrameError::UnknownKind(_) => "kind",
        FrameError::UnknownFormat(_) => "format",
        FrameError::Io(_) => "io",
    }
}

fn decode<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<Frame>, Option<&'static str>) {
    let mut codec = FrameCodec::new(LIMIT);
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= LIMIT);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(error) => return (frames, Some(error_kind(&error))),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (chunk, data) = input;
    let whole = decode(std::iter::once(&data[..]));
    let chunked = decode(data.chunks(usize::from(chunk).max(1)));
    assert_eq!(whole, chunked, "chunking changed the outcome");
});
