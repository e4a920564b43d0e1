ALTER TABLE jobs DROP COLUMN customer_search;
