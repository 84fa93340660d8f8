// Cedar's extension types in the compiled evaluator, proven against cedar-wasm itself: every expression below is
// evaluated by our module and by cedar-wasm (as the condition of a policy), and the two must agree on the value or on
// the error. The tables hold hand-picked boundaries, every extension string of the Cedar integration-test corpus
// (fixtures/cedar-extension-strings.json) and a seeded random batch (CEDAR_EXTENSIONS_RUNS=<n> for a larger one,
// CEDAR_EXTENSIONS_SEED=<n> for another).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { isAuthorized } from '../../src/policy/cedar.ts'
import {
  compareExtension,
  DateTime,
  Decimal,
  Duration,
  EXTENSION_FUNCTIONS,
  IpAddr,
  parseDateTime,
  parseDecimal,
  parseDuration,
  parseIp,
} from '../../src/policy/compiled/extensions.ts'
import { cedarEquals, EvaluationError, ExtensionValue, type Value } from '../../src/policy/compiled/values.ts'

// An expression: a literal, an extension call (constructors function-style, the rest method-style on their first
// argument), or a comparison.
type Expr = string | number | bigint | boolean | Call | Comparison
interface Call {
  call: string
  args: Expr[]
}
interface Comparison {
  op: '==' | '<' | '<=' | '>' | '>='
  left: Expr
  right: Expr
}

const CONSTRUCTORS = new Set(['ip', 'decimal', 'datetime', 'duration'])

const call = (name: string, ...args: Expr[]): Call => ({ call: name, args })
const ip = (s: string) => call('ip', s)
const decimal = (s: string) => call('decimal', s)
const datetime = (s: string) => call('datetime', s)
const duration = (s: string) => call('duration', s)
const op = (o: Comparison['op'], left: Expr, right: Expr): Comparison => ({ op: o, left, right })

function cedarString(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0) as number
    if (ch === '"' || ch === '\\') out += `\\${ch}`
    else if (c >= 0x20 && c < 0x7f) out += ch
    else out += `\\u{${c.toString(16)}}`
  }
  return `${out}"`
}

function render(e: Expr): string {
  switch (typeof e) {
    case 'string':
      return cedarString(e)
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(e)
  }
  if ('op' in e) return `(${render(e.left)} ${e.op} ${render(e.right)})`
  if (CONSTRUCTORS.has(e.call) || e.args.length === 0) return `${e.call}(${e.args.map(render).join(', ')})`
  const [receiver, ...rest] = e.args
  return `(${render(receiver as Expr)}).${e.call}(${rest.map(render).join(', ')})`
}

function evaluate(e: Expr): Value {
  if (typeof e !== 'object') return e
  if ('op' in e) {
    const left = evaluate(e.left)
    const right = evaluate(e.right)
    if (e.op === '==') return cedarEquals(left, right)
    let order: number | undefined
    if (left instanceof ExtensionValue && right instanceof ExtensionValue)
      order = compareExtension(left, right)
    else if (
      (typeof left === 'number' || typeof left === 'bigint') &&
      (typeof right === 'number' || typeof right === 'bigint')
    )
      order = left < right ? -1 : left > right ? 1 : 0
    if (order === undefined) throw new EvaluationError('type error')
    return e.op === '<' ? order < 0 : e.op === '<=' ? order <= 0 : e.op === '>' ? order > 0 : order >= 0
  }
  const f = EXTENSION_FUNCTIONS.get(e.call)
  assert.ok(f, `no extension function ${e.call}`)
  return f(e.args.map(evaluate))
}

function renderValue(v: Value): string {
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint' || v instanceof ExtensionValue)
    return String(v)
  throw new Error(`an extension function returned ${String(v)}`)
}

const UID = { type: 'Test', id: 'x' }

/**
 * Evaluates every expression with our module and with cedar-wasm, and returns the disagreements. A value `v` is
 * checked as a policy `when { (<expr>) == <v> }` that must be satisfied without error; an error as a policy
 * `when { (<expr>) == 0 }` that must error.
 */
function disagreements(exprs: readonly Expr[]): string[] {
  const found: string[] = []
  const BATCH = 400
  for (let start = 0; start < exprs.length; start += BATCH) {
    const batch = exprs.slice(start, start + BATCH)
    const ours = batch.map((e) => {
      try {
        return { value: evaluate(e) }
      } catch (error) {
        if (!(error instanceof EvaluationError)) throw error
        return { error: error.message }
      }
    })
    const policies: Record<string, string> = {}
    batch.forEach((e, i) => {
      const mine = ours[i] as { value?: Value; error?: string }
      const expected = 'error' in mine ? '0' : renderValue(mine.value as Value)
      policies[`p${i}`] = `permit(principal, action, resource) when { (${render(e)}) == ${expected} };`
    })
    const answer = isAuthorized({
      principal: UID,
      action: UID,
      resource: UID,
      context: {},
      policies: { staticPolicies: policies },
      entities: [],
    })
    if (answer.type === 'failure') {
      found.push(`cedar-wasm refused the batch: ${answer.errors.map((x) => x.message).join('; ')}`)
      continue
    }
    const satisfied = new Set(answer.response.diagnostics.reason)
    const errors = new Map(answer.response.diagnostics.errors.map((x) => [x.policyId, x.error.message]))
    batch.forEach((e, i) => {
      const mine = ours[i] as { value?: Value; error?: string }
      const id = `p${i}`
      if ('error' in mine) {
        if (!errors.has(id)) found.push(`${render(e)}: ours errs (${mine.error}), cedar gives a value`)
      } else if (errors.has(id)) {
        found.push(`${render(e)}: ours ${renderValue(mine.value as Value)}, cedar errs (${errors.get(id)})`)
      } else if (!satisfied.has(id)) {
        found.push(`${render(e)}: ours ${renderValue(mine.value as Value)}, cedar gives another value`)
      }
    })
  }
  return found
}

function assertAgrees(exprs: readonly Expr[]): void {
  const found = disagreements(exprs)
  assert.deepEqual(found.slice(0, 25), [], `${found.length} of ${exprs.length} expressions disagree`)
}

// What each kind of string is put through besides its constructor; `other` is a second string of the same kind.
const IP_PROBES = [
  '0.0.0.0/0',
  '10.0.0.0/8',
  '127.0.0.1',
  '224.0.0.0/4',
  '::/0',
  '::1',
  'ff00::/8',
  'fe80::/10',
]
function ipExprs(s: string, other: string): Expr[] {
  const v = ip(s)
  return [
    v,
    call('isIpv4', v),
    call('isIpv6', v),
    call('isLoopback', v),
    call('isMulticast', v),
    call('isInRange', v, ip(other)),
    call('isInRange', ip(other), v),
    op('==', v, ip(other)),
    ...IP_PROBES.map((probe) => call('isInRange', v, ip(probe))),
  ]
}

function decimalExprs(s: string, other: string): Expr[] {
  const v = decimal(s)
  const w = decimal(other)
  return [
    v,
    call('lessThan', v, w),
    call('lessThanOrEqual', v, w),
    call('greaterThan', v, w),
    call('greaterThanOrEqual', v, w),
    op('==', v, w),
    op('<', v, w),
  ]
}

const OFFSETS = ['0ms', '1ms', '-1ms', '1d', '-1d', '9223372036854775807ms', '-9223372036854775808ms']
function datetimeExprs(s: string, other: string): Expr[] {
  const v = datetime(s)
  const w = datetime(other)
  return [
    v,
    call('toDate', v),
    call('toTime', v),
    call('durationSince', v, w),
    op('==', v, w),
    op('<', v, w),
    op('>=', v, w),
    ...OFFSETS.map((d) => call('offset', v, duration(d))),
  ]
}

function durationExprs(s: string, other: string): Expr[] {
  const v = duration(s)
  const w = duration(other)
  return [
    v,
    ...['toDays', 'toHours', 'toMinutes', 'toSeconds', 'toMilliseconds'].map((m) => call(m, v)),
    call('offset', datetime('1970-01-01'), v),
    call('toTime', call('offset', datetime('1970-01-01'), v)),
    call('toDate', call('offset', datetime('1970-01-01'), v)),
    op('==', v, w),
    op('<', v, w),
    op('<=', v, w),
  ]
}

const EXPRESSIONS_OF = {
  ip: ipExprs,
  decimal: decimalExprs,
  datetime: datetimeExprs,
  duration: durationExprs,
}
type Kind = keyof typeof EXPRESSIONS_OF

function expressionsFor(kind: Kind, strings: readonly string[]): Expr[] {
  return strings.flatMap((s, i) => EXPRESSIONS_OF[kind](s, strings[(i + 1) % strings.length] as string))
}

const TABLE: Record<Kind, string[]> = {
  ip: [
    '0.0.0.0',
    '255.255.255.255',
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.0',
    '001.2.3.4',
    '1.2.3.4/0',
    '1.2.3.4/32',
    '1.2.3.4/33',
    '1.2.3.4/08',
    '1.2.3.4/',
    '1.2.3.4/-1',
    '1.2.3.4/+8',
    '1.2.3.4/8/8',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '10.0.0.1',
    '10.0.0.1/32',
    '10.0.0.1/24',
    '10.0.0.0/24',
    '127.0.0.1',
    '127.0.0.0/8',
    '127.0.0.0/7',
    '127.255.255.255',
    '224.0.0.1',
    '239.255.255.255/4',
    '224.0.0.0/3',
    '240.0.0.1',
    '::',
    '::1',
    '::1/127',
    '::1/128',
    '::1/129',
    '::1/0128',
    '::/0',
    '1::',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8/128',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '1:::2',
    ':1::',
    '1::2:',
    '::ffff:127.0.0.1',
    '::127.0.0.1',
    '::ffff:7f00:1',
    '64:ff9b::1.2.3.4',
    'fe80::1%eth0',
    'fe80::1%1',
    'ff02::1',
    'ff00::/8',
    'ff00::/7',
    'FF02::ABCD',
    '00000::1',
    '0000::1',
    'abcd:ef01:2345:6789:abcd:ef01:2345:6789/128',
    'abcd:ef01:2345:6789:abcd:ef01:2345:6789/64',
    '0000:0000:0000:0000:0000:0000:0000:0001/128',
    '[::1]',
    '1.2.3.4:80',
    '',
    '/8',
    '\u0661.1.1.1',
    'g::1',
  ],
  decimal: [
    '0.0',
    '-0.0',
    '1.0',
    '1.0000',
    '1.00000',
    '1.',
    '.1',
    '1',
    '-1.5',
    '+1.5',
    '1.5e3',
    ' 1.5',
    '1,5',
    '922337203685477.5807',
    '922337203685477.5808',
    '-922337203685477.5808',
    '-922337203685477.5809',
    '922337203685478.0',
    '-922337203685478.0',
    '99999999999.9999',
    '999999999999.9999',
    '0000000000000000000000001.25',
    '-0000000000000000000000001.25',
    '9223372036854775807.0',
    '--1.0',
    '1.2.3',
    '\u0661.0',
    '12.3456',
    '-12.345',
  ],
  datetime: [
    '2024-10-15',
    '2024-10-15T11:38:02Z',
    '2024-10-15T11:38:02.123Z',
    '2024-10-15T11:38:02+0200',
    '2024-10-15T11:38:02.123-0530',
    '2024-10-15T11:38:02',
    '2024-10-15T11:38Z',
    '2024-10-15T11:38:02.12Z',
    '2024-10-15T11:38:02.1234Z',
    '2024-10-15T11:38:02+02:00',
    '2024-10-15T11:38:02+02',
    '2024-10-15T11:38:02+2400',
    '2024-10-15T11:38:02+2359',
    '2024-10-15T11:38:02-2359',
    '2024-10-15T11:38:02+0060',
    '2024-10-15t11:38:02Z',
    '2024-10-15T11:38:02z',
    '2024-10-15 11:38:02Z',
    '2024-10-15T24:00:00Z',
    '2024-10-15T23:59:60Z',
    '2024-10-15T23:60:00Z',
    '2024-02-29',
    '2023-02-29',
    '1900-02-29',
    '2000-02-29',
    '0000-02-29',
    '2024-04-31',
    '2024-13-01',
    '2024-00-10',
    '2024-01-00',
    '0000-01-01',
    '0000-01-01T00:00:00+2359',
    '9999-12-31T23:59:59.999Z',
    '9999-12-31T23:59:59.999-2359',
    '1969-12-31T23:59:59.999Z',
    '1970-01-01',
    '10000-01-01',
    '999-01-01',
    '2024-1-01',
    '2024-10-15T',
    '2024-10-15Z',
    '2024-10-15T11:38:02.Z',
    '+2024-10-15',
    '',
    '\u0661024-10-15',
  ],
  duration: [
    '0ms',
    '0d',
    '-0ms',
    '1d2h3m4s5ms',
    '-1d2h3m4s5ms',
    '1h',
    '90m',
    '1m30s',
    '1ms',
    '5m30ms',
    '1s1m',
    '1d1d',
    '1ms1s',
    '1.5h',
    '1D',
    '1 d',
    '1',
    'd',
    '',
    '-',
    '--1d',
    '+1d',
    '1d-1h',
    '1msms',
    '1mss',
    '1y',
    '9223372036854775807ms',
    '9223372036854775808ms',
    '-9223372036854775808ms',
    '-9223372036854775809ms',
    '9223372036854775s807ms',
    '9223372036854775s808ms',
    '-9223372036854775s808ms',
    '106751991167d',
    '106751991168d',
    '-106751991167d23h47m16s854ms',
    '-106751991167d23h47m16s855ms',
    '18446744073709551615ms',
    '18446744073709551616ms',
    '00000000000000000000000001d',
    '\u0661d',
  ],
}

// A small seeded generator (mulberry32), so the random batch is the same on every run.
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function generator(seed: number) {
  const next = random(seed)
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T
  const digits = (n: number) => Array.from({ length: n }, () => int(10)).join('')
  const pad = (n: number, width: number) => String(n).padStart(width, '0')
  // Edits that turn a well-formed string into a near miss.
  const mutate = (s: string): string => {
    const at = int(s.length + 1)
    switch (int(4)) {
      case 0:
        return s.slice(0, at) + s.slice(at + 1)
      case 1:
        return (
          s.slice(0, at) +
          pick(['0', '9', ':', '.', '-', '+', '/', 'Z', 'T', 'm', 's', 'a', ' ']) +
          s.slice(at)
        )
      case 2:
        return s.slice(0, at) + pick(['0', '1', 'f', ':']) + s.slice(at + 1)
      default:
        return s
    }
  }
  const maybeMutate = (s: string) => (next() < 0.3 ? mutate(s) : s)
  const octet = () =>
    next() < 0.05 ? pick(['256', '01', '00', '999']) : String(pick([0, 1, 10, 127, 224, 239, 255, int(256)]))
  const group = () => (next() < 0.05 ? pick(['10000', '0000', 'fFfF', 'g']) : int(0x10000).toString(16))
  const ipString = () => {
    let s: string
    if (next() < 0.5) s = [octet(), octet(), octet(), octet()].join('.')
    else {
      const groups = Array.from({ length: 8 }, group)
      if (next() < 0.6) {
        const from = int(8)
        const to = from + 1 + int(8 - from)
        s = `${groups.slice(0, from).join(':')}::${groups.slice(to).join(':')}`
      } else s = groups.join(':')
      if (next() < 0.2) s = pick(['ff', 'fe80', '0', '::1']) + s.slice(s.indexOf(':'))
    }
    if (next() < 0.6) s += `/${pick([0, 1, 4, 7, 8, 9, 16, 24, 31, 32, 33, 64, 127, 128, 129, int(140)])}`
    return maybeMutate(s)
  }
  const decimalString = () => {
    const whole = next() < 0.2 ? digits(14 + int(4)) : String(int(10 ** (1 + int(9))))
    const s = `${next() < 0.4 ? '-' : ''}${whole}.${digits(1 + int(next() < 0.9 ? 4 : 6))}`
    return maybeMutate(s)
  }
  const datetimeString = () => {
    const year = next() < 0.1 ? pick([0, 1, 1969, 1970, 9999]) : int(10000)
    const month = next() < 0.1 ? pick([0, 13, 2]) : 1 + int(12)
    const day = next() < 0.2 ? pick([0, 28, 29, 30, 31, 32]) : 1 + int(28)
    let s = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`
    if (next() < 0.7) {
      s += `T${pad(next() < 0.05 ? 24 : int(24), 2)}:${pad(int(next() < 0.05 ? 61 : 60), 2)}:${pad(int(next() < 0.05 ? 61 : 60), 2)}`
      if (next() < 0.4) s += `.${digits(3)}`
      s +=
        next() < 0.4
          ? 'Z'
          : `${pick(['+', '-'])}${pad(next() < 0.05 ? 24 : int(24), 2)}${pad(next() < 0.05 ? 60 : int(60), 2)}`
    }
    return maybeMutate(s)
  }
  const durationString = () => {
    let s = next() < 0.4 ? '-' : ''
    const units = ['d', 'h', 'm', 's', 'ms']
    let any = false
    for (const unit of units) {
      if (next() < 0.5) continue
      any = true
      const size = next() < 0.1 ? 15 + int(6) : 1 + int(6)
      s += `${next() < 0.05 ? '9223372036854775807' : digits(size).replace(/^0+(?=.)/, '')}${unit}`
    }
    if (!any) s += `${int(1000)}${pick(units)}`
    if (next() < 0.05) s = `${s}${int(100)}${pick(units)}`
    return maybeMutate(s)
  }
  return { ip: ipString, decimal: decimalString, datetime: datetimeString, duration: durationString }
}

const corpus = JSON.parse(
  readFileSync(new URL('./fixtures/cedar-extension-strings.json', import.meta.url), 'utf8'),
) as Record<Kind, string[]>
const KINDS: Kind[] = ['ip', 'decimal', 'datetime', 'duration']

describe('Cedar extension types agree with cedar-wasm', () => {
  for (const kind of KINDS) {
    it(`${kind}: the boundary table`, () => assertAgrees(expressionsFor(kind, TABLE[kind])))
    it(`${kind}: every ${kind} string of the Cedar corpus`, () =>
      assertAgrees(expressionsFor(kind, corpus[kind])))
    it(`${kind}: a seeded random batch`, () => {
      const runs = Number(process.env.CEDAR_EXTENSIONS_RUNS ?? 300)
      const seed = Number(process.env.CEDAR_EXTENSIONS_SEED ?? 0x5eed)
      const make = generator(seed + KINDS.indexOf(kind))[kind]
      assertAgrees(expressionsFor(kind, Array.from({ length: runs }, make)))
    })
  }

  it('extreme datetimes: toDate, toTime and durationSince at the ends of 64-bit milliseconds', () => {
    const epoch = datetime('1970-01-01')
    const at = (ms: string) => call('offset', epoch, duration(ms))
    const extremes = [
      '-9223372036854775808ms',
      '9223372036854775807ms',
      '-9223372036854775807ms',
      '-86400000ms',
      '-1ms',
    ]
    assertAgrees(
      extremes.flatMap((a) => [
        call('toDate', at(a)),
        call('toTime', at(a)),
        call('offset', at(a), duration('1ms')),
        call('offset', at(a), duration('-1ms')),
        ...extremes.map((b) => call('durationSince', at(a), at(b))),
      ]),
    )
  })

  it('wrong arity and wrong argument types are evaluation errors, as in Cedar', () => {
    assertAgrees([
      call('ip'),
      call('ip', '1.2.3.4', '1.2.3.4'),
      call('ip', 1),
      call('decimal', true),
      call('datetime', 0),
      call('duration', decimal('1.0')),
      call('isIpv4', '1.2.3.4'),
      call('isInRange', ip('1.2.3.4')),
      call('isInRange', ip('1.2.3.4'), '1.2.3.4'),
      call('isInRange', ip('1.2.3.4'), ip('::/0')),
      call('lessThan', decimal('1.0'), 1),
      call('lessThan', decimal('1.0'), decimal('1.0'), decimal('1.0')),
      call('greaterThan', ip('1.2.3.4'), decimal('1.0')),
      call('offset', datetime('2024-01-01'), datetime('2024-01-01')),
      call('offset', duration('1d'), duration('1d')),
      call('durationSince', datetime('2024-01-01'), duration('1d')),
      call('toDate', duration('1d')),
      call('toTime', '2024-01-01'),
      call('toDays', datetime('2024-01-01')),
      call('toMilliseconds', 5),
      op('<', decimal('1.0'), decimal('2.0')),
      op('<', ip('1.2.3.4'), ip('1.2.3.5')),
      op('<', datetime('2024-01-01'), duration('1d')),
      op('<', duration('1d'), 5),
      op('<', 5, duration('1d')),
      op('<=', duration('1d'), duration('24h')),
      op('>', datetime('2024-01-02'), datetime('2024-01-01T23:59:59Z')),
      op('==', datetime('2024-01-01T02:00:00+0200'), datetime('2024-01-01')),
      op('==', duration('1d'), duration('24h')),
      op('==', decimal('1.0'), decimal('1.0000')),
      op('==', ip('10.0.0.1'), ip('10.0.0.1/32')),
      op('==', ip('10.0.0.1/24'), ip('10.0.0.0/24')),
      op('==', ip('::1'), ip('0:0:0:0:0:0:0:1')),
      op('==', ip('0.0.0.1'), ip('::1')),
      op('==', duration('0ms'), datetime('1970-01-01')),
    ])
  })
})

describe('extension values in memory', () => {
  it('parse into compact forms, canonical Longs beyond 2^53', () => {
    assert.equal(parseDecimal('1.5').scaled, 15000)
    assert.equal(parseDecimal('-0.0').scaled, 0)
    assert.equal(parseDecimal('922337203685477.5807').scaled, 9223372036854775807n)
    assert.equal(parseDuration('-0ms').ms, 0)
    assert.equal(parseDuration('-9223372036854775808ms').ms, -9223372036854775808n)
    assert.equal(parseDuration('1h30m').ms, 5_400_000)
    assert.equal(parseDateTime('2024-10-15T11:38:02.123+0200').epochMs, Date.UTC(2024, 9, 15, 9, 38, 2, 123))
    assert.equal(parseDateTime('0000-01-01').epochMs, -62167219200000)
    const v4 = parseIp('192.168.1.7/24')
    assert.deepEqual(
      [v4.v6, v4.words, v4.prefix, v4.network, v4.broadcast],
      [false, [0xc0a80107], 24, [0xc0a80100], [0xc0a801ff]],
    )
    const v6 = parseIp('ff02::1:2/120')
    assert.deepEqual(
      [v6.v6, v6.words, v6.network, v6.broadcast],
      [true, [0xff020000, 0, 0, 0x10002], [0xff020000, 0, 0, 0x10000], [0xff020000, 0, 0, 0x100ff]],
    )
  })

  it('equal values have equal keys and different values different keys', () => {
    assert.equal(parseDecimal('1.0').key(), parseDecimal('1.0000').key())
    assert.notEqual(parseIp('10.0.0.1/24').key(), parseIp('10.0.0.0/24').key())
    assert.notEqual(parseIp('0.0.0.1').key(), parseIp('::1').key())
    assert.equal(parseDateTime('2024-01-01T02:00:00+0200').key(), parseDateTime('2024-01-01').key())
  })

  it('error messages say what was expected and never echo the input', () => {
    const secret = 'sk-live-0123456789abcdef'
    for (const name of ['ip', 'decimal', 'datetime', 'duration']) {
      assert.throws(
        () => EXTENSION_FUNCTIONS.get(name)?.([secret]),
        (error: unknown) =>
          error instanceof EvaluationError &&
          error.message.includes(name === 'ip' ? 'IP' : name) &&
          !error.message.includes(secret),
      )
    }
  })

  it('compareExtension orders datetimes and durations only', () => {
    assert.equal(compareExtension(parseDuration('1h'), parseDuration('60m')), 0)
    assert.equal(compareExtension(parseDuration('-9223372036854775808ms'), parseDuration('1ms')), -1)
    assert.equal(compareExtension(parseDateTime('2024-01-02'), parseDateTime('2024-01-01')), 1)
    assert.equal(compareExtension(parseDecimal('1.0'), parseDecimal('2.0')), undefined)
    assert.equal(compareExtension(parseIp('1.1.1.1'), parseIp('1.1.1.2')), undefined)
    assert.equal(compareExtension(parseDateTime('2024-01-01'), parseDuration('1d')), undefined)
  })

  it('every function is there under its EST name, and constructors give their classes', () => {
    assert.deepEqual([...EXTENSION_FUNCTIONS.keys()].sort(), [
      'datetime',
      'decimal',
      'duration',
      'durationSince',
      'greaterThan',
      'greaterThanOrEqual',
      'ip',
      'isInRange',
      'isIpv4',
      'isIpv6',
      'isLoopback',
      'isMulticast',
      'lessThan',
      'lessThanOrEqual',
      'offset',
      'toDate',
      'toDays',
      'toHours',
      'toMilliseconds',
      'toMinutes',
      'toSeconds',
      'toTime',
    ])
    assert.ok(EXTENSION_FUNCTIONS.get('ip')?.(['::1']) instanceof IpAddr)
    assert.ok(EXTENSION_FUNCTIONS.get('decimal')?.(['1.0']) instanceof Decimal)
    assert.ok(EXTENSION_FUNCTIONS.get('datetime')?.(['2024-01-01']) instanceof DateTime)
    assert.ok(EXTENSION_FUNCTIONS.get('duration')?.(['1d']) instanceof Duration)
  })
})
