interface PrismaQuery {
  include?: Record<string, unknown>;
  select?: Record<string, unknown>;
}

/** True when the selection reaches beyond the row's own columns (a relation, a count). */
function needsRelations(query: PrismaQuery): boolean {
  if (query.include && Object.keys(query.include).length > 0) return true;
  return Object.values(query.select ?? {}).some((value) => value !== true);
}

/**
 * Services return bare rows. When the mutation's result selects relations, reading the row back
 * with the plugin's `query` loads them all in one statement instead of field by field; when it
 * selects columns only, the row already has them and no statement is needed.
 */
export function withSelection<Row extends { id: string }>(
  query: PrismaQuery,
  row: Row,
  reload: (args: PrismaQuery & { where: { id: string } }) => Promise<Row>,
): Row | Promise<Row> {
  return needsRelations(query) ? reload({ ...query, where: { id: row.id } }) : row;
}
