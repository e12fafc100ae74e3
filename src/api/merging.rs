//! What merging clients and merging contacts share: which records a merge takes in, and how the
//! survivor takes what it lacks from them.

use std::collections::HashSet;
use std::hash::Hash;

use crate::domain::FieldCode;
use crate::domain::contact_points::ContactPoint;
use crate::error::ApiError;

/// The most records one merge takes in.
pub const MOST_MERGED: usize = 20;

/// `from`, each once in its first place: 1 to [`MOST_MERGED`] `noun`s, `survivor` not among them.
pub fn merged_ids<Id: Copy + Eq + Hash>(
    survivor: Id,
    from: Vec<Id>,
    noun: &str,
) -> Result<Vec<Id>, ApiError> {
    let mut seen = HashSet::new();
    let from: Vec<Id> = from.into_iter().filter(|id| seen.insert(*id)).collect();
    if from.is_empty() || from.len() > MOST_MERGED {
        return Err(ApiError::invalid_field(
            "from",
            FieldCode::Length,
            format!("1 to {MOST_MERGED} {noun}s merge at once"),
        ));
    }
    if from.contains(&survivor) {
        return Err(ApiError::invalid_field(
            "from",
            FieldCode::Invalid,
            format!("a {noun} can't be merged into itself"),
        ));
    }
    Ok(from)
}

/// The survivor's empty field takes the merged record's value.
pub fn fill<T>(mine: &mut Option<T>, theirs: Option<T>) {
    if mine.is_none() {
        *mine = theirs;
    }
}

/// The merged record's values the survivor lacks join its own, after them.
pub fn add_missing<T: PartialEq>(mine: &mut Vec<T>, theirs: Vec<T>) {
    for value in theirs {
        if !mine.contains(&value) {
            mine.push(value);
        }
    }
}

/// The merged record's emails and phones the survivor lacks join its own as secondary ones
/// (emails compared case-insensitively).
pub fn add_contact_points(
    (my_emails, my_phones): (&mut Vec<ContactPoint>, &mut Vec<ContactPoint>),
    (their_emails, their_phones): (Vec<ContactPoint>, Vec<ContactPoint>),
) {
    for mut point in their_emails {
        if !my_emails.iter().any(|mine| mine.value.eq_ignore_ascii_case(&point.value)) {
            point.primary = false;
            my_emails.push(point);
        }
    }
    for mut point in their_phones {
        if !my_phones.iter().any(|mine| mine.value == point.value) {
            point.primary = false;
            my_phones.push(point);
        }
    }
}
