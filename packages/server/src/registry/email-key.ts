// How emails are compared when Mandate matches or deduplicates them "ignoring case": only ASCII letters are folded.
// JavaScript's toLowerCase maps other letters onto ASCII ones (the Kelvin sign U+212A becomes "k"), which would make
// another mailbox equal to a registered human's.

/** The comparison key of an email: ASCII A-Z folded to a-z, every other character kept as it is. */
export function emailKey(email: string): string {
  return email.replace(/[A-Z]+/g, (letters) => letters.toLowerCase())
}
