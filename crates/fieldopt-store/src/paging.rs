//! Paging of list queries.

/// A window on a list ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Most rows returned.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 500,
            offset: 0,
        }
    }
}

/// One page of a list and the number of matching rows before paging.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// All matching rows.
    pub total: i64,
}
