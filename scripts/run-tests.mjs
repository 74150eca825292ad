#!/usr/bin/env node
// Runs every test: node:test files of all packages and test/, then the mocha-based
// @libp2p/interface-compliance-tests suites (`run-tests.mjs DIR...`: the tests of those
// workspaces only, e.g. `packages/rendezvous`, what a workspace's own `test` script runs;
// `run-tests.mjs FILE.js...`: those compiled files). Ends with one `N passed, N failed, N skipped`
// line over both runners, so CI sees the whole picture. Suites skipped for a missing system
// component (test/helpers/system-components.ts) write their line to WSSTAR_SKIP_LOG; the
// summary lists them and counts each as one skipped.
import { spawn } from 'node:child_process'
import { existsSync, globSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(`wsstar tests need Node >= 22 (js-libp2p 3); this is ${process.version}. Run them with npm test, which uses the pinned Node 24.`)
  process.exit(1)
}
console.log(`node ${process.version}`)

const skipDir = mkdtempSync(join(tmpdir(), 'wsstar-skips-'))
const skipLog = join(skipDir, 'skipped.txt')

function run (cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WSSTAR_SKIP_LOG: skipLog } })
    let out = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      out += chunk.toString()
    })
    child.on('close', (code) => resolve({ code, out }))
  })
}

function count (out, re) {
  const m = out.match(re)
  return m == null ? 0 : Number(m[1])
}

/** workspace folder -> where its compiled node:test files are */
const testGlobs = { 'packages/protocol': 'packages/protocol/dist/test/**/*.test.js', 'packages/rendezvous': 'packages/rendezvous/dist/test/**/*.test.js', 'packages/transport': 'packages/transport/dist/test/**/*.test.js', test: 'test/dist/**/*.test.js' }
// tests that measure throughput against a figure taken in the same test run alone, after the
// rest: on a 2-core box a neighbouring test's CPU burn would weigh on one figure and not the other
const solo = new Set(['test/dist/hostile/abuse.test.js'])
// arguments are relative to where this was started (a workspace's `test` script runs in it)
const args = process.argv.slice(2).map(a => relative(root, resolve(a)) || '.')
const dirs = args.filter(a => existsSync(join(root, a)) && statSync(join(root, a)).isDirectory())
const only = args.filter(a => !dirs.includes(a))
for (const dir of dirs) {
  if (testGlobs[dir] == null && dir !== '.') throw new Error(`${dir}: not a workspace with tests (${Object.keys(testGlobs).join(', ')})`)
}
const workspaces = dirs.length === 0 || dirs.includes('.') ? Object.keys(testGlobs) : dirs
const files = only.length > 0 ? only : workspaces.flatMap(w => globSync(testGlobs[w], { cwd: root })).sort()
const shared = files.filter(f => !solo.has(f))
const alone = files.filter(f => solo.has(f))
const concurrency = process.env.WSSTAR_TEST_CONCURRENCY ?? 2
// the default timeout of every test and hook that sets none (node:test's own default is none:
// a hook or a bare test that waits for nothing would hang the run). It replaces, for each test,
// the timeout it would inherit from its describe; the describe's own timeout still bounds the
// whole suite. As long as the longest suite (the packaging suite's npm install).
const TEST_TIMEOUT_MS = 420_000
let passed = 0
let failed = 0
let skipped = 0
let exitCode = 0
for (const [list, n] of [[shared, concurrency], [alone, 1]]) {
  if (list.length === 0) continue
  const nodeRun = await run(process.execPath, ['--test', '--test-reporter=spec', `--test-concurrency=${n}`, `--test-timeout=${TEST_TIMEOUT_MS}`, ...list])
  passed += count(nodeRun.out, /ℹ pass (\d+)/)
  failed += count(nodeRun.out, /ℹ fail (\d+)/) + count(nodeRun.out, /ℹ cancelled (\d+)/)
  skipped += count(nodeRun.out, /ℹ skipped (\d+)/) + count(nodeRun.out, /ℹ todo (\d+)/)
  if (nodeRun.code !== 0) exitCode = 1
}

const complianceDir = join(root, 'test/dist/compliance')
if (only.length === 0 && workspaces.includes('test') && existsSync(complianceDir)) {
  const specs = readdirSync(complianceDir).filter(f => f.endsWith('.spec.js')).map(f => join('test/dist/compliance', f))
  if (specs.length > 0) {
    const mocha = join(root, 'node_modules/mocha/bin/mocha.js')
    const mochaRun = await run(process.execPath, [mocha, '--exit', '--timeout', '60000', ...specs])
    passed += count(mochaRun.out, /(\d+) passing/)
    failed += count(mochaRun.out, /(\d+) failing/)
    skipped += count(mochaRun.out, /(\d+) pending/)
    if (mochaRun.code !== 0) exitCode = 1
  }
}

const skippedSuites = existsSync(skipLog) ? readFileSync(skipLog, 'utf8').split('\n').filter(Boolean) : []
rmSync(skipDir, { recursive: true, force: true })
if (skippedSuites.length > 0) {
  console.log(`\n${skippedSuites.length} suite${skippedSuites.length === 1 ? '' : 's'} skipped for a missing system component (WSSTAR_REQUIRE_ALL=1 makes these failures):`)
  const times = new Map()
  for (const line of skippedSuites) times.set(line, (times.get(line) ?? 0) + 1)
  for (const [line, n] of times) console.log(`  ${line}${n > 1 ? ` (${n} suites)` : ''}`)
  skipped += skippedSuites.length
}
if (exitCode !== 0 && failed === 0) failed = 1 // a runner crashed without reporting a failing test
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(exitCode)
