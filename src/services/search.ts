/**
 * Full-text search over the messages of the viewer's conversations (PostgreSQL, migration
 * `search`): the `salon_french` text search configuration stems French and folds accents, and the
 * GIN index `Message_search_idx` on `to_tsvector('salon_french', translate(content, '<>', '  '))` serves it.
 *
 * Pagination is keyset on (rank, createdAt, id), all descending. An offset would repeat or skip
 * hits whenever a matching message arrives or is deleted between two pages; a keyset cursor
 * resumes exactly after the last hit shown, whatever happened before it.
 */
import { createHash } from 'node:crypto';
import { validate as isUuid } from 'uuid';
import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { badInput } from '../errors.js';
import { Prisma } from '../generated/prisma/client.js';
import { conversationForViewer } from './access.js';
import { requireId, requireText } from './validation.js';

export const SEARCH_INDEX = 'Message_search_idx';
export const MAX_SEARCH_QUERY_LENGTH = 200;
export const SEARCH_PAGE_SIZE = 20;

/**
 * ts_headline does not escape: it marks matches with these private-use characters, which are
 * removed from the text first, so the marks and the angle brackets below are the only ones in
 * the headline, and the text is HTML-escaped before they become `<mark>` tags.
 */
const MARK_START = '\uE000';
const MARK_END = '\uE001';
/**
 * ts_headline drops what its parser takes for HTML tags (`<script>`, `<Marie>`); a chat message
 * is plain text, so angle brackets reach it as these characters and are restored afterwards.
 */
const LESS_THAN = '\uE002';
const GREATER_THAN = '\uE003';
const SENTINELS = /[\uE000-\uE003]/g;

/** Short messages whole; in a long one, 15 to 35 words from a match on (ts_headline's cover). */
const HEADLINE_OPTIONS = `StartSel=${MARK_START}, StopSel=${MARK_END}, MaxWords=35, MinWords=15`;

const CONFIG = Prisma.raw(`'salon_french'::regconfig`);
/**
 * Exactly the expression of the index (migration `search_angle_brackets`), or the planner cannot
 * use it. Angle brackets become spaces: the parser would take `<avec ma soeur>` for an HTML tag
 * and drop its words.
 */
const DOCUMENT = Prisma.sql`to_tsvector(${CONFIG}, translate(m."content", '<>', '  '))`;

export interface SearchInput {
  query: string;
  conversationId?: string | null;
  first?: number | null;
  after?: string | null;
}

interface Position {
  rank: number;
  createdAt: string;
  id: string;
}

/** What the statement needs once the input is checked (also what the EXPLAIN test runs). */
export interface SearchPlan {
  query: string;
  viewerId: string;
  conversationId: string | null;
  after: Position | null;
  /** Rows to read: the page size plus one, to learn whether another page follows. */
  limit: number;
}

export interface SearchHit<Node> {
  cursor: string;
  node: Node;
  snippet: string;
}

export interface SearchPage<Node> {
  hits: SearchHit<Node>[];
  hasNextPage: boolean;
  /** The position after this page, even when its last hit was deleted meanwhile and left out. */
  endCursor: string | null;
}

interface HitRow {
  id: string;
  rank: number;
  createdAt: Date;
  headline: string;
  content: string;
}

/** A cursor is only valid for the search that issued it: same words, same conversation. */
function scopeOf(query: string, conversationId: string | null): string {
  return createHash('sha256').update(`${conversationId ?? ''}\n${query}`).digest('base64url').slice(0, 12);
}

function encodeCursor(scope: string, position: Position): string {
  return Buffer.from(JSON.stringify([1, scope, position.rank, position.createdAt, position.id])).toString('base64url');
}

/** As `toISOString` writes it, the only form this API puts in a cursor. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function decodeCursor(cursor: string, scope: string): Position {
  const invalid = () => badInput('Invalid cursor: pass as `after` an endCursor or cursor this search returned', 'after');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 5 || parsed[0] !== 1) throw invalid();
  const [, cursorScope, rank, createdAt, id] = parsed as unknown[];
  if (typeof rank !== 'number' || !Number.isFinite(rank) || typeof id !== 'string' || !isUuid(id)) throw invalid();
  if (typeof createdAt !== 'string' || !ISO_TIME.test(createdAt) || Number.isNaN(Date.parse(createdAt))) throw invalid();
  if (cursorScope !== scope) throw badInput('This cursor belongs to another search (other words or conversation)', 'after');
  return { rank, createdAt, id };
}

/** The input checked; the conversation, when one is named, must be the viewer's (NOT_FOUND otherwise). */
export async function planSearch(viewer: Viewer, input: SearchInput, maxPageSize: number): Promise<SearchPlan> {
  const query = requireText(input.query, 'query', MAX_SEARCH_QUERY_LENGTH);
  const first = input.first ?? SEARCH_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > maxPageSize) {
    throw badInput(`"first" must be between 0 and ${maxPageSize} (got ${first})`, 'first');
  }
  const conversationId = input.conversationId ? requireId(input.conversationId, 'conversationId') : null;
  const after = input.after ? decodeCursor(input.after, scopeOf(query, conversationId)) : null;
  if (conversationId) await conversationForViewer(viewer, conversationId);
  return { query, viewerId: viewer.id, conversationId, after, limit: first + 1 };
}

/**
 * The statement: the viewer's matching messages ranked by ts_rank_cd (normalised by the log of
 * the message length, so a long message does not win by size alone), then newest first; the
 * headline is computed for the page's rows only.
 */
export function searchStatement(plan: SearchPlan): Prisma.Sql {
  const tsquery = Prisma.sql`websearch_to_tsquery(${CONFIG}, ${plan.query})`;
  const inConversation = plan.conversationId ? Prisma.sql`AND m."conversationId" = ${plan.conversationId}::uuid` : Prisma.empty;
  const afterCursor = plan.after
    ? Prisma.sql`WHERE (hit."rank", hit."createdAt", hit."id") < (${plan.after.rank}::float8, ${plan.after.createdAt}::timestamptz AT TIME ZONE 'UTC', ${plan.after.id}::uuid)`
    : Prisma.empty;
  return Prisma.sql`
    SELECT page."id", page."rank", page."createdAt", m."content",
           ts_headline(${CONFIG}, translate(m."content", ${`<>${MARK_START}${MARK_END}${LESS_THAN}${GREATER_THAN}`}, ${`${LESS_THAN}${GREATER_THAN}`}), ${tsquery}, ${HEADLINE_OPTIONS}) AS "headline"
      FROM (
        SELECT hit.* FROM (
          SELECT m."id", m."createdAt", ts_rank_cd(${DOCUMENT}, ${tsquery}, 1)::float8 AS "rank"
            FROM "Message" m
            JOIN "Conversation" c ON c."id" = m."conversationId"
           WHERE ${DOCUMENT} @@ ${tsquery}
             AND NOT m."isDeleted"
             AND (c."salonId" = ${plan.viewerId}::uuid OR c."clientUserId" = ${plan.viewerId}::uuid)
             ${inConversation}
        ) hit
        ${afterCursor}
        ORDER BY hit."rank" DESC, hit."createdAt" DESC, hit."id" DESC
        LIMIT ${plan.limit}
      ) page
      JOIN "Message" m ON m."id" = page."id"
     ORDER BY page."rank" DESC, page."createdAt" DESC, page."id" DESC`;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);

/**
 * The headline as safe HTML: the message text escaped, its matches in `<mark>`, and `…` where
 * the headline leaves out text before or after it.
 */
export function snippetHtml(headline: string, content: string): string {
  const text = headline.replaceAll(LESS_THAN, '<').replaceAll(GREATER_THAN, '>');
  const html = escapeHtml(text).replaceAll(MARK_START, '<mark>').replaceAll(MARK_END, '</mark>');
  const plain = text.replaceAll(MARK_START, '').replaceAll(MARK_END, '');
  const source = content.replace(SENTINELS, '');
  const at = source.indexOf(plain);
  if (at < 0) return html;
  const before = source.slice(0, at).trim() ? '…' : '';
  const after = source.slice(at + plain.length).trim() ? '…' : '';
  return `${before}${html}${after}`;
}

/**
 * One page of hits. `load` reads the messages themselves (with whatever the client selected)
 * by id; a message deleted since the search is left out.
 */
export async function searchMessages<Node extends { id: string; isDeleted: boolean }>(
  plan: SearchPlan,
  load: (ids: string[]) => Promise<Node[]>,
): Promise<SearchPage<Node>> {
  const pageSize = plan.limit - 1;
  const rows = await db.$queryRaw<HitRow[]>(searchStatement(plan));
  const page = rows.slice(0, pageSize);
  const nodes = new Map((page.length ? await load(page.map((row) => row.id)) : []).map((node) => [node.id, node]));
  const scope = scopeOf(plan.query, plan.conversationId);
  const cursorOf = (row: HitRow) => encodeCursor(scope, { rank: row.rank, createdAt: row.createdAt.toISOString(), id: row.id });
  const hits: SearchHit<Node>[] = [];
  for (const row of page) {
    const node = nodes.get(row.id);
    if (!node || node.isDeleted) continue;
    hits.push({ cursor: cursorOf(row), node, snippet: snippetHtml(row.headline, row.content) });
  }
  const last = page.at(-1);
  return { hits, hasNextPage: rows.length > pageSize, endCursor: last ? cursorOf(last) : null };
}
