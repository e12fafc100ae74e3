DROP INDEX activities_deal_done_idx;
DROP INDEX activities_due_idx;
DROP INDEX activities_done_idx;
