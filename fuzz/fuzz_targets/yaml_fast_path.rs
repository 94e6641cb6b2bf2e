//! The YAML fast path must give saphyr's exact result on every text it takes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && fabric::yaml::fast_path_agrees(text) == Some(false)
    {
        panic!("the YAML fast path and saphyr differ on {text:?}");
    }
});
