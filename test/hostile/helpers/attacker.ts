/**
 * A hostile client fleet in its own process (so its CPU use does not slow
 * the honest clients of the test process): `node attacker.js <json>` with
 * `{ port, durationMs, halfOpen, strayDialId }`. Prints `ready` once the
 * half-open sockets are open and every abuse loop runs, then one JSON line
 * of counts when done.
 *
 * Abuse loops, all at once for `durationMs`:
 * - join flood: sockets spamming join hellos (ERR_RATE_LIMITED);
 * - dial flood: joined sockets dialling a callee that never answers and each
 *   other as fast as they can (ERR_RATE_LIMITED, ERR_LIMIT_EXCEEDED,
 *   ERR_DIAL_TIMEOUT);
 * - dial to self, and to another address of the same socket (ERR_BAD_REQUEST);
 * - data frames on a dial id owned by others (ERR_DIAL_NOT_FOUND, to the
 *   attacker only);
 * - data beyond credit on its own dials (ERR_FLOW_CONTROL resets);
 * - a peer that accepts dials and never reads its socket, while others send
 *   it full windows: the dials beyond what it may be owed
 *   (--max-socket-buffered-bytes) are refused, and it is not cut off for
 *   the bytes it was sent;
 * - `halfOpen` sockets that never join: socket.io-connected, engine.io-only
 *   and bare TCP (cut by the server's handshake timeouts).
 */
import { connect as tcpConnect } from 'node:net'
import { NoAnswer, connect, identity, join, peerAddress, rawPeer, requestWithin, stopReading } from '@wsstar/raw-client'
import type { RawPeer } from '@wsstar/raw-client'
import type { Socket } from 'socket.io-client'

interface Args { port: number, durationMs: number, halfOpen: number, strayDialId: string }
const args = JSON.parse(process.argv[2]) as Args
const { port } = args
const counts: Record<string, number> = {}
const count = (key: string): void => { counts[key] = (counts[key] ?? 0) + 1 }
let running = true
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** a request counted by how it was answered (`event:code`, `event:ok`, `event:no-answer`, `event:disconnected`); never throws */
async function tryAsk (socket: Socket, event: string, ...rest: unknown[]): Promise<any> {
  try {
    const [err, result] = await requestWithin(5000, socket, event, ...rest)
    count(`${event}:${err?.code ?? 'ok'}`)
    return err == null ? result ?? {} : undefined
  } catch (err) {
    if (!(err instanceof NoAnswer)) throw err
    count(`${event}:${err.reason === 'disconnected' ? 'disconnected' : 'no-answer'}`)
    return undefined
  }
}

// --- half-open sockets ---------------------------------------------------------
const halfOpenClosedAt: number[] = []
const halfOpenOpenByKind: Record<string, number> = {}
let halfOpenOpened = 0
async function openHalfOpen (n: number): Promise<void> {
  const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`
  const opening: Array<Promise<void>> = []
  for (let i = 0; i < n; i++) {
    const kind = i % 5 === 4 ? 'tcp' : i % 5 === 3 ? 'engine' : 'socketio'
    opening.push(new Promise<void>(resolve => {
      halfOpenOpenByKind[kind] = (halfOpenOpenByKind[kind] ?? 0) + 1
      const closed = (): void => { halfOpenClosedAt.push(Date.now()); halfOpenOpenByKind[kind]--; resolve() }
      if (kind === 'tcp') {
        const sock = tcpConnect(port, '127.0.0.1', () => { halfOpenOpened++; resolve() })
        // flowing, so the server's FIN is read and the socket closes (a paused socket never sees it)
        sock.resume()
        sock.on('close', closed)
        sock.on('error', () => {})
        return
      }
      const ws = new WebSocket(url)
      ws.addEventListener('message', (e) => {
        if (typeof e.data === 'string' && e.data.startsWith('0{')) {
          halfOpenOpened++
          if (kind === 'socketio') ws.send('40{"protocol":"wsstar/2"}')
          resolve()
        }
      })
      ws.addEventListener('close', closed)
      ws.addEventListener('error', () => {})
    }))
    if (i % 200 === 199) await Promise.all(opening.splice(0))
  }
  await Promise.all(opening)
}

// --- abuse loops ---------------------------------------------------------------
async function joinFlood (): Promise<void> {
  const me = await identity()
  const address = peerAddress(port, me.peerId)
  while (running) {
    // never completes a join, so the handshake timeout cuts it: reconnect and go on (connection churn too)
    const socket = await connect(port).catch(() => undefined)
    count(socket != null ? 'join-flood:connect' : 'join-flood:connect-refused')
    while (running && socket?.connected === true) {
      // 20 hellos in flight at a time
      await Promise.all(Array.from({ length: 20 }, async () => await tryAsk(socket, 'ss-join', address, {})))
    }
    socket?.disconnect()
  }
}

async function dialFlood (self: RawPeer, targets: string[], inFlight = 20): Promise<void> {
  let i = 0
  while (running) {
    await Promise.all(Array.from({ length: inFlight }, async () => {
      const to = targets[i++ % targets.length]
      const result = await tryAsk(self.socket, 'ss-dial', self.address, to)
      if (result?.dialId != null) self.socket.emit('e', result.dialId, 'reset')
    }))
    await sleep(5)
  }
}

async function dialSelf (self: RawPeer, second: string): Promise<void> {
  while (running) {
    await tryAsk(self.socket, 'ss-dial', self.address, self.address)
    await tryAsk(self.socket, 'ss-dial', self.address, second)
    await tryAsk(self.socket, 'ss-dial', second, self.address)
    await sleep(2)
  }
}

async function strayFrames (socket: Socket, dialId: string): Promise<void> {
  const junk = Buffer.alloc(1024, 0x55)
  while (running) {
    for (let i = 0; i < 50; i++) {
      socket.emit('d', dialId, junk)
      socket.emit('c', dialId, 1024)
      count('stray')
    }
    socket.emit('e', dialId, 'reset', { code: 'ERR_PEER_GONE', message: 'hijack' })
    await sleep(10)
  }
}

async function beyondCredit (caller: RawPeer, callee: RawPeer): Promise<void> {
  const frame = Buffer.alloc(64 * 1024, 1)
  while (running) {
    const result = await tryAsk(caller.socket, 'ss-dial', caller.address, callee.address)
    if (result?.dialId == null) {
      await sleep(50)
      continue
    }
    const reset = new Promise<void>(resolve => {
      const onEnd = (id: string, kind: string, error?: { code: string }): void => {
        if (id !== result.dialId) return
        caller.socket.off('e', onEnd)
        count(`beyond-credit:${kind}:${error?.code ?? ''}`)
        resolve()
      }
      caller.socket.on('e', onEnd)
    })
    // 20 frames of 64 KiB against a 1 MiB window, never waiting for credit
    for (let i = 0; i < 20; i++) caller.socket.emit('d', result.dialId, frame)
    await Promise.race([reset, sleep(3000)])
  }
}

/** sends a full window on each of `dialIds` (the receiver stopped reading): the server must not cut the receiver off for it */
async function feedNonReader (feeder: RawPeer, dialIds: string[]): Promise<void> {
  const frame = Buffer.alloc(64 * 1024, 2)
  for (const dialId of dialIds) {
    for (let i = 0; i < 16; i++) feeder.socket.emit('d', dialId, frame)
    await sleep(20)
  }
}

async function main (): Promise<void> {
  const peers = await Promise.all(Array.from({ length: 12 }, async () => await rawPeer(port)))
  const silent = await rawPeer(port, { answer: 'ignore' })
  // a second address on peers[0]'s socket, for dial-to-self through another address
  const second = await identity()
  const secondAddress = peerAddress(port, second.peerId)
  await join(peers[0].socket, second, secondAddress)
  // the non-reader accepts 16 dials, then stops reading its TCP socket
  const nonReader = await rawPeer(port)
  const feeds = await Promise.all([peers[8], peers[9]].map(async feeder => {
    const ids: string[] = []
    for (let i = 0; i < 8; i++) {
      const result = await tryAsk(feeder.socket, 'ss-dial', feeder.address, nonReader.address)
      if (result?.dialId != null) ids.push(result.dialId)
      else count('feed-dial-refused')
    }
    return { feeder, ids }
  }))
  // it cannot see its own disconnect (it does not read): the feeders would see their dials reset with ERR_PEER_GONE
  const fed = new Set(feeds.flatMap(f => f.ids))
  const nonReaderClosed = new Promise<void>(resolve => {
    for (const { feeder } of feeds) {
      feeder.socket.on('e', (id: string, kind: string, error?: { code: string }) => {
        if (fed.has(id) && kind === 'reset' && error?.code === 'ERR_PEER_GONE') {
          fed.clear()
          count('non-reader-cut')
          resolve()
        }
      })
    }
  })
  stopReading(nonReader.socket)

  await openHalfOpen(args.halfOpen)
  const started = Date.now()
  process.stdout.write('ready\n')
  // ends after durationMs, or at once on SIGUSR2 (the test has what it needs)
  let stop: () => void = () => {}
  const stopped = new Promise<void>(resolve => { stop = resolve })
  setTimeout(() => { running = false; stop() }, args.durationMs)
  process.on('SIGUSR2', () => { running = false; stop() })

  const loops: Array<Promise<void>> = []
  for (let i = 0; i < 6; i++) loops.push(joinFlood())
  // more dials in flight than --max-dials-per-socket, at a callee that never answers
  loops.push(dialFlood(peers[1], [silent.address], 48))
  loops.push(dialFlood(peers[2], [silent.address, peers[3].address, peers[4].address]))
  loops.push(dialFlood(peers[3], [peers[2].address, '/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/12D3KooWLhgZTHiGhkbQpqGvsHw5gKUWnVYSrL7Hjmh7XFTJvBpj']))
  loops.push(dialSelf(peers[0], secondAddress))
  loops.push(strayFrames(peers[5].socket, args.strayDialId))
  loops.push(strayFrames(silent.socket, args.strayDialId))
  loops.push(beyondCredit(peers[6], peers[7]))
  for (const { feeder, ids } of feeds) loops.push(feedNonReader(feeder, ids))
  await stopped
  // loops still waiting on an answer (up to their 5 s timeouts) are not waited for
  await Promise.race([Promise.all(loops), sleep(1000)])
  await Promise.race([nonReaderClosed, sleep(100)])
  // half-open sockets the server has not cut yet get a few more seconds
  // (generous: on a loaded box this niced process may see the closes late)
  const deadline = Date.now() + 20_000
  while (halfOpenClosedAt.length < args.halfOpen && Date.now() < deadline) await sleep(50)

  // how long the half-open sockets lived
  const lifetimes = halfOpenClosedAt.map(t => t - started)
  const report = {
    counts,
    halfOpen: { stillOpenByKind: halfOpenOpenByKind, opened: halfOpenOpened, closed: halfOpenClosedAt.length, lastClosedAfterReadyMs: lifetimes.length > 0 ? Math.max(...lifetimes) : null }
  }
  process.stdout.write(JSON.stringify(report) + '\n')
  for (const p of [...peers, silent, nonReader]) p.close()
  process.exit(0)
}

main().catch((err: unknown) => {
  process.stderr.write(String((err as Error).stack ?? err) + '\n')
  process.exit(1)
})
