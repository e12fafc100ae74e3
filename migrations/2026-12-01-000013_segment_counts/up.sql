-- The last count of each segment's members. Counting a filter reads every client of the
-- workspace it could match (270 ms at 1M clients), so a count is kept for a minute for the views
-- that show segment sizes again and again; `?fresh=true` counts now. A count belongs to one
-- version of the segment (a new filter makes it stale); member changes of a static segment
-- delete it.
CREATE TABLE segment_counts (
    workspace_id uuid NOT NULL,
    segment_id uuid NOT NULL,
    segment_version integer NOT NULL,
    member_count bigint NOT NULL,
    counted_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, segment_id),
    FOREIGN KEY (workspace_id, segment_id) REFERENCES segments (workspace_id, id) ON DELETE CASCADE
);
