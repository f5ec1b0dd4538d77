//! What a test run uses unless it says otherwise.

/// The tenant runs use unless a test names another.
pub const TEST_TENANT: &str = "test-tenant";
