DROP TABLE sales_lines;
