// Scenario registry. A scenario module exports:
//   name, description, defaultPaths: string[]
//   config(ctx) → the sizes it will use (ctx.quick = smoke sizes)
//   run(ctx, paths) → JSON-serialisable result
//   markdown(result) → a markdown section
//   targets(result) → [{ id, text, value, limit, op: '>='|'<=', format, valid }]
// Entries with `pending` are hooks for issue 5 items not built yet: run.mjs
// lists them as "not implemented" instead of failing.

import * as cluster from './cluster.mjs'
import * as dials from './dials.mjs'
import * as discovery from './discovery.mjs'
import * as fairness from './fairness.mjs'
import * as joins from './joins.mjs'
import * as latency from './latency.mjs'
import * as legacy from './legacy.mjs'
import * as fullProcess from './process.mjs'
import * as slowReceiver from './slow-receiver.mjs'
import * as throughput from './throughput.mjs'
import * as upgrade from './upgrade.mjs'

export const SCENARIOS = [
  throughput,
  latency,
  fairness,
  joins,
  discovery,
  dials,
  fullProcess,
  slowReceiver,
  cluster,
  legacy,
  upgrade
]

export function findScenario (name) {
  return SCENARIOS.find(s => s.name === name)
}
