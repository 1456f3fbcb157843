//! DIMSE command sets (PS3.7 E.1) as they arrive in P-DATA: parsing any bytes either
//! fails with an error or gives a command that parses the same way twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::dimse::Command;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = Command::parse(1, data) {
        let b = Command::parse(1, data).expect("a command set parses the same way twice");
        assert_eq!(a.command_field, b.command_field);
        assert_eq!(a.message_id, b.message_id);
        assert_eq!(a.has_data_set, b.has_data_set);
    }
});
