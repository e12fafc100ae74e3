//! Walking a list page by page while someone edits it, and what each sort promises about it.

use std::collections::HashMap;

use serde_json::Value;

use super::TestApp;

/// The ids of a page, in order.
pub fn ids(page: &Value) -> Vec<String> {
    texts(page, "id")
}

/// The text `field` of each item of a page, in order (items without it are left out).
pub fn texts(page: &Value, field: &str) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[field].as_str().map(str::to_string))
        .collect()
}

/// What a walk saw, and the two records edited during it.
pub struct Walk {
    pub seen: Vec<String>,
    pub pages: usize,
    /// Edited after the walk had listed it.
    pub edited_behind: String,
    /// Edited before the walk reached it.
    pub edited_ahead: String,
}

/// Walks `{collection}?limit={limit}&sort={sort}` (`sort` may be empty for the default) to the end.
/// After the second page it PATCHes `{collection}/{id}` with `edit` for one record already listed
/// and one of `all` not yet listed.
pub async fn walk_while_editing(
    app: &TestApp,
    token: &str,
    collection: &str,
    sort: &str,
    limit: usize,
    all: &[String],
    edit: &Value,
) -> Walk {
    let sort_param = if sort.is_empty() { String::new() } else { format!("&sort={sort}") };
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut edited = None;
    loop {
        let mut path = format!("{collection}?limit={limit}{sort_param}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = app.get(&path, token).await.expect(200).clone();
        seen.extend(ids(&page));
        pages += 1;
        if pages == 2 {
            let behind = seen[0].clone();
            let ahead = all.iter().find(|id| !seen.contains(id)).cloned().expect("a record not yet listed");
            for id in [&behind, &ahead] {
                app.patch(&format!("{collection}/{id}"), token, edit.clone()).await.expect(200);
            }
            edited = Some((behind, ahead));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let (edited_behind, edited_ahead) = edited.expect("the walk has at least two pages");
    Walk { seen, pages, edited_behind, edited_ahead }
}

impl Walk {
    /// Asserts what the API documents for `sort` (docs/api-conventions.md, "Pagination"): a
    /// record whose sort key stays put is listed exactly once; an edit moves a record under
    /// `updated_at` to the end (listed again if it was behind the walk) and under `-updated_at`
    /// to the front (missed by this walk if it was ahead of it).
    #[track_caller]
    pub fn assert_documented(&self, sort: &str, all: &[String]) {
        let mut times: HashMap<&str, usize> = HashMap::new();
        for id in &self.seen {
            *times.entry(id.as_str()).or_default() += 1;
        }
        for id in all {
            let expected = match sort {
                "updated_at" if *id == self.edited_behind => 2,
                "-updated_at" | "" if *id == self.edited_ahead => 0,
                _ => 1,
            };
            assert_eq!(times.get(id.as_str()).copied().unwrap_or(0), expected, "sort {sort:?}: {id}");
        }
        assert!(times.keys().all(|id| all.iter().any(|known| known == id)), "sort {sort:?}: a stranger");
    }
}
