-- Moves every deal (live or deleted) of stage $2 to stage $3, of the same pipeline and kind, in
-- workspace $1: the deals take the new stage's probability ($4) unless they set their own, and
-- each move is recorded in the stage history. $5 is the user doing it.
WITH moved AS (
    UPDATE deals
    SET stage_id = $3,
        probability = COALESCE(probability_override, $4),
        stage_entered_at = now(),
        version = version + 1,
        updated_at = now(),
        updated_by = $5
    WHERE workspace_id = $1 AND stage_id = $2
    RETURNING id, version
), history AS (
    INSERT INTO deal_stage_changes (workspace_id, id, deal_id, from_stage_id, to_stage_id, changed_at, changed_by)
    SELECT $1, gen_random_uuid(), id, $2, $3, now(), $5 FROM moved
)
SELECT id, version FROM moved
