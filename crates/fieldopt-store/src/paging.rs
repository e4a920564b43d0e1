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

impl Page {
    /// The number of matching rows when the page itself tells it: a page
    /// that is not full (and not past the end) is the last one. Saves the
    /// count query on the common first-and-only page.
    pub fn known_total(self, rows_on_page: usize) -> Option<i64> {
        let rows = i64::try_from(rows_on_page).ok()?;
        (rows < self.limit && (rows > 0 || self.offset == 0)).then_some(self.offset + rows)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_known_from_a_short_page_only() {
        let page = |limit, offset| Page { limit, offset };
        assert_eq!(page(10, 0).known_total(3), Some(3));
        assert_eq!(page(10, 0).known_total(0), Some(0));
        assert_eq!(page(10, 20).known_total(4), Some(24));
        assert_eq!(page(10, 20).known_total(0), None, "past the end: unknown");
        assert_eq!(
            page(10, 0).known_total(10),
            None,
            "full page: there may be more"
        );
    }
}
