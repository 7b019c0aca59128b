//! The control protocol in both directions: the server's answer to any request line, and
//! the client's parsing of any answer line, never panic; an answer always encodes to JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Server side: a client's request line.
    let answer = daemon::fuzzing::control_answer(data);
    assert!(!answer.is_empty(), "every request gets an answer");
    // Client side (`btmirror status`): the daemon's answer line.
    let _ = daemon::fuzzing::control_parse_answer(data);
});
