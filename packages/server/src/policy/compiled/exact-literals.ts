// cedar-wasm's `policyToJson` hands integer literals over as JavaScript numbers, so a literal beyond 2^53 comes back
// rounded (9223372036854775807 as 9223372036854775808). The exact value is still in the policy text: read the integer
// literals from the text, in order, and put them back into the policy's JSON form. The two sequences must agree number
// for number; when they do not (a record whose keys JavaScript reorders, say), nothing is guessed.

/** The integer literals of Cedar policy text, in order, each with the sign the parser gives it. */
function integerLiterals(text: string): Array<{ digits: string; negated: boolean }> {
  const literals: Array<{ digits: string; negated: boolean }> = []
  let previous = ''
  let at = 0
  while (at < text.length) {
    const c = text[at] as string
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      at++
    } else if (c === '/' && text[at + 1] === '/') {
      const end = text.indexOf('\n', at)
      at = end === -1 ? text.length : end
    } else if (c === '"') {
      at++
      while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1
      at++
      previous = '"'
    } else if (/[A-Za-z_]/.test(c)) {
      while (at < text.length && /\w/.test(text[at] as string)) at++
      previous = 'identifier'
    } else if (/[0-9]/.test(c)) {
      const start = at
      while (at < text.length && /[0-9]/.test(text[at] as string)) at++
      literals.push({ digits: text.slice(start, at), negated: previous === '-' })
      previous = 'number'
    } else {
      previous = c
      at++
    }
  }
  return literals
}

function numbersOf(
  json: unknown,
  out: Array<{ holder: Record<string, unknown> | unknown[]; key: string | number }>,
) {
  if (Array.isArray(json)) {
    json.forEach((item, index) => {
      if (typeof item === 'number') out.push({ holder: json, key: index })
      else numbersOf(item, out)
    })
  } else if (typeof json === 'object' && json !== null) {
    const record = json as Record<string, unknown>
    for (const key of Object.keys(record)) {
      if (typeof record[key] === 'number') out.push({ holder: record, key })
      else numbersOf(record[key], out)
    }
  }
}

function hasUnsafeNumber(json: unknown): boolean {
  if (typeof json === 'number') return !Number.isSafeInteger(json)
  if (typeof json !== 'object' || json === null) return false
  return Object.values(json).some(hasUnsafeNumber)
}

/**
 * Replaces, in a policy's JSON form, every integer that is not a safe integer by its exact bigint from the policy text.
 * Returns false, changing nothing, when the text's literals cannot be matched one for one with the JSON's numbers.
 *
 * @example
 * const est = { Value: 9223372036854775808 } // as policyToJson gives 9223372036854775807
 * restoreExactIntegers(est, 'permit(principal, action, resource) when { context.n == 9223372036854775807 };')
 * // est.Value === 9223372036854775807n
 */
export function restoreExactIntegers(est: unknown, text: string): boolean {
  if (!hasUnsafeNumber(est)) return true
  const numbers: Array<{ holder: Record<string, unknown> | unknown[]; key: string | number }> = []
  numbersOf(est, numbers)
  const literals = integerLiterals(text)
  if (numbers.length !== literals.length) return false
  const exact: bigint[] = []
  for (const [index, { holder, key }] of numbers.entries()) {
    const rounded = (holder as Record<string | number, unknown>)[key] as number
    const literal = literals[index] as { digits: string; negated: boolean }
    const value = rounded < 0 && literal.negated ? -BigInt(literal.digits) : BigInt(literal.digits)
    if (Number(value) !== rounded) return false
    exact.push(value)
  }
  for (const [index, { holder, key }] of numbers.entries()) {
    const value = exact[index] as bigint
    if (!Number.isSafeInteger(Number(value))) (holder as Record<string | number, unknown>)[key] = value
  }
  return true
}
