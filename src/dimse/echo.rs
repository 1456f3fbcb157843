//! C-ECHO service (PS3.7 9.1.5, Verification SOP Class PS3.4 annex A): the
//! response to a C-ECHO-RQ is a C-ECHO-RSP with status Success.

use super::{Command, DimseError, command_field, encode_command, response_elements, status};

/// Builds the C-ECHO-RSP command set for `request`.
pub fn respond(request: &Command) -> Result<Vec<u8>, DimseError> {
    encode_command(response_elements(
        request,
        command_field::C_ECHO_RSP,
        status::SUCCESS,
        false,
    ))
}
