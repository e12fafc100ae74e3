DROP INDEX deals_open_close_idx;
