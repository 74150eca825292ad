/**
 * One libp2p node of the NAT test, run inside a private network namespace by
 * nat.test.ts. It listens directly (plain websockets on its private address)
 * and through the rendezvous server, prints JSON lines on stdout and takes
 * JSON commands on stdin.
 */
import { createInterface } from 'node:readline'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { createLibp2p } from 'libp2p'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { webSocketStar } from '@wsstar/transport'
import type { Stream } from '@libp2p/interface'

const SINK_PROTOCOL = '/wsstar-test/sink/1.0.0'
const serverAddr = process.env.WSSTAR_SERVER ?? ''
const privateIp = process.env.PRIVATE_IP ?? ''

function out (msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`)
}

/** Deterministic bytes so both ends can hash without sending a digest first. */
function chunkOf (i: number, size: number): Uint8Array {
  const buf = new Uint8Array(size)
  let x = (i + 1) * 2654435761 >>> 0
  for (let j = 0; j < size; j++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    buf[j] = x & 0xff
  }
  return buf
}

async function readAll (stream: Stream, onChunk: (buf: Uint8Array) => void): Promise<void> {
  for await (const chunk of stream) {
    onChunk(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  }
}

const wsstar = webSocketStar()
const node = await createLibp2p({
  addresses: { listen: [`/ip4/${privateIp}/tcp/0/ws`, `${serverAddr}/p2p-websocket-star`] },
  transports: [webSockets(), wsstar.transport],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping(), wsstarDiscovery: wsstar.discovery }
})

/** True once discovery has put a websocket-star address of `peerId` in the peer store. */
async function knowsRelayedAddress (peerId: string): Promise<boolean> {
  try {
    const peer = await node.peerStore.get(peerIdFromString(peerId))
    return peer.addresses.some(a => a.multiaddr.toString().includes('/p2p-websocket-star'))
  } catch {
    return false
  }
}

await node.handle(SINK_PROTOCOL, async (stream: Stream) => {
  const hash = createHash('sha256')
  let bytes = 0
  await readAll(stream, (buf) => { hash.update(buf); bytes += buf.byteLength })
  stream.send(new TextEncoder().encode(`${bytes} ${hash.digest('hex')}`))
  await stream.close()
})

out({ event: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) })

async function send (peerIdStr: string, total: number): Promise<Record<string, unknown>> {
  const started = performance.now()
  const stream = await node.dialProtocol(peerIdFromString(peerIdStr), SINK_PROTOCOL, { signal: AbortSignal.timeout(60_000) })
  const hash = createHash('sha256')
  const size = 64 * 1024
  for (let i = 0, sent = 0; sent < total; i++) {
    const chunk = chunkOf(i, Math.min(size, total - sent))
    hash.update(chunk)
    sent += chunk.byteLength
    if (!stream.send(chunk)) await stream.onDrain()
  }
  await stream.close()
  let reply = ''
  await readAll(stream, (buf) => { reply += new TextDecoder().decode(buf) })
  const [bytes, digest] = reply.split(' ')
  return { bytes: Number(bytes), match: digest === hash.digest('hex'), seconds: (performance.now() - started) / 1000 }
}

/** Flattens nested causes and aggregate errors into one line. */
function describeError (err: unknown): string {
  if (!(err instanceof Error)) {
    // WebSocket failures reject with an ErrorEvent carrying `message` and `error`
    const evt = err as { type?: unknown, message?: unknown, error?: unknown }
    if (evt?.error != null) return `${String(evt.type)}: ${String(evt.message)} | ${describeError(evt.error)}`
    return String(err)
  }
  const parts = [`${err.name}: ${err.message}`]
  const code = (err as { code?: unknown }).code
  if (code != null) parts.push(`code=${String(code)}`)
  if (err instanceof AggregateError) parts.push(...err.errors.map(describeError))
  if (err.cause != null) parts.push(`cause: ${describeError(err.cause)}`)
  return parts.join(' | ')
}

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const cmd = JSON.parse(line) as { id: number, op: string, addr?: string, peerId?: string, bytes?: number }
  const reply = (result: Record<string, unknown>): void => out({ id: cmd.id, ...result })
  const run = async (): Promise<Record<string, unknown>> => {
    switch (cmd.op) {
      case 'dial-direct': {
        const conn = await node.dial(multiaddr(cmd.addr ?? ''), { signal: AbortSignal.timeout(5_000) })
        return { ok: true, remoteAddr: conn.remoteAddr.toString() }
      }
      case 'tcp-probe': {
        // a raw TCP connect names the network-level reason a dial fails
        const [host, port] = [cmd.addr?.split('/')[2] ?? '', Number(cmd.addr?.split('/')[4])]
        return await new Promise((resolve) => {
          const sock = connect({ host, port, timeout: 3_000 })
          sock.once('connect', () => { sock.destroy(); resolve({ ok: true }) })
          sock.once('timeout', () => { sock.destroy(); resolve({ ok: false, error: 'timeout' }) })
          sock.once('error', (err: NodeJS.ErrnoException) => { resolve({ ok: false, error: err.code ?? err.message }) })
        })
      }
      case 'wait-discovered': {
        // libp2p's own peer:discovery also fires when a failed direct dial first
        // puts a peer in the peer store, so wait for the relayed address itself
        const deadline = Date.now() + 20_000
        while (!(await knowsRelayedAddress(cmd.peerId ?? '')) && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
        return { ok: await knowsRelayedAddress(cmd.peerId ?? '') }
      }
      case 'ping': {
        const rtt = await node.services.ping.ping(peerIdFromString(cmd.peerId ?? ''), { signal: AbortSignal.timeout(10_000) })
        const conns = node.getConnections(peerIdFromString(cmd.peerId ?? ''))
        return { ok: true, rtt, remoteAddrs: conns.map(c => c.remoteAddr.toString()) }
      }
      case 'send':
        return { ok: true, ...(await send(cmd.peerId ?? '', cmd.bytes ?? 0)) }
      case 'stop':
        await node.stop()
        setTimeout(() => process.exit(0), 10)
        return { ok: true }
      default:
        throw new Error(`unknown op ${cmd.op}`)
    }
  }
  run().then(reply, async (err: unknown) => {
    const known = cmd.peerId != null ? await node.peerStore.get(peerIdFromString(cmd.peerId)).then(p => p.addresses.map(a => a.multiaddr.toString()), () => []) : []
    reply({ ok: false, error: describeError(err), knownAddrs: known })
  })
})
