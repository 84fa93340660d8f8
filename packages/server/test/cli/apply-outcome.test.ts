// `mandate apply` when no readable answer comes back: "nothing applied" only when the node refused or the request
// never left (no connection); when the documents were sent and the answer was lost, the outcome is unknown (exit 5),
// because the node may have committed them. Servers here stand in for a node at each failure point.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { tempDir } from '../support/harness.ts'
import { type CliResult, cliEnv, hasStackTrace, runCli } from './run-cli.ts'

const TOKEN = `mnd_adm_${'x'.repeat(43)}`

async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<Server> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('mandate apply: outcome when no answer is read', () => {
  const dir = tempDir()
  const file = join(dir.path, 'one.yaml')
  const servers: Server[] = []

  async function apply(handler: (request: IncomingMessage, response: ServerResponse) => void, json = false) {
    const server = await listen(handler)
    servers.push(server)
    return runCli([...(json ? ['--json'] : []), 'apply', '-f', file], {
      env: cliEnv({ MANDATE_URL: urlOf(server), MANDATE_TOKEN: TOKEN }),
    })
  }

  before(() => writeFileSync(file, 'kind: Human\nid: carol@example.com\n'))
  after(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve))
    dir.drop()
  })

  function assertUnknown(result: CliResult): void {
    assert.equal(result.code, 5, result.stdout + result.stderr)
    assert.doesNotMatch(result.stdout + result.stderr, /nothing applied/i)
    assert.match(result.stdout, /^outcome unknown: .*may have been applied.*run it again/m)
    assert.ok(!hasStackTrace(result.stderr), result.stderr)
  }

  it('says the outcome is unknown (exit 5) when the connection closes after the request was read', async () => {
    const result = await apply((request, response) => {
      request.resume()
      request.on('end', () => response.socket?.destroy())
    })
    assertUnknown(result)
    assert.match(result.stderr, /^mandate: no answer from http:\/\/127\.0\.0\.1:\d+/m)
  })

  it('says so in --json too: applied null, outcome unknown', async () => {
    const result = await apply((request, response) => {
      request.resume()
      request.on('end', () => response.socket?.destroy())
    }, true)
    assert.equal(result.code, 5, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), { applied: null, outcome: 'unknown', results: [] })
    assert.equal(JSON.parse(result.stderr).error, 'outcome_unknown')
  })

  it('says the outcome is unknown when a success answer cannot be read', async () => {
    const result = await apply((request, response) => {
      request.resume()
      request.on('end', () => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'))
    })
    assertUnknown(result)
  })

  it('says the outcome is unknown when a gateway answers 502 in its own shape', async () => {
    const result = await apply((request, response) => {
      request.resume()
      request.on('end', () =>
        response.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>'),
      )
    })
    assertUnknown(result)
  })

  it('says nothing applied (exit 1) when a proxy refuses the request with a 4xx', async () => {
    const result = await apply((request, response) => {
      request.resume()
      request.on('end', () =>
        response.writeHead(413, { 'content-type': 'text/html' }).end('<html>too large</html>'),
      )
    })
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stdout, /^nothing applied: /m)
  })

  it('says nothing applied (exit 1) when the node refuses in the API shape', async () => {
    const result = await apply((request, response) => {
      request.resume()
      request.on('end', () =>
        response.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            error: 'validation_failed',
            error_description: 'document 0 (Human x) is wrong',
          }),
        ),
      )
    })
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stdout, /^nothing applied: /m)
  })

  it('says nothing applied (exit 3) when no connection could be made', async () => {
    const closed = await listen(() => {})
    const url = urlOf(closed)
    await new Promise((resolve) => closed.close(resolve))
    const result = await runCli(['apply', '-f', file], {
      env: cliEnv({ MANDATE_URL: url, MANDATE_TOKEN: TOKEN }),
    })
    assert.equal(result.code, 3, result.stderr)
    assert.match(result.stdout, /^nothing applied: cannot reach /m)
    assert.match(result.stderr, /ECONNREFUSED/)
  })
})
