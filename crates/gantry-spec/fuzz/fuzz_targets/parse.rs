//! Fuzz `parse_documents`: any bytes, never a panic, and every diagnostic
//! points inside the input.
//!
//! Run: `cd crates/gantry-spec/fuzz && cargo +nightly fuzz run parse -- -max_total_time=300`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(diagnostics) = gantry_spec::parse_documents(text) {
            // YAML breaks lines at \n, \r\n and a lone \r (str::lines does not
            // count the last): the fuzzer found that difference first.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u64 + 1;
            for diagnostic in diagnostics.iter() {
                assert!(diagnostic.line <= lines);
                assert!(!diagnostic.message.is_empty());
            }
        }
    }
});
