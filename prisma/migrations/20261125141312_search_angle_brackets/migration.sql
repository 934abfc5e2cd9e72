-- Written by hand, like the search migration. The text search parser takes anything between
-- angle brackets for an HTML tag and leaves it out, so chat text such as a<b or <avec ma soeur>
-- lost words. The index now reads the content with both brackets turned into spaces, and the
-- search statement uses the same expression (src/services/search.ts).
DROP INDEX IF EXISTS "Message_search_idx";
CREATE INDEX "Message_search_idx" ON "Message" USING GIN (to_tsvector('salon_french'::regconfig, translate("content", '<>', '  ')));
