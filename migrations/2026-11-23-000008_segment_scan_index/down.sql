DROP INDEX clients_segment_scan_idx;
