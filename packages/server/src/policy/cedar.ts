// The one place that loads cedar-wasm's functions; import them from here, never from the package itself.
//
// Node 20's V8 (11.3) aborts the process ("Fatal error ... unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when TurboFan code that has a JS-to-Wasm call inlined is deoptimized
// lazily while that call runs, and the Wasm function returns an externref: the deoptimizer cannot rebuild an externref
// result. cedar-wasm 4.13's exports take and return externrefs (wasm-bindgen with reference types), and the lazy deopt
// comes from whatever invalidates the caller's compiled assumptions mid-call (a full GC, a map or field change while
// cedar-wasm runs JSON.stringify/JSON.parse), so the crash is rare and random. Not inlining JS-to-Wasm calls (a
// speed-up only: the call then goes through V8's generic wrapper) removes it. Set here, before any code calling into
// cedar-wasm is optimized, so that the server, the CLI and the tests all get it.
import { setFlagsFromString } from 'node:v8'

setFlagsFromString('--no-turbo-inline-js-wasm-calls')

export * from '@cedar-policy/cedar-wasm/nodejs'
