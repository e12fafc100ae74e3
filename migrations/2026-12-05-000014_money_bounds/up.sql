-- Amounts, prices and line totals are below 10^15 (domain::money::AMOUNT_DIGITS), so that no sum
-- a board, a card or an export reads can exceed what the server represents. The API refuses larger
-- ones with a 422; these checks hold the line for every other writer. NOT VALID: a database that
-- already holds a larger value keeps starting; `ALTER TABLE … VALIDATE CONSTRAINT …` finds it.
ALTER TABLE deals ADD CONSTRAINT deals_amount_bounded
    CHECK (amount < 1e15 AND amount_base < 1e15) NOT VALID;
ALTER TABLE deal_items ADD CONSTRAINT deal_items_bounded
    CHECK (unit_price < 1e15 AND total < 1e15) NOT VALID;
ALTER TABLE products ADD CONSTRAINT products_price_bounded CHECK (price < 1e15) NOT VALID;

