// Cedar's extension types (ipaddr, decimal, datetime, duration) for the compiled evaluator: the constructors and
// methods, by the names Cedar's JSON policy form (EST) gives them, and the ordering Cedar defines for `<` and friends.
// Each rule follows what Cedar 4.x (the cedar-wasm in package.json) accepts and refuses; the differential test
// (test/policy/cedar-extensions.test.ts) holds every rule against cedar-wasm itself.
//
// Performance: each string is parsed once by a hand-written scanner (no regular expressions), into a compact form:
// IPv4 as 32-bit numbers, IPv6 as bigint, decimal as a scaled Long, datetime and duration as Long milliseconds.
// Arithmetic runs on numbers while the result stays a safe integer, and falls back to bigint only beyond 2^53.
import { EvaluationError, ExtensionValue, type Long, long, type Value } from './values.ts'

// ---------------------------------------------------------------------------------------------------------------
// ipaddr

/** An IPv4 or IPv6 address with a prefix length (a CIDR range; a single address has the full-length prefix). */
export class IpAddr extends ExtensionValue {
  readonly extension = 'ipaddr'
  /** The lowest and highest address of the range, precomputed for `isInRange`. */
  readonly network: number | bigint
  readonly broadcast: number | bigint

  /** @internal use `parseIp()` */
  constructor(
    readonly v6: boolean,
    /** The address as written (not masked): an unsigned 32-bit number for IPv4, a 128-bit bigint for IPv6. */
    readonly addr: number | bigint,
    readonly prefix: number,
  ) {
    super()
    if (v6) {
      const hostmask = prefix === 128 ? 0n : (1n << BigInt(128 - prefix)) - 1n
      const a = addr as bigint
      this.network = a & ~hostmask & V6_ALL
      this.broadcast = a | hostmask
    } else {
      const netmask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
      const a = addr as number
      this.network = (a & netmask) >>> 0
      this.broadcast = (a | ~netmask) >>> 0
    }
  }

  // Cedar compares the address as written and the prefix: ip("10.0.0.1") == ip("10.0.0.1/32"), but
  // ip("10.0.0.1/24") != ip("10.0.0.0/24").
  equals(other: ExtensionValue): boolean {
    return (
      other instanceof IpAddr &&
      other.v6 === this.v6 &&
      other.addr === this.addr &&
      other.prefix === this.prefix
    )
  }

  key(): string {
    return `${this.v6 ? 6 : 4}:${this.addr}/${this.prefix}`
  }

  /** Cedar's canonical form, e.g. `ip("10.0.0.1/32")`. */
  override toString(): string {
    return `ip("${formatIp(this)}")`
  }
}

const V6_ALL = (1n << 128n) - 1n
// Cedar refuses longer strings outright (the longest IPv6 range, 39 characters and "/128", fits).
const IP_MAX_LENGTH = 43

function formatIp(ip: IpAddr): string {
  if (!ip.v6) {
    const a = ip.addr as number
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${ip.prefix}`
  }
  const groups: string[] = []
  for (let shift = 112n; shift >= 0n; shift -= 16n)
    groups.push((((ip.addr as bigint) >> shift) & 0xffffn).toString(16))
  return `${groups.join(':')}/${ip.prefix}`
}

/**
 * Parses an address or CIDR range as Cedar's `ip()` does: dotted-quad IPv4 without leading zeros, IPv6 in hex
 * groups with at most one `::`, an optional `/prefix` (decimal, no leading zero, at most 32 or 128); no zone ids and
 * no IPv4 embedded in IPv6.
 * @example parseIp('192.168.0.0/16').isIpv4 // true
 */
export function parseIp(s: string): IpAddr {
  if (s.length > IP_MAX_LENGTH) throw new EvaluationError('invalid IP address: string too long')
  const slash = s.indexOf('/')
  const text = slash < 0 ? s : s.slice(0, slash)
  const v4 = parseIpv4(text)
  if (v4 !== undefined) return new IpAddr(false, v4, slash < 0 ? 32 : parsePrefix(s.slice(slash + 1), 32))
  const v6 = parseIpv6(text)
  if (v6 !== undefined) return new IpAddr(true, v6, slash < 0 ? 128 : parsePrefix(s.slice(slash + 1), 128))
  throw new EvaluationError(`invalid IP address: ${s}`)
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function parsePrefix(s: string, max: number): number {
  if (s.length === 0 || s.length > (max === 32 ? 2 : 3)) throw new EvaluationError('invalid IP prefix length')
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!isDigit(c)) throw new EvaluationError('invalid IP prefix length')
    n = n * 10 + c - 48
  }
  if ((s.length > 1 && s.charCodeAt(0) === 48) || n > max)
    throw new EvaluationError('invalid IP prefix length')
  return n
}

/** Four decimal octets of one to three digits, no leading zeros, each at most 255; undefined otherwise. */
function parseIpv4(s: string): number | undefined {
  let addr = 0
  let i = 0
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (s.charCodeAt(i) !== 46) return undefined
      i++
    }
    const start = i
    let n = 0
    while (i < s.length && isDigit(s.charCodeAt(i))) {
      n = n * 10 + s.charCodeAt(i) - 48
      i++
    }
    const digits = i - start
    if (digits === 0 || digits > 3 || n > 255 || (digits > 1 && s.charCodeAt(start) === 48)) return undefined
    addr = addr * 256 + n
  }
  return i === s.length ? addr : undefined
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/**
 * Hex groups of one to four digits separated by `:`, eight of them, or fewer with one `::` standing for at least one
 * zero group; undefined otherwise. (Cedar refuses IPv4 embedded in IPv6, so a dotted tail is refused here too.)
 */
function parseIpv6(s: string): bigint | undefined {
  const groups: number[] = []
  let i = 0
  // Reads groups from i, each after a ':' but the first; stops (leaving i before the ':') at the first that is not one.
  const readGroups = (limit: number): number => {
    let count = 0
    while (count < limit) {
      let j = i
      if (count > 0) {
        if (s.charCodeAt(j) !== 58) break
        j++
      }
      let value = 0
      let digits = 0
      for (let d = hexDigit(s.charCodeAt(j)); d >= 0; d = hexDigit(s.charCodeAt(j))) {
        if (++digits > 4) return -1
        value = value * 16 + d
        j++
      }
      if (digits === 0) break
      groups.push(value)
      count++
      i = j
    }
    return count
  }
  const head = readGroups(8)
  if (head < 0) return undefined
  let tail = 0
  if (head < 8) {
    if (s.charCodeAt(i) !== 58 || s.charCodeAt(i + 1) !== 58) return undefined
    i += 2
    tail = readGroups(7 - head)
    if (tail < 0) return undefined
  }
  if (i !== s.length) return undefined
  let addr = 0n
  for (let g = 0; g < head; g++) addr = (addr << 16n) | BigInt(groups[g] as number)
  addr <<= BigInt(16 * (8 - head - tail))
  for (let g = head; g < head + tail; g++) addr = (addr << 16n) | BigInt(groups[g] as number)
  return addr
}

function isInRange(ip: IpAddr, range: IpAddr): boolean {
  return ip.v6 === range.v6 && range.network <= ip.network && ip.broadcast <= range.broadcast
}

// A range is loopback or multicast only when all of it is: Cedar also requires the prefix to be at least the
// special block's own (127.0.0.0/8, ::1/128; 224.0.0.0/4, ff00::/8).
function isLoopback(ip: IpAddr): boolean {
  return ip.v6 ? ip.addr === 1n && ip.prefix === 128 : (ip.addr as number) >>> 24 === 127 && ip.prefix >= 8
}

function isMulticast(ip: IpAddr): boolean {
  return ip.v6
    ? (ip.addr as bigint) >> 120n === 0xffn && ip.prefix >= 8
    : (ip.addr as number) >>> 28 === 14 && ip.prefix >= 4
}

// ---------------------------------------------------------------------------------------------------------------
// decimal

/** A fixed-point decimal with four fractional digits, held as a Long scaled by 10^4. */
export class Decimal extends ExtensionValue {
  readonly extension = 'decimal'
  /** @internal use `parseDecimal()` */
  constructor(readonly scaled: Long) {
    super()
  }
  // Equal by value: decimal("1.0") == decimal("1.0000").
  equals(other: ExtensionValue): boolean {
    return other instanceof Decimal && other.scaled === this.scaled
  }
  key(): string {
    return `${this.scaled}`
  }
  /** Cedar's canonical form, e.g. `decimal("-1.5000")`. */
  override toString(): string {
    const v = BigInt(this.scaled)
    const abs = v < 0n ? -v : v
    return `decimal("${v < 0n ? '-' : ''}${abs / 10000n}.${(abs % 10000n).toString().padStart(4, '0')}")`
  }
}

const POWERS_OF_TEN = [1, 10, 100, 1000, 10000]

/**
 * Parses a decimal as Cedar's `decimal()` does: an optional `-`, digits, `.`, one to four digits, within
 * -922337203685477.5808 to 922337203685477.5807.
 * @example parseDecimal('1.5').scaled // 15000
 */
export function parseDecimal(s: string): Decimal {
  const negative = s.charCodeAt(0) === 45
  let i = negative ? 1 : 0
  const intStart = i
  while (isDigit(s.charCodeAt(i))) i++
  const intEnd = i
  if (intEnd === intStart || s.charCodeAt(i) !== 46) throw new EvaluationError(`invalid decimal: ${s}`)
  const fracStart = ++i
  while (isDigit(s.charCodeAt(i))) i++
  const fracDigits = i - fracStart
  if (fracDigits === 0 || i !== s.length) throw new EvaluationError(`invalid decimal: ${s}`)
  if (fracDigits > 4) throw new EvaluationError(`too many digits after the decimal point: ${s}`)
  const frac = Number(s.slice(fracStart, i)) * (POWERS_OF_TEN[4 - fracDigits] as number)
  // Eleven integer digits times 10^4 stay below 2^53; longer ones (leading zeros included) go through bigint.
  if (intEnd - intStart <= 11) {
    const scaled = Number(s.slice(intStart, intEnd)) * 10000 + frac
    return new Decimal(negative ? -scaled || 0 : scaled)
  }
  const scaled = BigInt(s.slice(intStart, intEnd)) * 10000n + BigInt(frac)
  try {
    return new Decimal(long(negative ? -scaled : scaled))
  } catch {
    throw new EvaluationError(`decimal out of range: ${s}`)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// datetime and duration

/** An instant, in milliseconds since the Unix epoch (UTC), any 64-bit value. */
export class DateTime extends ExtensionValue {
  readonly extension = 'datetime'
  /** @internal use `parseDateTime()` */
  constructor(readonly epochMs: Long) {
    super()
  }
  // Equal by instant: the same moment written with different offsets is equal.
  equals(other: ExtensionValue): boolean {
    return other instanceof DateTime && other.epochMs === this.epochMs
  }
  key(): string {
    return `${this.epochMs}`
  }
  /** Cedar's canonical form, e.g. `datetime("1970-01-01").offset(duration("86400000ms"))`. */
  override toString(): string {
    return `datetime("1970-01-01").offset(duration("${this.epochMs}ms"))`
  }
}

/** A signed length of time in milliseconds, any 64-bit value. */
export class Duration extends ExtensionValue {
  readonly extension = 'duration'
  /** @internal use `parseDuration()` */
  constructor(readonly ms: Long) {
    super()
  }
  equals(other: ExtensionValue): boolean {
    return other instanceof Duration && other.ms === this.ms
  }
  key(): string {
    return `${this.ms}`
  }
  /** Cedar's canonical form, e.g. `duration("90000ms")`. */
  override toString(): string {
    return `duration("${this.ms}ms")`
  }
}

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const DAY_BIG = BigInt(DAY)

function digitsAt(s: string, at: number, count: number): number {
  let n = 0
  for (let i = at; i < at + count; i++) {
    const c = s.charCodeAt(i)
    if (!isDigit(c)) return -1
    n = n * 10 + c - 48
  }
  return n
}

// Days from 1970-01-01 to a proleptic Gregorian date (years 0 to 9999 here), by whole 400-year eras.
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146097 + dayOfEra - 719468
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/**
 * Parses a datetime as Cedar's `datetime()` does: `YYYY-MM-DD`, or that followed by `THH:MM:SS`, optional `.SSS`,
 * and `Z` or a `+hhmm`/`-hhmm` offset (hours below 24, minutes below 60). No leap seconds, no other formats.
 * @example parseDateTime('2024-10-15T11:38:02.123+0200').epochMs // 1728985082123
 */
export function parseDateTime(s: string): DateTime {
  const fail = (): never => {
    throw new EvaluationError(`invalid datetime: ${s}`)
  }
  const year = digitsAt(s, 0, 4)
  const month = digitsAt(s, 5, 2)
  const day = digitsAt(s, 8, 2)
  if (year < 0 || month < 0 || day < 0 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) fail()
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) fail()
  const date = daysFromCivil(year, month, day) * DAY
  if (s.length === 10) return new DateTime(date)
  const hour = digitsAt(s, 11, 2)
  const minute = digitsAt(s, 14, 2)
  const second = digitsAt(s, 17, 2)
  if (s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) fail()
  if (hour < 0 || minute < 0 || second < 0 || hour > 23 || minute > 59 || second > 59) fail()
  let i = 19
  let millis = 0
  if (s.charCodeAt(i) === 46) {
    millis = digitsAt(s, i + 1, 3)
    if (millis < 0) fail()
    i += 4
  }
  let offset = 0
  const sign = s.charCodeAt(i)
  if (sign === 90) {
    i += 1
  } else if (sign === 43 || sign === 45) {
    const hh = digitsAt(s, i + 1, 2)
    const mm = digitsAt(s, i + 3, 2)
    if (hh < 0 || mm < 0 || hh > 23 || mm > 59) fail()
    offset = (sign === 43 ? 1 : -1) * (hh * HOUR + mm * MINUTE)
    i += 5
  } else {
    fail()
  }
  if (i !== s.length) fail()
  return new DateTime(date + hour * HOUR + minute * MINUTE + second * SECOND + millis - offset)
}

const DURATION_UNITS = [DAY, HOUR, MINUTE, SECOND, 1]
const DURATION_UNITS_BIG = DURATION_UNITS.map(BigInt)

/**
 * Parses a duration as Cedar's `duration()` does: an optional `-`, then quantity-unit pairs in the order d, h, m, s,
 * ms (each at most once, at least one), within 64-bit milliseconds.
 * @example parseDuration('-1h30m').ms // -5400000
 */
export function parseDuration(s: string): Duration {
  const negative = s.charCodeAt(0) === 45
  let i = negative ? 1 : 0
  if (i === s.length) throw new EvaluationError(`invalid duration: ${s}`)
  const quantities: string[] = ['', '', '', '', '']
  let total = 0
  let lastUnit = -1
  while (i < s.length) {
    const start = i
    let n = 0
    while (isDigit(s.charCodeAt(i))) n = n * 10 + s.charCodeAt(i++) - 48
    if (i === start) throw new EvaluationError(`invalid duration: ${s}`)
    const end = i
    let unit: number
    switch (s.charCodeAt(i++)) {
      case 100: // d
        unit = 0
        break
      case 104: // h
        unit = 1
        break
      case 109: // m, or ms
        if (s.charCodeAt(i) === 115) {
          i++
          unit = 4
        } else unit = 2
        break
      case 115: // s
        unit = 3
        break
      default:
        throw new EvaluationError(`invalid duration: ${s}`)
    }
    if (unit <= lastUnit) throw new EvaluationError(`invalid duration: ${s}`)
    lastUnit = unit
    quantities[unit] = s.slice(start, end)
    total += n * (DURATION_UNITS[unit] as number)
  }
  // All terms are non-negative, so a safe-integer total means no term was rounded.
  if (Number.isSafeInteger(total)) return new Duration(negative ? -total || 0 : total)
  let big = 0n
  for (let unit = 0; unit < 5; unit++) {
    const q = quantities[unit] as string
    if (q !== '') big += BigInt(q) * (DURATION_UNITS_BIG[unit] as bigint)
  }
  try {
    return new Duration(long(negative ? -big : big))
  } catch {
    throw new EvaluationError(`duration out of range: ${s}`)
  }
}

/** a + b on Longs, with Cedar's overflow error. */
function addLong(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b
    if (Number.isSafeInteger(sum)) return sum
  }
  return long(BigInt(a) + BigInt(b))
}

function subtractLong(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const difference = a - b
    if (Number.isSafeInteger(difference)) return difference
  }
  return long(BigInt(a) - BigInt(b))
}

/** Milliseconds into the day (0 to DAY - 1), counting days from the epoch (so before it too). */
function timeOfDay(epochMs: Long): number {
  if (typeof epochMs === 'number') {
    const rem = epochMs % DAY
    return rem < 0 ? rem + DAY : rem + 0
  }
  const rem = Number(epochMs % DAY_BIG)
  return rem < 0 ? rem + DAY : rem
}

/** Whole units in a duration, truncated toward zero as Cedar's integer division does. */
function wholeUnits(ms: Long, unit: number): Long {
  // Subtracting the remainder first keeps the division exact (a float quotient may round up to the next integer).
  if (typeof ms === 'number') return (ms - (ms % unit)) / unit + 0
  return long(ms / BigInt(unit))
}

// ---------------------------------------------------------------------------------------------------------------
// The functions by name

function arity(name: string, args: readonly Value[], count: number): void {
  if (args.length !== count)
    throw new EvaluationError(`${name} takes ${count} argument${count === 1 ? '' : 's'}, got ${args.length}`)
}

function typeError(name: string, expected: string): never {
  throw new EvaluationError(`type error: ${name} expects ${expected}`)
}

function asString(name: string, value: Value | undefined): string {
  return typeof value === 'string' ? value : typeError(name, 'a string')
}

function asIp(name: string, value: Value | undefined): IpAddr {
  return value instanceof IpAddr ? value : typeError(name, 'an ipaddr')
}

function asDecimal(name: string, value: Value | undefined): Decimal {
  return value instanceof Decimal ? value : typeError(name, 'a decimal')
}

function asDateTime(name: string, value: Value | undefined): DateTime {
  return value instanceof DateTime ? value : typeError(name, 'a datetime')
}

function asDuration(name: string, value: Value | undefined): Duration {
  return value instanceof Duration ? value : typeError(name, 'a duration')
}

type ExtensionFunction = (args: readonly Value[]) => Value

function unary<T>(name: string, as: (name: string, v: Value | undefined) => T, f: (a: T) => Value) {
  return [
    name,
    (args: readonly Value[]) => {
      arity(name, args, 1)
      return f(as(name, args[0]))
    },
  ] as const
}

function binary<T, U>(
  name: string,
  asA: (name: string, v: Value | undefined) => T,
  asB: (name: string, v: Value | undefined) => U,
  f: (a: T, b: U) => Value,
) {
  return [
    name,
    (args: readonly Value[]) => {
      arity(name, args, 2)
      return f(asA(name, args[0]), asB(name, args[1]))
    },
  ] as const
}

/**
 * Extension functions and methods by Cedar name, as Cedar's JSON policy form (EST) names them; methods take their
 * receiver first. Throws EvaluationError on wrong arity, wrong argument types or unparsable input.
 * @example EXTENSION_FUNCTIONS.get('isInRange')?.([parseIp('10.1.2.3'), parseIp('10.0.0.0/8')]) // true
 */
export const EXTENSION_FUNCTIONS: ReadonlyMap<string, ExtensionFunction> = new Map<string, ExtensionFunction>(
  [
    unary('ip', asString, parseIp),
    unary('isIpv4', asIp, (ip) => !ip.v6),
    unary('isIpv6', asIp, (ip) => ip.v6),
    unary('isLoopback', asIp, isLoopback),
    unary('isMulticast', asIp, isMulticast),
    binary('isInRange', asIp, asIp, isInRange),
    unary('decimal', asString, parseDecimal),
    binary('lessThan', asDecimal, asDecimal, (a, b) => a.scaled < b.scaled),
    binary('lessThanOrEqual', asDecimal, asDecimal, (a, b) => a.scaled <= b.scaled),
    binary('greaterThan', asDecimal, asDecimal, (a, b) => a.scaled > b.scaled),
    binary('greaterThanOrEqual', asDecimal, asDecimal, (a, b) => a.scaled >= b.scaled),
    unary('datetime', asString, parseDateTime),
    unary('duration', asString, parseDuration),
    binary('offset', asDateTime, asDuration, (d, by) => new DateTime(addLong(d.epochMs, by.ms))),
    binary(
      'durationSince',
      asDateTime,
      asDateTime,
      (a, b) => new Duration(subtractLong(a.epochMs, b.epochMs)),
    ),
    unary('toDate', asDateTime, (d) => new DateTime(subtractLong(d.epochMs, timeOfDay(d.epochMs)))),
    unary('toTime', asDateTime, (d) => new Duration(timeOfDay(d.epochMs))),
    unary('toDays', asDuration, (d) => wholeUnits(d.ms, DAY)),
    unary('toHours', asDuration, (d) => wholeUnits(d.ms, HOUR)),
    unary('toMinutes', asDuration, (d) => wholeUnits(d.ms, MINUTE)),
    unary('toSeconds', asDuration, (d) => wholeUnits(d.ms, SECOND)),
    unary('toMilliseconds', asDuration, (d) => d.ms),
  ],
)

/**
 * Cedar's <, <=, >, >= between two extension values when Cedar defines it for them (datetime with datetime, duration
 * with duration); undefined when it does not (the comparison is then a type error: Cedar has no `<` on decimal or
 * ipaddr, whose ordering goes through methods).
 * @example compareExtension(parseDuration('1h'), parseDuration('60m')) // 0
 */
export function compareExtension(a: ExtensionValue, b: ExtensionValue): number | undefined {
  let x: Long
  let y: Long
  if (a instanceof DateTime && b instanceof DateTime) {
    x = a.epochMs
    y = b.epochMs
  } else if (a instanceof Duration && b instanceof Duration) {
    x = a.ms
    y = b.ms
  } else return undefined
  return x < y ? -1 : x > y ? 1 : 0
}
