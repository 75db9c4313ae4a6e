/**
 * Every list the API returns is a page: at most `limit` items (1-1000, default 100) after the
 * cursor `after`, with `next`, the cursor of the following page, or null on the last one. The
 * cursor is opaque to clients (here, the row's position in its table), so a page never shifts
 * when rows are added meanwhile.
 */
import { PlatformError } from "./errors";

export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

export interface PageQuery {
  limit: number;
  /** Items after this cursor (in the list's order); none: from the start. */
  after?: number;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export function pageQuery(query: URLSearchParams): PageQuery {
  const limitText = query.get("limit");
  const afterText = query.get("after");
  const limit = limitText === null ? DEFAULT_PAGE : Number(limitText);
  if (!/^\d+$/.test(limitText ?? "1") || limit < 1 || limit > MAX_PAGE)
    throw new PlatformError(400, "invalid-request", `limit must be an integer from 1 to ${MAX_PAGE}`);
  if (afterText !== null && !/^[1-9]\d{0,15}$/.test(afterText))
    throw new PlatformError(400, "invalid-request", "after must be a cursor from a previous page's next");
  return afterText === null ? { limit } : { limit, after: Number(afterText) };
}

/** A bound on a page's size: it ends early (keeping at least one item) once its items pass `maxBytes`. */
export interface SizeBound<T> {
  sizeOf(item: T): number;
  maxBytes: number;
}

/**
 * A page from rows fetched with one more than `limit` (so the last page is known without another
 * query), each with its cursor.
 */
export function toPage<Row extends { cursor: number }, T>(
  rows: Row[],
  limit: number,
  map: (row: Row) => T,
  bound?: SizeBound<T>,
): Page<T> {
  const items: T[] = [];
  let bytes = 0;
  for (const row of rows.slice(0, limit)) {
    const item = map(row);
    bytes += bound ? bound.sizeOf(item) : 0;
    if (bound && items.length > 0 && bytes > bound.maxBytes)
      return { items, next: String(rows[items.length - 1].cursor) };
    items.push(item);
  }
  return { items, next: rows.length > limit ? String(rows[limit - 1].cursor) : null };
}
