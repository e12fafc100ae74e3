//! The rules of a pipeline's stages.

use std::collections::HashMap;

use super::FieldCode;
use super::Violation;
use super::enums::StageKind;

/// The most stages a pipeline has. A board lists every stage as a column, and its statement names
/// each stage (`Deal::board_columns`), so this also bounds the statement texts cached for boards.
pub const MAX_STAGES: u64 = 50;

/// Exactly one won stage, at least one lost and at least one open stage.
pub fn check_stage_kinds(kinds: impl IntoIterator<Item = StageKind>) -> Result<(), Violation> {
    let mut counts: HashMap<StageKind, usize> = HashMap::new();
    for kind in kinds {
        *counts.entry(kind).or_default() += 1;
    }
    let count = |kind| counts.get(&kind).copied().unwrap_or_default();
    if count(StageKind::Won) != 1 || count(StageKind::Lost) == 0 || count(StageKind::Open) == 0 {
        return Err(Violation::new(
            "stages",
            FieldCode::StageKinds,
            "a pipeline needs at least one open stage, exactly one won stage and at least one lost stage",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use StageKind::{Lost, Open, Won};

    #[test]
    fn a_pipeline_has_open_stages_one_won_and_lost_ones() {
        assert_eq!(check_stage_kinds([Open, Open, Won, Lost, Lost]), Ok(()));
        for kinds in [vec![Open, Won, Won, Lost], vec![Open, Lost], vec![Won, Lost], vec![Open, Won]] {
            assert_eq!(
                check_stage_kinds(kinds).map_err(|violation| violation.code.as_str()),
                Err("stage_kinds")
            );
        }
    }
}
