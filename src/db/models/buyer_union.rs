//! How many distinct buyers several cells' sets hold together, without making their union.
//!
//! A report by owner over three years unites 37 month sets for each of 500 owners. Roaring's union
//! turns each 65,536-number container into an 8 KB bitmap and back into a sorted array once done:
//! for sets of a few hundred buyers, that was a third of the report's time. Small sets are counted
//! here instead, each number marked in a bit array kept per thread and unmarked after; large ones
//! (a period of the whole workspace) are still united by Roaring, which is fastest on dense sets.

use std::cell::RefCell;
use std::sync::Arc;

use roaring::{MultiOps, RoaringBitmap};

/// Up to this many numbers in all, the sets are counted by marking; beyond it, united.
const MARKED_AT_MOST: u64 = 1 << 16;

/// Numbers below this are marked in the bit array (at most 8 MB of it); the few above (buyers a
/// report numbers from the top, before the job has) are counted by sorting.
const MARKABLE_BELOW: u32 = 1 << 26;

thread_local! {
    /// The marks, all clear between calls: a bit per buyer number, grown to the highest seen.
    static MARKS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The size of the union of `sets`.
pub fn union_len(sets: &[Arc<RoaringBitmap>]) -> u64 {
    match sets {
        [] => 0,
        [only] => only.len(),
        sets if sets.iter().map(|set| set.len()).sum::<u64>() > MARKED_AT_MOST => {
            sets.iter().map(|set| &**set).union().len()
        }
        sets => MARKS.with(|marks| count_by_marking(&mut marks.borrow_mut(), sets)),
    }
}

fn count_by_marking(marks: &mut Vec<u64>, sets: &[Arc<RoaringBitmap>]) -> u64 {
    let markable = |number: &u32| *number < MARKABLE_BELOW;
    let highest_markable = |set: &RoaringBitmap| match set.max() {
        Some(max) if max < MARKABLE_BELOW => Some(max),
        Some(_) => set.rank(MARKABLE_BELOW - 1).checked_sub(1).and_then(|at| set.select(at as u32)),
        None => None,
    };
    let highest = sets.iter().filter_map(|set| highest_markable(set)).max();
    if let Some(highest) = highest {
        let words = highest as usize / 64 + 1;
        if marks.len() < words {
            marks.resize(words, 0);
        }
    }
    let mut count = 0;
    let mut unmarkable = Vec::new();
    for set in sets {
        // `for_each`, not a `for` loop: Roaring's iterator walks its containers faster that way.
        set.iter().for_each(|number| {
            if !markable(&number) {
                unmarkable.push(number);
                return;
            }
            let (word, bit) = (number as usize / 64, 1u64 << (number % 64));
            count += u64::from(marks[word] & bit == 0);
            marks[word] |= bit;
        });
    }
    // Clear the marks for the next call: 128 KB at a million buyers, cheaper to zero than to
    // walk the sets again.
    let used = highest.map_or(0, |highest| highest as usize / 64 + 1);
    marks[..used].fill(0);
    unmarkable.sort_unstable();
    unmarkable.dedup();
    count + unmarkable.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(numbers: impl IntoIterator<Item = u32>) -> Arc<RoaringBitmap> {
        Arc::new(numbers.into_iter().collect())
    }

    #[test]
    fn counts_each_buyer_once_however_the_sets_overlap() {
        let sets = [
            set([1, 5, 70_000, u32::MAX]),
            set([5, 6, 70_000, 1 << 27, u32::MAX]),
            set([]),
            set([6, 200_000]),
        ];
        assert_eq!(union_len(&sets), 7);
        // The marks are clear afterwards: the same sets count the same again.
        assert_eq!(union_len(&sets), 7);
        assert_eq!(union_len(&sets[..1]), 4);
    }

    #[test]
    fn marking_and_uniting_agree_on_sets_of_any_size() {
        let small = [set((0..3_000).map(|n| n * 7)), set((0..3_000).map(|n| n * 11))];
        let large = [set(0..50_000), set(25_000..90_000)];
        for sets in [&small[..], &large[..]] {
            let united = sets.iter().map(|set| &**set).union().len();
            assert_eq!(union_len(sets), united);
        }
        assert_eq!(union_len(&large), 90_000);
    }
}
