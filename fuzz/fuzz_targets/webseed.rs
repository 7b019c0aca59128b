//! A web seed's answer (status, `Content-Range`, `Content-Length`, `Retry-After`) is checked
//! against the range asked for without panicking, and only an exact match is accepted.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u64, u64, u64, u16, &str, Option<u64>, &str)| {
    let (offset, len, file_len, status, content_range, content_length, retry_after) = input;
    let ok = engine::fuzzing::web_seed_answer(
        (offset, len, file_len),
        status,
        content_range,
        content_length,
        retry_after,
    );
    if ok {
        assert!(status == 200 || status == 206);
        assert!(content_length.is_none_or(|n| n == len.max(1)));
    }
});
