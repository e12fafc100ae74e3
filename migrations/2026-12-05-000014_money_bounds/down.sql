ALTER TABLE products DROP CONSTRAINT products_price_bounded;
ALTER TABLE deal_items DROP CONSTRAINT deal_items_bounded;
ALTER TABLE deals DROP CONSTRAINT deals_amount_bounded;
