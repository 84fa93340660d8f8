// AuthZEN search paging (AuthZEN 1.0 §8): pages walk the candidates in order; the token is the last candidate a page
// examined, opaque to the PEP and checked on its way back.
import { ValidationFailed } from '../errors/mandate-error.ts'

/** The `page` of a search request: the previous answer's next_token comes back as `token` (next_token is accepted too). */
export interface PageRequest {
  token?: string | undefined
  next_token?: string | undefined
  limit?: number | undefined
}

/** Results per page when the request names no limit. */
export const DEFAULT_PAGE_SIZE = 100

/**
 * The candidates a page examines (those after the token, in order) and how many results it may hold.
 * @example
 * pageOf(['a', 'b', 'c'], { token: nextToken({ results: ['a'], more: true }), limit: 1 }) // { candidates: ['b', 'c'], limit: 1 }
 */
export function pageOf(
  candidates: readonly string[],
  page: PageRequest | undefined,
): { candidates: string[]; limit: number } {
  const limit = page?.limit ?? DEFAULT_PAGE_SIZE
  const token = page?.token ?? page?.next_token
  if (!token) return { candidates: [...candidates], limit }
  const after = decodeToken(token)
  return { candidates: candidates.filter((c) => c > after), limit }
}

/**
 * Where a page starts (after the candidate its token names; from the first without one) and how many results it may
 * hold, for searches that find their candidates themselves.
 * @example
 * pageStart({ token: nextToken({ results: ['a'], more: true }), limit: 1 }) // { after: 'a', limit: 1 }
 */
export function pageStart(page: PageRequest | undefined): { after?: string; limit: number } {
  const limit = page?.limit ?? DEFAULT_PAGE_SIZE
  const token = page?.token ?? page?.next_token
  return token ? { after: decodeToken(token), limit } : { limit }
}

/** The `next_token` of an answer: empty when the page examined every candidate. */
export function nextToken(found: { results: readonly string[]; more: boolean }): string {
  const last = found.results.at(-1)
  return found.more && last !== undefined ? encodeToken(last) : ''
}

function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url')
}

function decodeToken(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown }
    if (typeof parsed.after === 'string' && encodeToken(parsed.after) === token) return parsed.after
  } catch {
    // falls through to the error below
  }
  throw new ValidationFailed([{ path: '/page/token', message: 'is not a token this API returned' }])
}
