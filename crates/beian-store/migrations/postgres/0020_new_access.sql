-- New access (新增接入, issue 17): the service number filed through another access provider
-- that an order asks to connect (NULL for a new filing). Kept once filed.
ALTER TABLE filing_orders ADD COLUMN access_number TEXT;
