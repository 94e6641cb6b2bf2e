//! Loading any text as a topology returns a topology or findings: it never panics, never
//! overflows the stack and never exhausts memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fabric::validate::load(text);
    }
});
