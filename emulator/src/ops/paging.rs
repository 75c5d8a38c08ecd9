//! NextToken paging shared by the List operations: the token is the offset of the next
//! item in a deterministic order, and a page holds `MaxResults` items (default 100).

use serde_json::Value;

use crate::model::validate::Check;

/// The page size when `MaxResults` is absent or 0.
const DEFAULT_PAGE_SIZE: usize = 100;

/// Where a page starts and how long it is, read from `NextToken` and `MaxResults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    start: usize,
    size: usize,
}

impl Window {
    /// Checks both members (violations go into `check`, with the model's constraints).
    pub(super) fn read(
        check: &mut Check,
        next_token: Option<&String>,
        max_results: Option<i64>,
    ) -> Self {
        check.token("NextToken", next_token);
        let start = match next_token.map(|token| token.parse::<usize>()) {
            None => 0,
            Some(Ok(start)) => start,
            Some(Err(_)) => {
                check.fail("NextToken", "Member is not a token this service issued");
                0
            }
        };
        if let Some(max) = max_results
            && !(0..=1024).contains(&max)
        {
            check.fail("MaxResults", "Member must have value between 0 and 1024");
        }
        let size = match max_results {
            Some(max) if max > 0 => usize::try_from(max).unwrap_or(usize::MAX),
            _ => DEFAULT_PAGE_SIZE,
        };
        Self { start, size }
    }

    /// The items of this page, and the token of the next one if more remain.
    pub(super) fn page<T>(
        self,
        all: &[T],
        shape: impl Fn(&T) -> Value,
    ) -> (Vec<Value>, Option<String>) {
        let page = all
            .iter()
            .skip(self.start)
            .take(self.size)
            .map(shape)
            .collect();
        let end = self.start.saturating_add(self.size);
        let next = (end < all.len()).then(|| end.to_string());
        (page, next)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::paging::*;
    use serde_json::json;

    /// Pages cover every item once; the last page has no token; bad tokens and sizes fail.
    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<u32> = (0..5).collect();
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let mut check = Check::default();
            let window = Window::read(&mut check, token.as_ref(), Some(2));
            check.finish().expect("valid");
            let (page, next) = window.page(&items, |i| json!(i));
            seen.extend(page);
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (0..5).map(|i| json!(i)).collect::<Vec<_>>());

        let mut check = Check::default();
        Window::read(&mut check, Some(&"x!".to_string()), Some(1025));
        assert!(check.finish().is_err());
        let mut check = Check::default();
        let window = Window::read(&mut check, None, Some(0));
        assert_eq!(window.size, DEFAULT_PAGE_SIZE);
    }
}
