DROP INDEX deals_board_open_idx;
