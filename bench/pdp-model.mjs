// The model bench/pdp.mjs decides: a seeded organisation of employees, projects and documents as Cedar entity JSON,
// five policies per action, a stream of requests, and the entity slice each request needs. The same every run.
import { random } from './lib.mjs'

/** The benchmark's scenarios: how many of each entity and how many actions (five policies per action). */
export const SCENARIOS = {
  small: { employees: 600, projects: 40, documents: 360, actions: 10 },
  large: { employees: 60000, projects: 4000, documents: 36000, actions: 100 },
}

const VERBS = [
  'view',
  'comment',
  'edit',
  'share',
  'export',
  'print',
  'approve',
  'archive',
  'restore',
  'delete',
]
const DEPARTMENTS = ['sales', 'legal', 'finance', 'support', 'research', 'hr']
const ROLES = ['staff', 'staff', 'staff', 'lead', 'manager', 'auditor']

const ref = (type, id) => ({ type, id })
const keyOf = (uid) => `${uid.type}::${uid.id}`

/** Five rules for action number `i`: three permits and two forbids, reading attributes and the hierarchy. */
function rulesFor(action, i, projects) {
  const a = `Action::"${action}"`
  const level = 1 + (i % 5)
  const scope = `principal is employee, action == ${a}, resource is document`
  const last =
    i % 2 === 0
      ? // Legal hold: nobody but auditors (for some actions) touches a held document.
        `@id("${action}.hold")\nforbid (${scope})\nwhen { resource.tags.contains("legal-hold") && ${i % 4 === 0 ? 'principal.role != "auditor"' : 'true'} };`
      : // A frozen project: its documents are out of reach for junior staff (a scope on the hierarchy).
        `@id("${action}.freeze")\nforbid (principal, action == ${a}, resource in project::"p${(i * 7) % projects}")\nwhen { principal.level < 3 };`
  return [
    `@id("${action}.owner")\npermit (${scope})\nwhen { resource.owner == principal };`,
    // Every third action's department rule also reads `reviewer` without `has`: it errors on the documents that have
    // none, and Cedar skips it there (both sides must report the same erroring policy).
    `@id("${action}.department")\npermit (${scope})\nwhen { resource.department == principal.department && principal.level >= ${level} && resource.sensitivity < ${1 + (i % 4)}${i % 3 === 2 ? ' && resource.reviewer != principal' : ''} };`,
    `@id("${action}.project")\npermit (${scope})\nwhen { principal.role == "${i % 2 ? 'lead' : 'manager'}" && principal in resource.project };`,
    `@id("${action}.sensitive")\nforbid (${scope})\nwhen { resource.sensitivity >= ${2 + (i % 3)} && principal.role != "manager" && !(resource.owner == principal) };`,
    last,
  ]
}

/**
 * A scenario's model: `entities` (Cedar entity JSON, every one), `policies` (id → text), `requests` (distinct, the
 * order they are decided in), `slice(request)` (the entities a request needs) and `entityCount`.
 */
export function scenario(name, requestCount) {
  const size = SCENARIOS[name]
  const rnd = random(42)
  const pick = (list) => list[Math.floor(rnd() * list.length)]
  const actions = Array.from({ length: size.actions }, (_, i) =>
    i < VERBS.length ? VERBS[i] : `${VERBS[i % VERBS.length]}-${Math.floor(i / VERBS.length)}`,
  )
  const entities = []
  for (let i = 0; i < size.projects; i++)
    entities.push({ uid: ref('project', `p${i}`), attrs: { department: pick(DEPARTMENTS) }, parents: [] })
  for (let i = 0; i < size.employees; i++) {
    const first = Math.floor(rnd() * size.projects)
    const second = Math.floor(rnd() * size.projects)
    entities.push({
      uid: ref('employee', `e${i}`),
      attrs: { department: pick(DEPARTMENTS), role: pick(ROLES), level: 1 + Math.floor(rnd() * 6) },
      parents: (first === second ? [first] : [first, second]).map((p) => ref('project', `p${p}`)),
    })
  }
  const owned = new Map()
  for (let i = 0; i < size.documents; i++) {
    const owner = Math.floor(rnd() * size.employees)
    const project = Math.floor(rnd() * size.projects)
    entities.push({
      uid: ref('document', `d${i}`),
      attrs: {
        owner: { __entity: ref('employee', `e${owner}`) },
        project: { __entity: ref('project', `p${project}`) },
        department: pick(DEPARTMENTS),
        sensitivity: Math.floor(rnd() * 5),
        tags: rnd() < 0.08 ? ['legal-hold'] : rnd() < 0.3 ? ['draft'] : [],
        ...(rnd() < 0.5
          ? { reviewer: { __entity: ref('employee', `e${Math.floor(rnd() * size.employees)}`) } }
          : {}),
      },
      parents: [ref('project', `p${project}`)],
    })
    owned.set(owner, [...(owned.get(owner) ?? []), i])
  }
  const policies = new Map()
  actions.forEach((action, i) => {
    for (const text of rulesFor(action, i, size.projects))
      policies.set(/@id\("([^"]+)"\)/.exec(text)[1], text)
  })
  const owners = [...owned.keys()]
  const requests = []
  for (let i = 0; i < requestCount; i++) {
    // A fifth of the requests come from the document's owner, so that owner rules decide some.
    const byOwner = rnd() < 0.2
    const employee = byOwner ? pick(owners) : Math.floor(rnd() * size.employees)
    const document = byOwner ? pick(owned.get(employee)) : Math.floor(rnd() * size.documents)
    requests.push({
      principal: ref('employee', `e${employee}`),
      action: pick(actions),
      resource: ref('document', `d${document}`),
    })
  }
  const byKey = new Map(entities.map((e) => [keyOf(e.uid), e]))
  /** principal and resource, the entities their attributes name, and every ancestor of those: what Cedar reads. */
  const slice = (request) => {
    const out = new Map()
    const add = (uid) => {
      const key = keyOf(uid)
      const entity = byKey.get(key)
      if (!entity || out.has(key)) return
      out.set(key, entity)
      for (const parent of entity.parents) add(parent)
    }
    for (const uid of [request.principal, request.resource]) {
      add(uid)
      for (const value of Object.values(byKey.get(keyOf(uid))?.attrs ?? {}))
        if (value && typeof value === 'object' && '__entity' in value) add(value.__entity)
    }
    return [...out.values()]
  }
  return { entities, policies, requests, slice, entityCount: entities.length }
}
