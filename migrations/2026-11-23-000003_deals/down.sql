DROP TABLE deal_stage_changes;
DROP TABLE deal_items;
DROP TABLE deals;
DROP TABLE products;
DROP TABLE stages;
DROP TABLE pipelines;
