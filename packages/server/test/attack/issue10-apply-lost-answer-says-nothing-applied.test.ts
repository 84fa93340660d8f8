// Attack finding (issue 10, `mandate apply -f` of large batches; low): when the connection drops after the documents
// were sent, `mandate apply` prints "nothing applied: cannot reach ..." although it cannot know. Seen on a real node:
// 9,000 documents applied by `mandate apply -f`, the node killed (SIGKILL) between its commit and its answer: the CLI
// said "nothing applied" and exited 3, and after a restart all 9,000 entities were there (SQLite). The larger the batch
// the longer the window (one transaction of 10,000 documents takes tens of seconds). An operator told "nothing applied"
// may fix and rewrite the file, or give up, believing the registry unchanged. The fix is to say that the outcome is
// unknown (apply is idempotent: running it again is safe) when the request may have reached the node; "nothing
// applied" only when the node answered with a refusal or the request never left. (src/cli/main.ts, the `apply`
// action: every error is reported as "nothing applied".) Reproduced here without timing: a server that reads the whole
// request and then closes the connection without answering.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cliEnv, runCli } from '../cli/run-cli.ts'
import { tempDir } from '../support/harness.ts'

describe('mandate apply when the answer is lost (issue 10)', () => {
  const dir = tempDir()
  let server: Server
  let url: string
  let received = 0

  before(async () => {
    server = createServer((request, response) => {
      request.on('data', (chunk: Buffer) => {
        received += chunk.length
      })
      // The whole request arrived (the node may have applied it); the answer never leaves.
      request.on('end', () => response.socket?.destroy())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    await new Promise((resolve) => server.close(resolve))
    dir.drop()
  })

  it('does not print "nothing applied" when the documents reached the node and no answer came back', async () => {
    const file = join(dir.path, 'docs.yaml')
    writeFileSync(
      file,
      Array.from({ length: 500 }, (_, i) => `kind: Human\nid: person-${i}@example.com\n`).join('---\n'),
    )
    const result = await runCli(['apply', '-f', file], {
      env: cliEnv({ MANDATE_URL: url, MANDATE_TOKEN: `mnd_adm_${'x'.repeat(43)}` }),
    })
    assert.ok(received > 0, 'the documents were sent')
    assert.notEqual(result.code, 0, 'the outcome is not a success')
    assert.doesNotMatch(result.stdout + result.stderr, /nothing applied/i, result.stdout + result.stderr)
  })
})
