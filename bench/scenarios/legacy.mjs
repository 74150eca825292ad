// Legacy reference: libp2p-websocket-star@0.10.2 + libp2p-websocket-star-rendezvous@0.4.1,
// measured by bench/legacy/legacy-bench.cjs (a standalone npm project, see
// bench/legacy/README.md) on the machine's Node 20 (/usr/bin/node: the legacy
// code is not run on the repo's Node 24). Installs it with `npm ci` when
// bench/legacy/node_modules is missing, runs it, and sets its joins and
// throughput next to this run's wsstar figures (joins and throughput
// scenarios, when they ran in the same invocation).

import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt, fmtRatio, table } from '../lib/format.mjs'

export const name = 'legacy'
export const description = 'libp2p-websocket-star@0.10 + rendezvous@0.4 reference (bench/legacy/, Node 20)'
export const defaultPaths = ['wsstar']

const legacyDir = join(dirname(dirname(fileURLToPath(import.meta.url))), 'legacy')
const NODE20 = process.env.WSSTAR_BENCH_LEGACY_NODE ?? '/usr/bin/node'
const MiB = 2 ** 20

export function config (ctx) {
  return ctx.quick
    ? { args: ['--joins', '200', '--concurrency', '50', '--join-seconds', '20', '--mib', '8', '--runs', '2', '--no-libp2p', '--max-seconds', '120'] }
    : { args: ['--joins', '1000', '--concurrency', '100', '--join-seconds', '60', '--mib', '32', '--runs', '5', '--max-seconds', '240'] }
}

function env20 () {
  // plain PATH order with /usr/bin first, so npm and node are the machine's Node 20
  // and not the root devDependency that `npm run` puts first
  return { ...process.env, PATH: `/usr/bin:/bin:${process.env.PATH ?? ''}` }
}

export async function run (ctx) {
  const cfg = config(ctx)
  if (!existsSync(join(legacyDir, 'legacy-bench.cjs'))) throw new Error('bench/legacy/legacy-bench.cjs not found')
  const version = execFileSync(NODE20, ['--version'], { encoding: 'utf8' }).trim()
  if (!existsSync(join(legacyDir, 'node_modules'))) {
    ctx.log(`  installing bench/legacy (npm ci with ${NODE20} ${version})`)
    execFileSync('/usr/bin/npm', ['ci', '--no-audit', '--no-fund'], { cwd: legacyDir, env: env20(), stdio: ['ignore', 'ignore', 'inherit'] })
  }
  const out = await new Promise((resolve, reject) => {
    const child = spawn(NODE20, ['legacy-bench.cjs', ...cfg.args], { cwd: legacyDir, env: env20(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (t) => { stdout += t })
    child.stderr.setEncoding('utf8').on('data', (t) => { for (const line of t.split('\n').filter(Boolean)) ctx.log(`  [legacy] ${line}`) })
    child.on('exit', (code) => code === 0 ? resolve(stdout) : reject(new Error(`legacy-bench.cjs exited with ${code}`)))
    process.once('exit', () => { try { child.kill('SIGKILL') } catch { /* already gone */ } })
  })
  const { legacy } = JSON.parse(out.slice(out.indexOf('{')))
  const results = ctx.results ?? {}
  const j = results.joins
  const t = results.throughput?.summary?.wsstar
  const newJoins = j?.error == null ? j?.joinsPerSec : undefined
  const newRssPerPeer = j?.error == null ? j?.rssPerJoinedPeer : undefined
  const mibs = (v) => typeof v === 'number' ? v : v?.median
  const legacyRssPerPeer = legacy.joins > 0 ? (legacy.serverRssAfterMiB - legacy.serverRssBeforeMiB) * MiB / legacy.joins : undefined
  return {
    config: cfg,
    node: version,
    legacy,
    compare: {
      joinsPerSec: { legacy: legacy.joinsPerSec, wsstar: newJoins, legacyN: legacy.joins, wsstarN: j?.joined },
      rssPerPeer: { legacy: legacyRssPerPeer, wsstar: newRssPerPeer },
      // legacy reports MiB/s; the throughput scenario reports MB/s (10^6 B/s)
      libp2pMBps: { legacy: mibs(legacy.libp2p?.throughputMiBs) != null ? mibs(legacy.libp2p.throughputMiBs) * MiB / 1e6 : undefined, wsstar: t?.MBps },
      rawMBps: { legacy: mibs(legacy.throughputMiBs) != null ? mibs(legacy.throughputMiBs) * MiB / 1e6 : undefined },
      serverCpuSPerGiB: { legacy: legacy.libp2p?.serverCpuSecPerGiB ?? legacy.serverCpuSecPerGiB, legacyFullStack: legacy.libp2p?.serverCpuSecPerGiB != null, wsstar: t?.relayCpuSPerGiB }
    }
  }
}

export function markdown (r) {
  const c = r.compare
  const ratio = (n, o) => n != null && o != null ? fmtRatio(n / o) : '–'
  return [
    '### Legacy reference: libp2p-websocket-star 0.10.2 + rendezvous 0.4.1 (Node 20) vs wsstar (this run)',
    '',
    `Legacy measured by \`bench/legacy/legacy-bench.cjs ${r.config.args.join(' ')}\` on ${r.node} (\`/usr/bin/node\`; RSA-2048 peer ids, challenge on; see bench/legacy/README.md). ` +
    'wsstar figures are from the `joins` and `throughput` scenarios of the same run (– when they did not run). Load differs between the two measurements: compare orders of magnitude.',
    '',
    table(['measure', 'legacy 0.10 / 0.4', 'wsstar', 'new / old'], [
      [`challenge joins/s (legacy: ${c.joinsPerSec.legacyN ?? '–'} peers, RSA; wsstar: ${c.joinsPerSec.wsstarN ?? '–'} peers, Ed25519)`, fmt(c.joinsPerSec.legacy, 1), fmt(c.joinsPerSec.wsstar, 0), ratio(c.joinsPerSec.wsstar, c.joinsPerSec.legacy)],
      ['server RSS growth per joined peer', c.rssPerPeer.legacy != null ? `${fmt(c.rssPerPeer.legacy / 1024, 1)} KiB` : '–', c.rssPerPeer.wsstar != null ? `${fmt(c.rssPerPeer.wsstar / 1024, 1)} KiB` : '–', ratio(c.rssPerPeer.wsstar, c.rssPerPeer.legacy)],
      ['libp2p stream throughput MB/s (legacy: libp2p 0.25 secio + mplex; wsstar: libp2p 3 noise + yamux)', fmt(c.libp2pMBps.legacy, 1), fmt(c.libp2pMBps.wsstar, 1), ratio(c.libp2pMBps.wsstar, c.libp2pMBps.legacy)],
      ['legacy raw relayed connection MB/s (no libp2p upgrade)', fmt(c.rawMBps.legacy, 1), '', ''],
      [`server CPU-s per GiB relayed (legacy: ${c.serverCpuSPerGiB.legacyFullStack ? 'libp2p 0.25 stack' : 'raw'})`, fmt(c.serverCpuSPerGiB.legacy, 2), fmt(c.serverCpuSPerGiB.wsstar, 2), ratio(c.serverCpuSPerGiB.wsstar, c.serverCpuSPerGiB.legacy)]
    ])
  ].join('\n')
}

export function targets () {
  return []
}
