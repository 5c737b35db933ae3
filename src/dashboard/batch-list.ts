/**
 * Which batches the batches page shows (issue 28: the page grows with every batch a team ever ran): newest first, a
 * page at a time, filtered by state and by a part of the name. The query comes from the page's URL
 * (`?state=finished&name=nightly&page=2`), is checked here, and is kept by the page's links and its live refresh.
 */
import type { BatchOverview } from './batch-overview.js';

/** Batches on one page of the list. */
export const BATCHES_PER_PAGE = 25;

/** What the batches page was asked for. */
export interface BatchListQuery {
  /** 1-based page number. */
  page: number;
  /** Only batches in this state (`running`, `finished`, `paused`, …), or '' for all. */
  state: string;
  /** Only batches whose id contains this text (letter case ignored), or '' for all. */
  name: string;
}

/** One page of the list, with what the page needs to link to the others. */
export interface BatchListPage {
  batches: BatchOverview[];
  /** Batches matching the filter, on all pages. */
  matching: number;
  /** Batches of any state or name. */
  total: number;
  page: number;
  pages: number;
  /** States that occur among all batches, for the filter's choices. */
  states: string[];
  query: BatchListQuery;
}

/** Longest filter text kept (a longer one is cut): the URL is the user's, the page echoes it. */
const MAX_FILTER_LENGTH = 100;

/** The list query of a request's URL query (Express's `request.query`); anything malformed falls back to the default. */
export function batchListQuery(query: Record<string, unknown>): BatchListQuery {
  const text = (value: unknown) =>
    typeof value === 'string' ? value.trim().slice(0, MAX_FILTER_LENGTH) : '';
  const page = Number(text(query.page));
  return {
    page: Number.isInteger(page) && page >= 1 ? page : 1,
    state: text(query.state),
    name: text(query.name),
  };
}

/** The query as a URL query string (`?…`, or '' for the default), with `page` replaced when given. */
export function batchListSearch(query: BatchListQuery, page = query.page): string {
  const parameters = new URLSearchParams();
  if (query.state !== '') parameters.set('state', query.state);
  if (query.name !== '') parameters.set('name', query.name);
  if (page > 1) parameters.set('page', String(page));
  const search = parameters.toString();
  return search === '' ? '' : `?${search}`;
}

/**
 * The page of `overviews` the query asks for: newest first (by creation time, then id), filtered. A page past the
 * last shows the last.
 */
export function batchListPage(overviews: readonly BatchOverview[], query: BatchListQuery): BatchListPage {
  const name = query.name.toLowerCase();
  const matching = overviews
    .filter(
      (batch) => (query.state === '' || batch.state === query.state) && batch.id.toLowerCase().includes(name),
    )
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  const pages = Math.max(1, Math.ceil(matching.length / BATCHES_PER_PAGE));
  const page = Math.min(query.page, pages);
  return {
    batches: matching.slice((page - 1) * BATCHES_PER_PAGE, page * BATCHES_PER_PAGE),
    matching: matching.length,
    total: overviews.length,
    page,
    pages,
    states: [...new Set(overviews.map((batch) => batch.state))].sort(),
    query: { ...query, page },
  };
}
