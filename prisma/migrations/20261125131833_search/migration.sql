-- Message search (src/services/search.ts), written by hand: Prisma schema files cannot describe
-- a text search configuration or an expression index.

-- Accent folding: unaccent is a trusted extension, so a database owner may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;

-- French stemming and stop words, with accents folded before stemming (coupe finds Coupé).
CREATE TEXT SEARCH CONFIGURATION salon_french (COPY = french);
ALTER TEXT SEARCH CONFIGURATION salon_french ALTER MAPPING FOR word, hword_part WITH unaccent, french_stem;
ALTER TEXT SEARCH CONFIGURATION salon_french ALTER MAPPING FOR numword, hword_numpart WITH unaccent, simple;

-- A hyphenated word is indexed by its parts only, never as a whole: rendez-vous and rendez vous
-- then give the same lexemes, in documents and in queries alike.
ALTER TEXT SEARCH CONFIGURATION salon_french DROP MAPPING FOR asciihword, hword, numhword;

-- Not a partial index (WHERE NOT isDeleted): the planner estimates how many messages a word
-- matches from the statistics ANALYZE gathers on an index expression, and it ignores those of
-- partial indexes. A deleted message has empty content, so it adds no word to the index anyway.
CREATE INDEX "Message_search_idx" ON "Message" USING GIN (to_tsvector('salon_french'::regconfig, "content"));
