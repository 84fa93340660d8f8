// The `DPoP` header values of a request, read from the raw header list: RFC 9449 §4.3 step 1 refuses a request with
// more than one, and Node joins repeated headers into one string, so the parsed headers cannot tell.

/**
 * Every `DPoP` header value of a request, in order.
 * @example
 * const proofs = dpopHeaders(request.raw.rawHeaders) // [] when there is none
 */
export function dpopHeaders(raw: readonly string[]): string[] {
  const values: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]?.toLowerCase() === 'dpop') values.push(raw[i + 1] ?? '')
  return values
}
