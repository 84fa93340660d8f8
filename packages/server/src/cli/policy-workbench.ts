// A scratch registry for working on policies offline (`mandate policy validate` and `mandate policy test`): documents
// are written to a temporary embedded store through the real registry, so policies are checked against exactly the
// schema a node would generate, and decided by the same engine.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { type FieldError, MandateError, ValidationFailed } from '../errors/mandate-error.ts'
import { type Core, openCore } from '../main.ts'
import { InvalidDecisionRequest, type RequestEntity } from '../policy/entities.ts'
import type { Decision } from '../policy/pdp.ts'
import type { CompiledPolicy } from '../policy/policy-set.ts'
import { asTokenRequest } from '../policy/token-policy.ts'
import type { RegistryKind } from '../registry/model.ts'
import { CliFailure, ExitCode } from './output.ts'

/** One test case: a request and the decision it should get. */
export interface PolicyCase {
  name?: string
  principal: RequestEntity
  action: string
  resource: RequestEntity
  /** Request context (JSON), as an AuthZEN caller would send it. */
  context?: Record<string, unknown>
  /** The token service's view: the mode and, for delegation, the human (their context facts are set as Mandate would). */
  mode?: 'autonomous' | 'delegated'
  delegator?: string
  expect?: Decision['decision']
  /** When given, the determining policies must be exactly these. */
  determining?: string[]
}

/** A case's outcome, with the policies that decided it. */
export interface CaseResult {
  case: PolicyCase
  decision: Decision
  passed: boolean
  /** The text of the determining policies, for explaining. */
  policies: CompiledPolicy[]
}

const WORKBENCH_ACTOR = { actor: { kind: 'system' as const, id: 'policy-workbench' } }

/** A temporary store with the documents under test; close it to remove it. */
export class PolicyWorkbench {
  private constructor(
    /** The scratch node's parts, for callers that drive the decision point directly (bench:pdp). */
    readonly core: Core,
    private readonly dir: string,
  ) {}

  /** Opens an empty scratch registry; `overrides` adjust its configuration (e.g. `decisionCacheSize: 0`). */
  static async open(overrides: Partial<Record<keyof Config, unknown>> = {}): Promise<PolicyWorkbench> {
    const dir = mkdtempSync(join(tmpdir(), 'mandate-policy-'))
    try {
      const config = loadConfig({
        env: {},
        overrides: {
          dataDir: dir,
          masterKey: randomBytes(32).toString('base64'),
          demoData: 'off',
          logLevel: 'silent',
          keyRotationSeconds: 0,
          ...overrides,
        },
      })
      return new PolicyWorkbench(await openCore(config), dir)
    } catch (error) {
      rmSync(dir, { recursive: true, force: true })
      throw error
    }
  }

  /**
   * Writes one document through the registry (its rules and the policy checks included); returns the problems
   * instead of throwing when it is refused.
   */
  async put(kind: RegistryKind, id: string, body: Record<string, unknown>): Promise<FieldError[]> {
    try {
      await this.core.registry.put(kind, id, body as never, WORKBENCH_ACTOR)
      return []
    } catch (error) {
      if (error instanceof ValidationFailed) return error.fields
      if (error instanceof MandateError) return [{ path: '/', message: error.message }]
      throw error
    }
  }

  /** Decides a case (recorded in the scratch store's audit log, which is thrown away). */
  async run(testCase: PolicyCase): Promise<CaseResult> {
    let decision: Decision
    try {
      decision = await this.core.pdp.decide(asTokenRequest(this.core.directory, testCase), {
        ...WORKBENCH_ACTOR,
        actors: [WORKBENCH_ACTOR.actor],
        source: 'policy-test',
      })
    } catch (error) {
      // A case that cannot be decided as written (an unknown delegator, a value Cedar cannot hold) is the file's error.
      if (error instanceof InvalidDecisionRequest)
        throw new CliFailure(`${caseName(testCase)}: ${error.message}`, ExitCode.failed)
      throw error
    }
    const loaded = await this.core.pdp.policies()
    const policies = decision.determining.flatMap((id) => loaded.get(id) ?? [])
    const passed =
      (testCase.expect === undefined || decision.decision === testCase.expect) &&
      (testCase.determining === undefined ||
        JSON.stringify([...testCase.determining].sort()) === JSON.stringify(decision.determining))
    return { case: testCase, decision, passed, policies }
  }

  async close(): Promise<void> {
    await this.core.close()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** How a case is named in output: its name, else its request. */
export function caseName(c: PolicyCase): string {
  return c.name ?? `${c.principal.type}:${c.principal.id} ${c.action} ${c.resource.type}:${c.resource.id}`
}
