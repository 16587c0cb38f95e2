-- One round trip for a batch: each payload becomes one NOTIFY, delivered in order.
-- $1: the channel; $2: the JSON payloads (each under 8000 bytes).
SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS t(payload, n) ORDER BY n
