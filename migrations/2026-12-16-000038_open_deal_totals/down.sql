DROP TABLE open_deal_totals;
