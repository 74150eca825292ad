/**
 * Legacy mode: the real `libp2p-websocket-star@0.10.2` client (bench/legacy,
 * on the machine's Node 20) against our server.
 */
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { after, describe, it } from 'node:test'
import { Event } from '@wsstar/protocol'
import { connect, identity, join, peerAddress, request } from '@wsstar/raw-client'
import { pino } from 'pino'
import { createRendezvousServer } from '@wsstar/rendezvous'
import { LEGACY_NODE, legacyClients, requires } from '../helpers/system-components.js'
import type { RendezvousServer, RendezvousServerOptions } from '@wsstar/rendezvous'
import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'socket.io-client'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** child scripts are .cjs files in the source dir (tsc does not copy them) */
const PEER_SCRIPT = `${ROOT}test/legacy/legacy-peer.cjs`
const RAW_SCRIPT = `${ROOT}test/legacy/legacy-raw.cjs`
const ABUSE_SCRIPT = `${ROOT}test/legacy/legacy-relay-abuse.cjs`
const MiB = 1024 * 1024

type Msg = Record<string, any> & { type: string }

class LegacyPeer {
  readonly child: ChildProcess
  readonly messages: Msg[] = []
  readonly #waiters = new Set<() => void>()
  address = ''
  id = ''
  stderr = ''

  constructor (script = PEER_SCRIPT) {
    // execArgv: [] — the test process's own flags (node --test ...) are not for Node 20
    this.child = fork(script, [], { execPath: LEGACY_NODE, execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    this.child.stderr?.on('data', (chunk: Buffer) => { this.stderr = (this.stderr + chunk.toString()).slice(-2000) })
    this.child.on('message', (m: Msg) => {
      this.messages.push(m)
      for (const w of [...this.#waiters]) w()
    })
  }

  async waitFor (pred: (m: Msg, index: number) => boolean, timeoutMs = 20_000, what = 'message'): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.messages.find(pred)
        if (found != null) {
          this.#waiters.delete(done)
          clearTimeout(timer)
          resolve(found)
          return true
        }
        return false
      }
      const done = (): void => { check() }
      const timer = setTimeout(() => {
        this.#waiters.delete(done)
        reject(new Error(`legacy peer: no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map(m => m.type))}; stderr: ${this.stderr}`))
      }, timeoutMs)
      this.#waiters.add(done)
      check()
    })
  }

  async listen (port: number): Promise<void> {
    await this.waitFor(m => m.type === 'ready', 20_000, 'ready')
    this.child.send({ cmd: 'listen', port })
    const m = await this.waitFor(m => m.type === 'listening' || m.type === 'error', 30_000, 'listening')
    if (m.type === 'error') throw new Error(m.message)
    this.address = m.address
    this.id = m.id
  }

  /** sends a command and waits for the next message (one sent after the command) that is not a 'peer' */
  async ask (command: Record<string, unknown>, timeoutMs = 30_000): Promise<Msg> {
    const from = this.messages.length
    this.child.send(command)
    const m = await this.waitFor((m, i) => i >= from && m.type !== 'peer', timeoutMs, `answer to ${String(command.cmd)}`)
    if (m.type === 'error') throw new Error(m.message)
    return m
  }

  dial (to: string, mib: number, chunk = 64 * 1024): void {
    this.child.send({ cmd: 'dial', to, mib, chunk })
  }

  kill (): void {
    try { this.child.kill('SIGCONT') } catch { /* already gone */ }
    this.child.kill('SIGKILL')
  }
}

/** a protocol-v2 peer (socket.io 4 client); returns the join result too, and every peer its deltas named */
async function v2Peer (port: number): Promise<{ socket: Socket, address: string, id: string, joinPeers: string[], seen: string[] }> {
  const me = await identity()
  const address = peerAddress(port, me)
  const socket = await connect(port)
  const seen: string[] = []
  socket.on(Event.PEERS, (delta: { joined?: string[], left?: string[] }) => { seen.push(...(delta.joined ?? []), ...(delta.left ?? [])) })
  const result = await join(socket, me, address)
  return { socket, address, id: me.peerId.toString(), joinPeers: result.peers, seen }
}

/** a server with legacy mode on (it is off by default) */
async function startServer (options: RendezvousServerOptions = {}): Promise<RendezvousServer> {
  const server = createRendezvousServer({ port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }), legacy: true, ...options })
  await server.start()
  return server
}

/** a full GC, also without --expose-gc (the test runner starts this file) */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
/** memory the server process holds after a full GC: JS heap + Buffers */
/**
 * Heap + external bytes after full GCs. V8 frees ArrayBuffer backing stores
 * on a background thread after a GC, so `external` drops a little later:
 * collect, wait, collect again.
 */
async function retained (): Promise<number> {
  gc()
  await new Promise(resolve => setTimeout(resolve, 200))
  gc()
  await new Promise(resolve => setTimeout(resolve, 200))
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

describe('legacy websocket-star 0.10.2 clients', { skip: requires('legacy clients suite', legacyClients), timeout: 240_000 }, () => {
  const peers: LegacyPeer[] = []
  const servers: RendezvousServer[] = []
  const spawn = (script?: string): LegacyPeer => {
    const p = new LegacyPeer(script)
    peers.push(p)
    return p
  }

  after(async () => {
    for (const p of peers) p.kill()
    await Promise.all(servers.map(async s => s.stop()))
  })

  it('two legacy clients join, discover each other (ws-peer), dial, and 8 MiB arrive intact', async () => {
    const server = await startServer()
    servers.push(server)
    const a = spawn()
    const b = spawn()
    await a.listen(server.port)
    await b.listen(server.port)
    // b learns a from its join list, a learns b from a ws-peer announcement
    await b.waitFor(m => m.type === 'peer' && m.id === a.id, 10_000, 'peer a')
    await a.waitFor(m => m.type === 'peer' && m.id === b.id, 10_000, 'peer b')
    assert.match(a.messages.find(m => m.type === 'peer')?.address ?? '', /\/ipfs\/Qm/)
    const started = Date.now()
    a.dial(b.address, 8)
    await a.waitFor(m => m.type === 'dialed' || m.type === 'dial-error', 20_000, 'dial')
    assert.equal(a.messages.find(m => m.type === 'dial-error'), undefined)
    const sent = await a.waitFor(m => m.type === 'sent', 60_000, 'sent')
    const received = await b.waitFor(m => m.type === 'received', 60_000, 'received')
    const secs = (Date.now() - started) / 1000
    assert.equal(received.error, null)
    assert.equal(received.bytes, 8 * MiB)
    assert.equal(received.sha256, sent.sha256)
    const stats = server.legacyStats()
    assert.ok(stats != null)
    assert.equal(stats.peers, 2)
    assert.equal(stats.overflowResets, 0)
    console.log(`# legacy 8 MiB relayed in ${secs.toFixed(2)} s (${(8 / secs).toFixed(1)} MiB/s incl. dial)`)
  })

  it('legacy and v2 peers are separate populations: not announced to each other, cross dials fail clearly', async () => {
    const server = await startServer()
    servers.push(server)
    const v2a = await v2Peer(server.port)
    const l1 = spawn()
    await l1.listen(server.port)
    const v2b = await v2Peer(server.port)
    const l2 = spawn()
    await l2.listen(server.port)
    // the legacy pair sees each other, the v2 pair sees each other
    await l1.waitFor(m => m.type === 'peer' && m.id === l2.id, 10_000, 'peer l2')
    await sleep(600) // v2 deltas go out every peers-interval (250 ms)
    assert.ok(v2a.seen.includes(v2b.address), 'v2a learned v2b')
    assert.deepEqual(v2b.joinPeers, [v2a.address])
    // and nothing across
    for (const v2 of [v2a, v2b]) {
      assert.ok(![...v2.seen, ...v2.joinPeers].some(a => a.includes(l1.id) || a.includes(l2.id)), 'a v2 peer was told about a legacy peer')
    }
    for (const l of [l1, l2]) {
      assert.ok(!l.messages.some(m => m.type === 'peer' && (m.id === v2a.id || m.id === v2b.id)), 'a legacy peer was told about a v2 peer')
    }
    // legacy -> v2
    l1.dial(`/ip4/127.0.0.1/tcp/${server.port}/ws/p2p-websocket-star/ipfs/${v2a.id}`, 1)
    const failed = await l1.waitFor(m => m.type === 'dial-error' || m.type === 'dialed', 10_000, 'dial result')
    assert.equal(failed.type, 'dial-error')
    assert.match(failed.message, /peer speaks a different protocol version/)
    // v2 -> legacy
    const [err] = await request(v2b.socket, Event.DIAL, v2b.address, l2.address.replace('/ipfs/', '/p2p/'))
    assert.equal(err?.code, 'ERR_PEER_NOT_FOUND')
    assert.match(err.message, /legacy/)
    v2a.socket.disconnect()
    v2b.socket.disconnect()
  })

  it('a legacy flood into a callee that does not read stays within legacy-max-buffered-bytes', async () => {
    const bound = 2 * MiB
    /** unbounded queueing (the legacy server) would hold all of it: +147 MiB RSS for a 6 s pause in bench/legacy */
    const FLOOD_MIB = 160
    const server = await startServer({ limits: { legacyMaxBufferedBytes: bound } })
    servers.push(server)
    const sender = spawn()
    const receiver = spawn()
    await sender.listen(server.port)
    await receiver.listen(server.port)
    sender.child.send({ cmd: 'dial', to: receiver.address, mib: FLOOD_MIB, chunk: 64 * 1024, hold: true })
    const dialed = await sender.waitFor(m => m.type === 'dialed' || m.type === 'dial-error', 20_000, 'dial')
    assert.equal(dialed.type, 'dialed')
    receiver.child.kill('SIGSTOP')
    await sleep(200)
    const retainedBefore = await retained()
    const rssBefore = process.memoryUsage().rss
    let peakRss = rssBefore
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss) }, 20)
    const started = Date.now()
    try {
      sender.child.send({ cmd: 'write' })
      while (Date.now() - started < 30_000 && (server.legacyStats()?.overflowResets ?? 0) === 0) await sleep(50)
      // the sender keeps writing after the reset: those frames are dropped, not queued
      await Promise.race([sender.waitFor(m => m.type === 'sent', 30_000, 'sent').catch(() => {}), sleep(6_000)])
      await sleep(500)
    } finally {
      clearInterval(sampler)
    }
    const senderDone = sender.messages.some(m => m.type === 'sent')
    // what the server keeps, not what it is still reading: a sender still writing has frames in
    // flight through the server's read buffers (they measured up to +30 MiB after GC), so it stops first
    sender.child.kill('SIGKILL')
    await sleep(1000)
    const retainedMiB = (await retained() - retainedBefore) / MiB
    const stats = server.legacyStats()
    assert.ok(stats != null)
    const grewMiB = (peakRss - rssBefore) / MiB
    console.log(`# legacy flood: resets ${stats.overflowResets}, max buffered for the receiver ${(stats.maxBufferedBytes / MiB).toFixed(2)} MiB (bound ${bound / MiB} MiB), relayed ${(stats.relayedBytes / MiB).toFixed(1)} MiB, read and dropped after the reset ${(stats.droppedBytes / MiB).toFixed(1)} MiB, sender wrote all ${FLOOD_MIB} MiB: ${senderDone ? 'yes' : 'no'} in ${((Date.now() - started) / 1000).toFixed(1)} s, server process peak RSS +${grewMiB.toFixed(1)} MiB, retained after GC once the sender was gone +${retainedMiB.toFixed(1)} MiB`)
    assert.ok(stats.overflowResets >= 1, 'the flooding dial was reset')
    assert.ok(stats.maxBufferedBytes <= bound, `buffered ${stats.maxBufferedBytes} > bound ${bound}`)
    assert.equal(stats.dials, 0)
    // what the server holds: at most the bound (queued for the stopped receiver) plus slack
    assert.ok(retainedMiB < bound / MiB + 16, `server retained +${retainedMiB.toFixed(1)} MiB`)
    // peak RSS (reported above) includes the transient garbage of reading the flood; only a sanity bound here
    assert.ok(grewMiB < FLOOD_MIB, `server RSS peaked at +${grewMiB.toFixed(1)} MiB`)
    const metrics = await server.metrics.metrics()
    assert.match(metrics, /wsstar_legacy_dial_resets_total\{reason="buffer"\} [1-9]/)
    assert.match(metrics, /wsstar_limit_hits_total\{limit="legacy-max-buffered-bytes"\} [1-9]/)
  })

  it('legacy hardening: joins name the server connected to, domain-separated single-use nonces, per-socket dial ids, string errors, no crash on garbage', async () => {
    const server = await startServer()
    servers.push(server)
    const raw = spawn(RAW_SCRIPT)
    await raw.waitFor(m => m.type === 'ready', 20_000, 'ready')
    raw.child.send({ cmd: 'run', port: server.port })
    const m = await raw.waitFor(m => m.type === 'results' || m.type === 'error', 60_000, 'results')
    assert.equal(m.type, 'results', m.message)
    const r = m.r
    assert.match(r.nonce, new RegExp(`^wsstar-legacy-join:/ip4/127\\.0\\.0\\.1/tcp/${server.port}/ws:[0-9a-f]{32}$`))
    assert.equal(r.otherServer, 'Invalid address', 'a join naming another server than the one connected to')
    assert.equal(r.badSignature, 'Signature Invalid')
    assert.equal(r.afterConsumed, 'Invalid public key', 'a nonce is gone after one attempt')
    assert.equal(r.wrongKey, 'Public key does not match the peer id')
    assert.deepEqual(r.joinA, [null, null, []])
    assert.equal(r.replay, 'Invalid public key', 'a signed join cannot be replayed')
    assert.ok(r.joinB.every((a: string) => a.includes('/ipfs/')))
    assert.deepEqual(r.dial, [])
    assert.match(r.calleeDialId, /^[0-9a-f-]{36}$/)
    assert.notEqual(r.calleeDialId, 'x1')
    assert.match(r.incomingFrom, /\/ipfs\/Qm/)
    // only A's own write reached B, under B's id; C's injections went nowhere
    assert.deepEqual(r.bPullEvents, [[`socket.io-pull-stream.queue.${r.calleeDialId as string}.dialer`, 5]])
    assert.equal(r.sameDialId, 'Dial id already in use')
    assert.equal(r.notAuthorized, 'Not authorized for this address')
    assert.equal(r.notFound, 'Peer not found')
    assert.equal(r.badDialId, 'Invalid request')
    assert.equal(r.stillAlive, undefined)
    // the three sockets closed: nothing of them is left on the server
    for (let i = 0; i < 50 && (server.legacyStats()?.sockets ?? 0) > 0; i++) await sleep(100)
    const stats = server.legacyStats()
    assert.deepEqual([stats?.sockets, stats?.peers, stats?.dials, stats?.pendingChallenges], [0, 0, 0, 0])
  })

  /** A dials B; B stops reading; A repeats one pull-stream event of its dial `n` times */
  async function relayAbuse (event: string, arg: unknown, n: number): Promise<{ server: RendezvousServer, abuse: LegacyPeer, calleeId: string, retainedMiB: number }> {
    const server = await startServer({ limits: { legacyMaxBufferedBytes: 1 * MiB } })
    servers.push(server)
    const abuse = spawn(ABUSE_SCRIPT)
    await abuse.waitFor(m => m.type === 'ready', 20_000, 'ready')
    const { calleeId } = await abuse.ask({ cmd: 'setup', port: server.port })
    assert.match(calleeId, /^[0-9a-f-]{36}$/)
    assert.equal(server.legacyStats()?.dials, 1)
    await abuse.ask({ cmd: 'pause' })
    const before = await retained()
    await abuse.ask({ cmd: 'emit', event, arg, n }, 120_000)
    await sleep(500)
    const retainedMiB = (await retained() - before) / MiB
    return { server, abuse, calleeId, retainedMiB }
  }

  async function afterAbuse (server: RendezvousServer, abuse: LegacyPeer, what: string, retainedMiB: number): Promise<void> {
    const stats = server.legacyStats()
    assert.ok(stats != null)
    console.log(`# legacy ${what}: server retained +${retainedMiB.toFixed(1)} MiB for the callee that does not read (bound 1 MiB), dial resets ${stats.overflowResets + stats.protocolResets}, dials left ${stats.dials}`)
    assert.ok(retainedMiB < 1 + 8, `the server holds +${retainedMiB.toFixed(1)} MiB for a callee that does not read`)
    assert.equal(stats.dials, 0, 'the abused dial was reset')
    // the caller was told: its dial ended in both directions
    const { a } = await abuse.ask({ cmd: 'events' })
    assert.ok(a.some((e: [string, unknown]) => e[0] === 'socket.io-pull-stream.error.x1.listener'), `caller events: ${JSON.stringify(a.slice(0, 5))}`)
    // and the callee still works: it reads again and takes a new dial
    await abuse.ask({ cmd: 'resume' })
    const { ack } = await abuse.ask({ cmd: 'dial', id: 'x2' })
    assert.deepEqual(ack, [])
    assert.equal(server.legacyStats()?.peers, 2)
  }

  it('an accept flood on one legacy dial into a callee that does not read is bounded and resets the dial', async () => {
    // the caller is the reader of the listener direction: one accept is its due, 200,000 are not
    const { server, abuse, retainedMiB } = await relayAbuse('accept.x1.listener', undefined, 200_000)
    await afterAbuse(server, abuse, 'accept flood', retainedMiB)
  })

  it('an error flood on one direction of a legacy dial is bounded and resets the dial', async () => {
    const { server, abuse, retainedMiB } = await relayAbuse('error.x1.dialer', 'e'.repeat(200), 100_000)
    await afterAbuse(server, abuse, 'error flood', retainedMiB)
  })

  it('a repeated error on one direction closes the legacy dial (it does not stay open half-ended)', async () => {
    const server = await startServer()
    servers.push(server)
    const abuse = spawn(ABUSE_SCRIPT)
    await abuse.waitFor(m => m.type === 'ready', 20_000, 'ready')
    const { calleeId } = await abuse.ask({ cmd: 'setup', port: server.port })
    // one end of one direction: the dial stays open for the other direction
    await abuse.ask({ cmd: 'emit', event: 'error.x1.dialer', arg: true, n: 1 })
    await sleep(300)
    assert.equal(server.legacyStats()?.dials, 1)
    // the same end again: a protocol violation, the whole dial is reset
    await abuse.ask({ cmd: 'emit', event: 'error.x1.dialer', arg: true, n: 1 })
    for (let i = 0; i < 50 && server.legacyStats()?.dials !== 0; i++) await sleep(100)
    assert.equal(server.legacyStats()?.dials, 0)
    const { a, b } = await abuse.ask({ cmd: 'events' })
    assert.deepEqual(b.filter((e: [string, unknown]) => e[0] === `socket.io-pull-stream.error.${calleeId as string}.dialer`).length, 1, 'the callee got the end of the dialer direction once')
    assert.ok(b.some((e: [string, unknown]) => e[0] === `socket.io-pull-stream.error.${calleeId as string}.listener`), 'the callee was told the dial is gone')
    assert.ok(a.some((e: [string, unknown]) => e[0] === 'socket.io-pull-stream.error.x1.listener'), 'the caller was told the dial is gone')
  })

  it('a legacy socket that does not read the answers to its requests is bounded: disconnected, not buffered without end', async () => {
    const bound = 1 * MiB
    const server = await startServer({ limits: { legacyMaxBufferedBytes: bound } })
    servers.push(server)
    const abuse = spawn(ABUSE_SCRIPT)
    await abuse.waitFor(m => m.type === 'ready', 20_000, 'ready')
    await abuse.ask({ cmd: 'setup', port: server.port })
    // garbage joins: each one is answered ("Invalid request") before any rate limit. Without a
    // bound the answers pile up on the server until the ping timeout closes the socket
    const started = Date.now()
    const { closed } = await abuse.ask({ cmd: 'requests', event: 'ss-join', args: [null, null], n: 1_000_000 }, 180_000)
    for (let i = 0; i < 100 && server.legacyStats()?.sockets !== 1; i++) await sleep(100)
    const secs = (Date.now() - started) / 1000
    const stats = server.legacyStats()
    console.log(`# legacy request flood without reading: the flooder ${closed === true ? 'was disconnected' : 'stayed connected'} after ${secs.toFixed(1)} s, slow consumers ${stats?.slowConsumers}`)
    assert.equal(server.legacyStats()?.sockets, 1, 'the flooder was disconnected')
    // by the bound (the ping timeout would not count a slow consumer)
    assert.equal(stats?.slowConsumers, 1)
    assert.equal(server.legacyStats()?.peers, 1, 'the honest callee is still registered')
    assert.match(await server.metrics.metrics(), /wsstar_legacy_slow_consumers_total [1-9]/)
  })

  it('legacy joins take the per-address join tokens that v2 joins take (join-rate-per-ip)', async () => {
    const server = await startServer({ limits: { joinBurstPerIp: 1, joinRatePerIp: 0.001 } })
    servers.push(server)
    const abuse = spawn(ABUSE_SCRIPT)
    await abuse.waitFor(m => m.type === 'ready', 20_000, 'ready')
    // the script joins two peers from 127.0.0.1: the second finds no token left
    await assert.rejects(abuse.ask({ cmd: 'setup', port: server.port }), /join: Rate limit exceeded/)
    assert.equal(server.legacyStats()?.peers, 1)
    assert.match(await server.metrics.metrics(), /wsstar_limit_hits_total\{limit="join-rate-per-ip"\} [1-9]/)
  })

  it('legacy sockets take frames up to 1,000,000 bytes like the old server: 999,999-byte chunks, 8 MiB, sha256 checked; v2 sockets keep max-message-bytes', async () => {
    const server = await startServer()
    servers.push(server)
    const a = spawn()
    const b = spawn()
    await a.listen(server.port)
    await b.listen(server.port)
    a.dial(b.address, 8, 999_999)
    const dialed = await a.waitFor(m => m.type === 'dialed' || m.type === 'dial-error', 20_000, 'dial')
    assert.equal(dialed.type, 'dialed', dialed.message)
    const sent = await a.waitFor(m => m.type === 'sent' || m.type === 'error', 60_000, 'sent')
    const received = await b.waitFor(m => m.type === 'received' || m.type === 'error', 60_000, 'received')
    assert.equal(received.error, null, received.message)
    assert.equal(received.bytes, 8 * MiB)
    assert.equal(received.sha256, sent.sha256)
    assert.equal(server.legacyStats()?.overflowResets, 0)
    // a v2 socket on the same server is still cut at max-message-bytes (128 KiB)
    const v2 = await v2Peer(server.port)
    const closed = new Promise<string>(resolve => { v2.socket.once('disconnect', resolve) })
    v2.socket.emit('x', Buffer.alloc(server.limits.maxMessageBytes + 1024))
    assert.equal(await Promise.race([closed, sleep(5000).then(() => 'still connected')]), 'transport close')
  })

  it('ss-leave from a legacy client unregisters it, resets its dials and stops announcements to and about it', async () => {
    const period = 300
    const server = await startServer({ limits: { legacyAnnounceIntervalMs: period } })
    servers.push(server)
    const a = spawn()
    const b = spawn()
    await a.listen(server.port)
    await b.listen(server.port)
    await a.waitFor(m => m.type === 'peer' && m.id === b.id, 10_000, 'peer b')
    await b.waitFor(m => m.type === 'peer' && m.id === a.id, 10_000, 'peer a')
    // an open dial from a to b, not writing yet
    a.child.send({ cmd: 'dial', to: b.address, mib: 1, chunk: 64 * 1024, hold: true })
    await a.waitFor(m => m.type === 'dialed' || m.type === 'dial-error', 20_000, 'dial')
    assert.equal(server.legacyStats()?.dials, 1)
    await b.ask({ cmd: 'leave' })
    for (let i = 0; i < 50 && server.legacyStats()?.peers !== 1; i++) await sleep(100)
    assert.equal(server.legacyStats()?.peers, 1, 'b is unregistered')
    assert.equal(server.legacyStats()?.dials, 0, 'b\'s dial was reset')
    assert.equal(server.legacyStats()?.sockets, 2, 'b stays connected')
    const aHeardOfB = a.messages.filter(m => m.type === 'peer' && m.id === b.id).length
    const bHeard = b.messages.filter(m => m.type === 'peer').length
    // a dial to the address b left fails
    const from = a.messages.length
    a.dial(b.address, 1)
    const failed = await a.waitFor((m, i) => i >= from && (m.type === 'dial-error' || m.type === 'dialed'), 10_000, 'dial result')
    assert.equal(failed.type, 'dial-error')
    assert.match(failed.message, /Peer not found/)
    // no announcement about b, none to b, for several periods
    await sleep(4 * period)
    assert.equal(a.messages.filter(m => m.type === 'peer' && m.id === b.id).length, aHeardOfB, 'a was told about b after b left')
    assert.equal(b.messages.filter(m => m.type === 'peer').length, bHeard, 'b was told about peers after it left')
  })

  it('re-announces legacy peers periodically: a bounded random sample every legacy-announce-interval', async () => {
    const period = 400
    const k = 1
    const server = await startServer({ limits: { legacyAnnounceIntervalMs: period, legacyAnnouncements: k } })
    servers.push(server)
    const [a, b] = [spawn(), spawn()]
    await a.listen(server.port)
    await b.listen(server.port)
    await a.waitFor(m => m.type === 'peer' && m.id === b.id, 10_000, 'peer b')
    // a periodic re-announcement within 2 periods
    const from = a.messages.length
    const started = Date.now()
    await a.waitFor((m, i) => i >= from && m.type === 'peer' && m.id === b.id, 2 * period + 500, 'a re-announcement of b')
    console.log(`# legacy periodic re-announcement after ${Date.now() - started} ms (period ${period} ms)`)
    // two more peers: with a sample of one per period, each learns every other within a few periods
    const [c, d] = [spawn(), spawn()]
    await c.listen(server.port)
    await d.listen(server.port)
    const all = [a, b, c, d]
    const counted = all.map(p => p.messages.length)
    for (const p of all) {
      for (const q of all) {
        if (p !== q) await p.waitFor(m => m.type === 'peer' && m.id === q.id, 40 * period, `${p.id.slice(-6)} learns ${q.id.slice(-6)}`)
      }
    }
    // bounded: per period at most k periodic announcements per peer, plus at most k for joins
    const periods = Math.ceil((Date.now() - started) / period) + 1
    all.forEach((p, i) => {
      const got = p.messages.slice(counted[i]).filter(m => m.type === 'peer').length
      assert.ok(got <= 2 * k * periods, `${got} announcements in ${periods} periods`)
    })
    const metrics = await server.metrics.metrics()
    assert.match(metrics, /wsstar_legacy_announcements_total\{kind="periodic"\} [1-9]/)
    assert.match(metrics, /wsstar_limit\{limit="legacy-announce-interval"\} 400/)
  })

  it('without legacy mode (the default) a legacy client cannot connect', async () => {
    const server = await startServer({ legacy: undefined })
    servers.push(server)
    const p = spawn()
    await p.waitFor(m => m.type === 'ready', 20_000, 'ready')
    p.child.send({ cmd: 'listen', port: server.port })
    const m = await p.waitFor(m => m.type === 'listening' || m.type === 'error', 30_000, 'listen result')
    assert.equal(m.type, 'error')
    assert.equal(server.legacyStats(), undefined)
    assert.equal(server.stats().sockets, 0)
  })
})
