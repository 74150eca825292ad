/**
 * Peers really behind NAT. The server runs in a "public" namespace; two
 * libp2p nodes run in private namespaces, each behind its own MASQUERADE
 * router (see netns-topology.ts). A direct websocket dial between them must
 * fail; through wsstar they discover each other, ping and move 16 MiB.
 * Needs root, iproute2 and iptables (skipped without them; CI runs as root).
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { networkNamespaces, requires } from '../helpers/system-components.js'
import { createTopology, processPrefix } from './netns-topology.js'
import type { Topology } from './netns-topology.js'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

const PEER_SCRIPT = fileURLToPath(new URL('./nat-peer.js', import.meta.url))
const CLI = fileURLToPath(new URL('../../../packages/rendezvous/dist/src/cli.js', import.meta.url))
const PORT = 13579
const MiB = 1024 * 1024

type Msg = Record<string, unknown>

/** Talks JSON lines to a nat-peer.js process. */
class PeerProcess {
  readonly proc: ChildProcessWithoutNullStreams
  private nextId = 1
  private readonly pending = new Map<number, (m: Msg) => void>()
  private readonly events: Msg[] = []
  private readonly waiters: Array<{ match: (m: Msg) => boolean, resolve: (m: Msg) => void }> = []
  stderr = ''

  constructor (proc: ChildProcessWithoutNullStreams) {
    this.proc = proc
    proc.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-20000) })
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let msg: Msg
      try { msg = JSON.parse(line) } catch { return }
      if (typeof msg.id === 'number') {
        this.pending.get(msg.id)?.(msg)
        this.pending.delete(msg.id)
        return
      }
      this.events.push(msg)
      for (const w of this.waiters.filter(w => w.match(msg))) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(msg)
      }
    })
  }

  async event (name: string, timeoutMs = 20_000): Promise<Msg> {
    const seen = this.events.find(e => e.event === name)
    if (seen != null) return seen
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`timed out waiting for ${name}; stderr: ${this.stderr}`)) }, timeoutMs)
      this.waiters.push({ match: m => m.event === name, resolve: (m) => { clearTimeout(timer); resolve(m) } })
    })
  }

  async call (op: string, args: Msg = {}, timeoutMs = 60_000): Promise<Msg> {
    const id = this.nextId++
    this.proc.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`)
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`timed out on ${op}; stderr: ${this.stderr}`)) }, timeoutMs)
      this.pending.set(id, (m) => { clearTimeout(timer); resolve(m) })
    })
  }
}

describe('peers behind NAT (network namespaces)', { skip: requires('NAT suite', networkNamespaces), timeout: 120_000 }, () => {
  let topo: Topology
  let server: ChildProcessWithoutNullStreams
  let a: PeerProcess
  let b: PeerProcess
  let serverLog = ''

  before(() => {
    topo = createTopology(processPrefix('wsn'))
    server = topo.exec(topo.ns.pub, process.execPath, [CLI, '--host', '0.0.0.0', '--port', String(PORT)])
    server.stdout.on('data', (d: Buffer) => { serverLog = (serverLog + d.toString()).slice(-4000) })
    server.stderr.on('data', (d: Buffer) => { serverLog = (serverLog + d.toString()).slice(-4000) })
    const serverAddr = `/ip4/${topo.serverIp}/tcp/${PORT}/ws`
    const env = (ip: string): NodeJS.ProcessEnv => ({ ...process.env, WSSTAR_SERVER: serverAddr, PRIVATE_IP: ip })
    a = new PeerProcess(topo.exec(topo.ns.a, process.execPath, [PEER_SCRIPT], env(topo.hostIps.a)))
    b = new PeerProcess(topo.exec(topo.ns.b, process.execPath, [PEER_SCRIPT], env(topo.hostIps.b)))
  })

  after(() => {
    for (const p of [a?.proc, b?.proc, server]) {
      try { p?.kill('SIGKILL') } catch { /* already gone */ }
    }
    topo?.destroy()
  })

  it('cannot dial directly, but discovers, pings and transfers 16 MiB through wsstar', async (t) => {
    const readyA = await a.event('ready')
    const readyB = await b.event('ready')
    const idA = String(readyA.peerId)
    const idB = String(readyB.peerId)
    const directB = (readyB.addrs as string[]).find(addr => addr.startsWith(`/ip4/${topo.hostIps.b}/`) && addr.includes('/ws'))
    assert.ok(directB != null, `b listens directly on its private address: ${JSON.stringify(readyB.addrs)}`)

    const direct = await a.call('dial-direct', { addr: directB.includes('/p2p/') ? directB : `${directB}/p2p/${idB}` })
    assert.equal(direct.ok, false, 'a direct websocket dial from behind one NAT to a host behind another must fail')
    // the failure comes from the network, not from a malformed address: b's
    // private address is not routable from a's side of the NATs
    const probe = await a.call('tcp-probe', { addr: directB })
    assert.equal(probe.ok, false)
    assert.match(String(probe.error), /ENETUNREACH|EHOSTUNREACH|timeout/)
    t.diagnostic(`direct dial a -> b failed as expected: ${String(direct.error)}; raw TCP: ${String(probe.error)}`)

    assert.equal((await a.call('wait-discovered', { peerId: idB })).ok, true, `a discovers b; server: ${serverLog}`)
    assert.equal((await b.call('wait-discovered', { peerId: idA })).ok, true, 'b discovers a')

    const pinged = await a.call('ping', { peerId: idB })
    assert.equal(pinged.ok, true, `${JSON.stringify(pinged)}\n--- a stderr ---\n${a.stderr}`)
    assert.ok((pinged.remoteAddrs as string[]).every(addr => addr.includes('/p2p-websocket-star/')), `relayed connection: ${JSON.stringify(pinged.remoteAddrs)}`)

    const sent = await a.call('send', { peerId: idB, bytes: 16 * MiB })
    assert.equal(sent.ok, true, JSON.stringify(sent))
    assert.equal(sent.bytes, 16 * MiB)
    assert.equal(sent.match, true, 'sha256 of received bytes equals sent')

    const back = await b.call('send', { peerId: idA, bytes: 1 * MiB })
    assert.equal(back.match, true, 'the other direction works too')
  })
})
