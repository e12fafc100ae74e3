-- Session-local helpers of the seeder: deterministic "random" numbers from (row number, salt),
-- so the same --seed always gives the same data. Every call in them is immutable (note the
-- explicit ::text casts), so PostgreSQL inlines them instead of running a function per row.
CREATE FUNCTION pg_temp.r(n bigint, salt bigint, m bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$ SELECT abs(hashint8extended(n, salt)) % m $$;
CREATE FUNCTION pg_temp.pick(items text[], n bigint, salt bigint) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT items[1 + pg_temp.r(n, salt, array_length(items, 1))] $$;
CREATE FUNCTION pg_temp.seeded_uuid(kind text, seed bigint, n bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE AS $$ SELECT md5(kind || ':' || seed::text || ':' || n::text)::uuid $$;
-- Compiling these big INSERTs costs more than it saves.
SET jit = off;
