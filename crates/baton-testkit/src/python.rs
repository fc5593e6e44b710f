//! The Python interpreter with the peer packages (`scripts/python-env.sh`),
//! for tests that drive baton with official SDKs or check it against a
//! reference written in Python.

use std::path::PathBuf;

/// `BATON_TEST_PYTHON`, or `None` (after printing a skip line) when it is
/// unset or empty. With `BATON_REQUIRE_PYTHON=1` an unset interpreter fails
/// the test instead of skipping it.
pub fn test_python() -> Option<PathBuf> {
    match std::env::var_os("BATON_TEST_PYTHON") {
        Some(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ => {
            assert!(
                std::env::var("BATON_REQUIRE_PYTHON").as_deref() != Ok("1"),
                "BATON_REQUIRE_PYTHON=1 but BATON_TEST_PYTHON is not set (run scripts/python-env.sh)"
            );
            eprintln!(
                "skipped: BATON_TEST_PYTHON is not set (run scripts/python-env.sh and point it at .venv/bin/python)"
            );
            None
        }
    }
}
