//! The workspace's shared builders (`wharf-test-support`) under the names these tests use, and
//! the one assertion they share.

use wharf_index_format::{ErrorKind, FormatError};
pub(crate) use wharf_test_support::raw_tar;
pub(crate) use wharf_test_support::{
    CrateBuilder, body, dependency_json as dependency, frame, gzip, manifest,
    metadata_json as metadata,
};

/// Asserts the error has `code` (one code per variant) and that its message names `input`.
#[track_caller]
pub(crate) fn assert_rejected<T: std::fmt::Debug>(
    result: Result<T, FormatError>,
    code: &str,
    input: &str,
) -> FormatError {
    let err = result.expect_err("the input must be refused");
    assert_eq!(err.code(), code, "wrong rejection: {err}");
    let message = err.to_string();
    assert!(message.contains(input), "`{message}` should name `{input}`");
    assert_eq!(
        err.kind(),
        if code == "UploadTooLarge" {
            ErrorKind::TooLarge
        } else {
            ErrorKind::Invalid
        }
    );
    err
}
