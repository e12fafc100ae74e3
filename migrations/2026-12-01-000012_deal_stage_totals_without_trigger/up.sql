-- The board's running totals are kept by the application in the transaction of every deal write
-- (`src/db/sql/apply_deal_stage_totals.sql`), not by a trigger: Citus refuses triggers on
-- distributed tables, and every other derived value (client stats, versions, the change log)
-- already lives in the Rust transaction. The totals themselves are unchanged.
DROP TRIGGER deal_stage_totals_on_insert ON deals;
DROP TRIGGER deal_stage_totals_on_update ON deals;
DROP TRIGGER deal_stage_totals_on_delete ON deals;
DROP FUNCTION deal_stage_totals_apply();
