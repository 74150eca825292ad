/**
 * A rolling restart behind the shipped HAProxy configuration
 * (deploy/haproxy.cfg, rendered for loopback): two cluster replicas, a
 * transfer through one of them, and that replica stopped (SIGTERM) while
 * the transfer is under way. The replica keeps its listener open and
 * answers /health with 503 while its dial drains; HAProxy marks it DOWN on
 * its own checks and sends new peers to the other replica, without cutting
 * the open transfer, which finishes; then the replica exits 0.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DEFAULT_WINDOW_BYTES, Event, EndKind } from '@wsstar/protocol'
import { rawPeer, resultOf } from '@wsstar/raw-client'
import { pEvent } from 'p-event'
import { startRedis, startReplica, stopAll, uniquePrefix, waitForPort } from './helpers/cluster.js'
import { freePort } from './helpers/free-port.js'
import { HAPROXY_PATH, haproxy, redisServer, requires } from './helpers/system-components.js'
import { waitFor } from './helpers/wait.js'
import type { Replica } from './helpers/cluster.js'
import type { ChildProcess } from 'node:child_process'
import type { RawPeer } from '@wsstar/raw-client'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHUNK = 16 * 1024
const CHUNKS = 60
/** the transfer outlasts HAProxy's verdict on the stopping replica (inter 2s, fall 2) */
const CHUNK_INTERVAL_MS = 150

/** deploy/haproxy.cfg with loopback ports and two fixed servers instead of compose's DNS template. */
function renderShippedConfig (frontendPort: number, statsPort: number, replicaPorts: number[]): string {
  const shipped = readFileSync(join(ROOT, 'deploy/haproxy.cfg'), 'utf8')
  const lines: string[] = []
  let inResolvers = false
  for (const line of shipped.split('\n')) {
    if (/^resolvers /.test(line)) { inResolvers = true; continue }
    if (inResolvers) { if (/^\S/.test(line)) inResolvers = false; else continue }
    if (/^\s*bind :443 /.test(line)) continue // TLS: deploy.test.ts checks that part
    if (/^\s*maxconn /.test(line)) { lines.push('  maxconn 4096'); continue } // the test box's fd limit
    if (/^\s*bind :13579/.test(line)) { lines.push(`  bind 127.0.0.1:${frontendPort}`); continue }
    if (/^\s*bind :8404/.test(line)) { lines.push(`  bind 127.0.0.1:${statsPort}`); continue }
    if (/^\s*server-template /.test(line)) {
      replicaPorts.forEach((port, i) => { lines.push(`  server r${i} 127.0.0.1:${port} check`) })
      continue
    }
    lines.push(line)
  }
  return lines.join('\n')
}

/** HAProxy's view of one server (`UP`, `DOWN`, ...), from its stats CSV. */
async function haproxyStatus (statsPort: number, server: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${statsPort}/;csv`, { headers: { authorization: `Basic ${Buffer.from('admin:test').toString('base64')}` }, signal: AbortSignal.timeout(2000) })
  const [header, ...rows] = (await res.text()).split('\n')
  const columns = header.replace(/^# /, '').split(',')
  const row = rows.map(r => r.split(',')).find(r => r[columns.indexOf('svname')] === server)
  return row?.[columns.indexOf('status')] ?? 'missing'
}

describe('rolling restart behind the shipped HAProxy config', { skip: requires('rolling-restart drain test', redisServer, haproxy), timeout: 90_000 }, () => {
  let haproxyChild: ChildProcess | undefined
  const dir = mkdtempSync(join(tmpdir(), 'wsstar-drain-'))
  const peers: RawPeer[] = []

  after(async () => {
    peers.forEach(p => { p.close() })
    haproxyChild?.kill('SIGKILL')
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
  })

  it('an open transfer finishes while its replica drains; new peers go to the other replica', async () => {
    const redis = await startRedis()
    const prefix = uniquePrefix()
    const replicas: Replica[] = [
      await startReplica({ redisUrl: redis.url, prefix, args: ['--shutdown-grace', '30s'] }),
      await startReplica({ redisUrl: redis.url, prefix, args: ['--shutdown-grace', '30s'] })
    ]
    const [frontend, stats] = [await freePort(), await freePort()]
    writeFileSync(join(dir, 'haproxy.cfg'), renderShippedConfig(frontend, stats, replicas.map(r => r.port)))
    let haproxyOutput = ''
    haproxyChild = spawn(HAPROXY_PATH ?? 'haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HAPROXY_STATS_PASSWORD: 'test' } })
    haproxyChild.stdout?.on('data', (d: Buffer) => { haproxyOutput += d.toString() })
    haproxyChild.stderr?.on('data', (d: Buffer) => { haproxyOutput += d.toString() })
    await waitForPort(frontend).catch((err: unknown) => { throw new Error(`haproxy did not start: ${haproxyOutput}`, { cause: err }) })
    await waitFor(async () => (await haproxyStatus(stats, 'r0')).startsWith('UP') && (await haproxyStatus(stats, 'r1')).startsWith('UP'), 15_000)

    const a = await rawPeer(frontend)
    const b = await rawPeer(frontend)
    peers.push(a, b)
    // the replica holding the caller's socket is the one restarted
    const counts = await Promise.all(replicas.map(async r => (await r.health()).peers))
    const index = counts[0] >= 1 ? 0 : 1
    const draining = replicas[index]
    const other = replicas[1 - index]

    let received = 0
    let remoteClosed = false
    let reset = false
    b.socket.on(Event.DATA, (_dialId: string, bytes: Uint8Array) => { received += bytes.byteLength })
    const ended = (peer: RawPeer): void => {
      peer.socket.on(Event.END, (_dialId: string, kind: string) => {
        if (kind === EndKind.RESET) reset = true
        else if (peer === b) remoteClosed = true
      })
    }
    ended(a)
    ended(b)
    const { dialId } = await resultOf(a.socket, Event.DIAL, a.address, b.address)
    assert.ok(CHUNK * CHUNKS <= DEFAULT_WINDOW_BYTES, 'the whole transfer fits the credit window: no credit frames needed')

    const sent = (async () => {
      for (let i = 0; i < CHUNKS; i++) {
        if (i === 5) draining.child.kill('SIGTERM')
        a.socket.emit(Event.DATA, dialId, new Uint8Array(CHUNK).fill(i))
        await new Promise(resolve => setTimeout(resolve, CHUNK_INTERVAL_MS))
      }
    })()

    // while the transfer runs: the stopping replica answers 503 on its own port, HAProxy marks it DOWN
    await waitFor(async () => (await draining.health().catch(() => ({ status: 'refused' }))).status === 'stopping', 5000)
    await waitFor(async () => (await haproxyStatus(stats, `r${index}`)).startsWith('DOWN'), 15_000)
    assert.ok(received < CHUNK * CHUNKS, 'HAProxy marked the replica down before the transfer ended')
    assert.equal(draining.child.exitCode, null, 'the replica is still draining')

    // a peer arriving now registers on the other replica
    const before = (await other.health()).peers
    const c = await rawPeer(frontend)
    peers.push(c)
    assert.equal((await other.health()).peers, before + 1, 'the new peer is on the replica that is not draining')

    await sent
    await waitFor(() => received === CHUNK * CHUNKS || reset, 10_000).catch(() => {})
    assert.equal(reset, false, 'the dial was not reset')
    assert.equal(received, CHUNK * CHUNKS, 'every byte arrived')
    a.socket.emit(Event.END, dialId, EndKind.CLOSE_WRITE)
    b.socket.emit(Event.END, dialId, EndKind.CLOSE_WRITE)
    await waitFor(() => remoteClosed, 5000)
    // the dial is done: the replica stops well within its grace
    const exit = draining.child.exitCode ?? await pEvent(draining.child, 'exit', { timeout: 20_000 })
    assert.equal(exit, 0, draining.output())
  })
})
