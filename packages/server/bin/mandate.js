#!/usr/bin/env node
// Entry point of the `mandate` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api'

register()
// Output piped into `head` and the like: a closed pipe ends the command quietly instead of with a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})
await import('../src/cli/main.ts')
