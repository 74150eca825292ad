#!/usr/bin/env node
// wsstar benchmark runner.
//
//   node bench/run.mjs [scenario...] [options]     (use Node >= 22: `npx node bench/run.mjs`)
//
// Runs the scenarios (default: all implemented ones), writes
// bench/results/<out>.json and <out>.md (default out: latest) and prints the
// markdown. Every comparison is measured side by side in the same run.

import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem, release } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killAllChildren, readSelfTreeCpuSeconds, readSystemBusySeconds } from './lib/child.mjs'
import { table } from './lib/format.mjs'
import { ALL_PATHS, PATHS, probePath } from './lib/paths.mjs'
import { SCENARIOS, findScenario } from './scenarios/index.mjs'

const benchDir = dirname(fileURLToPath(import.meta.url))
const rootDir = dirname(benchDir)

const HELP = `usage: node bench/run.mjs [scenario...] [options]

scenarios: ${SCENARIOS.map(s => s.name + (s.pending != null ? ' (not implemented yet)' : '')).join(', ')}
           default: every implemented scenario

options:
  --quick            tiny sizes: a smoke run of a few seconds per scenario
  --paths=a,b        only these paths (${ALL_PATHS.join(', ')}); default: each scenario's own
  --runs=N           throughput: measured runs per path (default 5, quick 3);
                     joins: ramps (default 3, quick 1)
  --namespaces=N     discovery: the peers (1,000 to 10,000) spread over N namespaces;
                     joins: every peer joins one of N namespaces, each ramp paired with
                     one of the open default (no namespaces) instead of the socket.io floor
  --size-mib=N       throughput / slow-receiver / fairness: transfer size in MiB (default 256)
  --rounds=N         latency / fairness: measured round trips per path (default 1000)
  --stall-ms=N       slow-receiver: how long the receiver stops reading (default 10000)
  --peers=N          process: joined peers to fill the server with (default 19000, quick 1000)
  --idle-s=N         process: seconds of the idle period (default 300, quick 10)
  --join-mode=M      joins: 'socket' (one request signed over the socket id, the
                     transport's default) or 'nonce' (two-step hello → nonce → proof)
  --auth=token       joins: each ramp is followed by one against a private server
                     (--auth token, every socket presents a token): joins/s with
                     token auth next to the open default
  --out=NAME         write bench/results/NAME.json and NAME.md (default: latest)
  --relay-cpu-prof   run relays with --cpu-prof (profiles in bench/results/profiles/)
  --relay-node-flags="F..."  extra node flags for the relays and rendezvous servers (A/B runs)
  --ping-abort       keep libp2p's default of aborting a connection whose keep-alive
                     ping fails (off by default in the benchmark nodes, see README)
  --verbose          show the children's stdout/stderr
  --help`

function parseArgs (argv) {
  const options = { scenarios: [], quick: false, verbose: false, out: 'latest' }
  for (const arg of argv) {
    const [key, value] = arg.startsWith('--') ? arg.slice(2).split(/=(.*)/s) : [null, arg]
    const num = () => {
      const n = Number(value)
      if (!Number.isFinite(n) || n <= 0) throw new Error(`--${key} needs a positive number`)
      return n
    }
    switch (key) {
      case null: options.scenarios.push(value); break
      case 'quick': options.quick = true; break
      case 'verbose': options.verbose = true; break
      case 'paths': options.paths = value.split(',').filter(Boolean); break
      case 'runs': options.runs = num(); break
      case 'namespaces': options.namespaces = num(); break
      case 'size-mib': options.sizeMiB = num(); break
      case 'rounds': options.rounds = num(); break
      case 'stall-ms': options.stallMs = num(); break
      case 'out': options.out = value; break
      case 'peers': options.peers = num(); break
      case 'idle-s': options.idleSeconds = num(); break
      case 'join-mode':
        if (value !== 'socket' && value !== 'nonce') throw new Error('--join-mode is socket or nonce')
        options.joinMode = value
        break
      case 'auth':
        if (value !== 'token') throw new Error('--auth is token')
        options.auth = value
        break
      case 'relay-cpu-prof': options.relayCpuProf = true; break
      case 'relay-node-flags': options.relayNodeFlags = value.split(/\s+/).filter(Boolean); break
      case 'ping-abort': options.pingAbort = true; break
      case 'help': options.help = true; break
      default: throw new Error(`unknown option --${key}\n\n${HELP}`)
    }
  }
  return options
}

function version (pkg) {
  try {
    return JSON.parse(readFileSync(join(rootDir, 'node_modules', pkg, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

function gitRevision () {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: rootDir, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: rootDir, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${rev} + uncommitted changes in packages/` : rev
  } catch {
    return 'unknown'
  }
}

function evaluate (target) {
  if (!target.valid || target.value == null || !Number.isFinite(target.value)) return 'N/A'
  const pass = target.op === '>=' ? target.value >= target.limit : target.value <= target.limit
  return pass ? 'PASS' : 'MISS'
}

async function main () {
  const options = parseArgs(process.argv.slice(2))
  if (options.help) {
    console.log(HELP)
    return
  }
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22) {
    throw new Error(`libp2p 3 needs Node >= 22 (this is ${process.version}): run \`npx node bench/run.mjs\` or \`npm run bench\``)
  }
  for (const p of options.paths ?? []) {
    if (PATHS[p] == null) throw new Error(`unknown path ${p} (known: ${ALL_PATHS.join(', ')})`)
  }
  const chosen = options.scenarios.length === 0
    ? SCENARIOS
    : options.scenarios.map(name => {
      const s = findScenario(name)
      if (s == null) throw new Error(`unknown scenario ${name}\n\n${HELP}`)
      return s
    })

  const log = (line) => process.stderr.write(line + '\n')
  const availability = {}
  for (const p of ALL_PATHS) availability[p] = await probePath(p)
  for (const [p, a] of Object.entries(availability)) {
    if (!a.ok) log(`path ${p}: ${a.reason}`)
  }
  const relayExecArgv = [
    ...(options.relayCpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(benchDir, 'results', 'profiles')}`] : []),
    ...(options.relayNodeFlags ?? [])
  ]
  const ctx = { quick: options.quick, options, verbose: options.verbose, availability, log, relayExecArgv }

  const meta = {
    date: new Date().toISOString(),
    quick: options.quick,
    argv: process.argv.slice(2),
    git: gitRevision(),
    node: process.version,
    os: `${process.platform} ${release()}`,
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    loadavgBefore: loadavg().map(x => Number(x.toFixed(2))),
    versions: Object.fromEntries([
      'libp2p', '@libp2p/websockets', '@libp2p/circuit-relay-v2', '@libp2p/noise', '@libp2p/yamux',
      'socket.io', 'socket.io-client', '@wsstar/transport', '@wsstar/rendezvous'
    ].map(pkg => [pkg, version(pkg)])),
    layout: 'each endpoint (dialer, listener) and each relay runs in its own child process; the bench process only orchestrates',
    availability
  }

  const startWall = performance.now()
  const startBusy = readSystemBusySeconds()
  const startOwn = readSelfTreeCpuSeconds()
  const results = {}
  // scenarios that compare with earlier ones of the same run (legacy) read them here
  ctx.results = results
  const allTargets = []
  const sections = []
  const pending = []
  for (const scenario of chosen) {
    if (scenario.pending != null) {
      pending.push(scenario)
      continue
    }
    const paths = (options.paths ?? scenario.defaultPaths).filter(p => scenario.defaultPaths.includes(p))
    log(`\n== ${scenario.name} (${paths.join(', ')}) ${JSON.stringify(scenario.config(ctx))}`)
    const t0 = performance.now()
    try {
      const result = await scenario.run(ctx, paths)
      result.seconds = (performance.now() - t0) / 1000
      results[scenario.name] = result
      sections.push(scenario.markdown(result))
      for (const t of scenario.targets(result)) {
        allTargets.push({ ...t, result: evaluate(t), shown: t.format(t.value), shownLimit: t.format(t.limit) })
      }
    } catch (err) {
      log(`scenario ${scenario.name} failed: ${err?.stack ?? err}`)
      results[scenario.name] = { error: String(err?.stack ?? err) }
      sections.push(`### ${scenario.name}\n\nFAILED: ${String(err?.message ?? err).split('\n')[0]}`)
    }
  }
  meta.loadavgAfter = loadavg().map(x => Number(x.toFixed(2)))
  // CPU the rest of the machine used while we ran: all busy CPU time minus
  // ours (this process and its children, all exited and reaped by now)
  const wallSeconds = (performance.now() - startWall) / 1000
  const othersCpu = Math.max(0, (readSystemBusySeconds() - startBusy) - (readSelfTreeCpuSeconds() - startOwn))
  meta.wallSeconds = Number(wallSeconds.toFixed(1))
  meta.otherProcessesCpuShare = Number((othersCpu / (wallSeconds * cpus().length)).toFixed(3))

  const md = []
  md.push(`## wsstar benchmark${options.quick ? ' (quick smoke run: tiny sizes, numbers are not meaningful)' : ''}`)
  md.push('')
  md.push(`${meta.date} · git ${meta.git} · Node ${meta.node} · ${meta.cpu} · ${meta.memory} RAM · ${meta.os} · ` +
    `load avg before ${meta.loadavgBefore.join(' ')}, after ${meta.loadavgAfter.join(' ')} · ` +
    `${meta.wallSeconds} s, other processes used ${Math.round(meta.otherProcessesCpuShare * 100)}% of the CPU meanwhile`)
  md.push('')
  if (meta.otherProcessesCpuShare > 0.1) {
    md.push(`**Other processes used ${Math.round(meta.otherProcessesCpuShare * 100)}% of the machine's CPU during this run: ` +
      'absolute numbers and, to a lesser degree, the ratios are noisier than on a quiet machine.**')
    md.push('')
  }
  md.push(`Versions: ${Object.entries(meta.versions).filter(([, v]) => v != null).map(([k, v]) => `${k} ${v}`).join(', ')}.`)
  md.push('Paths: `direct` = dialer → listener over @libp2p/websockets; `circuit` = both through a @libp2p/circuit-relay-v2 ' +
    'relay over websockets (reservation limits lifted: `applyDefaultLimit: false`); `wsstar` = both through the wsstar rendezvous server. ' +
    'Every connection is noise + yamux end to end. Each endpoint and each relay runs in its own process ' +
    `(relayed paths: 3 busy processes on ${cpus().length} cores), so relay CPU and RSS are measured alone.`)
  if (allTargets.length > 0) {
    md.push('')
    md.push('### Targets')
    md.push('')
    md.push(table(['target', 'measured', 'limit', 'result'], allTargets.map(t => [t.text, t.shown, `${t.op} ${t.shownLimit}`, t.result])))
  }
  for (const s of sections) {
    md.push('')
    md.push(s)
  }
  if (pending.length > 0 || chosen === SCENARIOS) {
    const notYet = SCENARIOS.filter(s => s.pending != null)
    if (notYet.length > 0) {
      md.push('')
      md.push('### Not measured yet')
      md.push('')
      for (const s of notYet) md.push(`- \`${s.name}\`: ${s.pending}`)
    }
  }
  const markdown = md.join('\n') + '\n'

  const outDir = join(benchDir, 'results')
  mkdirSync(outDir, { recursive: true })
  const json = JSON.stringify({ meta, targets: allTargets.map(({ format, ...t }) => t), results }, (k, v) => {
    if (typeof v === 'bigint') return v.toString()
    if (typeof v === 'number' && !Number.isFinite(v)) return null
    return v
  }, 2)
  writeFileSync(join(outDir, `${options.out}.json`), json + '\n')
  writeFileSync(join(outDir, `${options.out}.md`), markdown)
  log(`\nwrote bench/results/${options.out}.json and bench/results/${options.out}.md\n`)
  process.stdout.write(markdown)
}

main().then(() => {
  killAllChildren()
  process.exit(0)
}, (err) => {
  process.stderr.write(`${err?.stack ?? err}\n`)
  killAllChildren()
  process.exit(1)
})
