DROP INDEX change_events_actor_idx;
