/**
 * What the server assumes about engine.io, the ws WebSocket under its
 * websocket transport, ws's frame encoder and socket.io, beyond their
 * documented APIs (packages/rendezvous/src/internals/engine-io-internals.ts,
 * ws-internals.ts, socket-io-internals.ts), checked against a real socket.io
 * server on loopback and real socket.io clients: once with engine.io's own
 * ws, once with the server's ws as legacy mode plugs it in (wsEngine).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { Server } from 'socket.io'
import { io as connect } from 'socket.io-client'
import { rendezvousModule } from '../helpers/rendezvous-internals.js'
import type { Server as HttpServer } from 'node:http'
import type { AddressInfo, Socket as TcpSocket } from 'node:net'
import type { Socket as ServerSocket, ServerOptions } from 'socket.io'
import type { Socket as ClientSocket } from 'socket.io-client'

type EngineIoInternals = typeof import('../../packages/rendezvous/src/internals/engine-io-internals.js')
type WsInternals = typeof import('../../packages/rendezvous/src/internals/ws-internals.js')
type SocketIoInternals = typeof import('../../packages/rendezvous/src/internals/socket-io-internals.js')
type UpgradeRequest = typeof import('../../packages/rendezvous/src/session/upgrade-request.js')
type EngineIo3 = typeof import('../../packages/rendezvous/src/legacy/engine-io-3.js')
type V8Internals = typeof import('../../packages/rendezvous/src/internals/v8-internals.js')

const engine = await rendezvousModule<EngineIoInternals>('internals/engine-io-internals')
const wsInternals = await rendezvousModule<WsInternals>('internals/ws-internals')
const socketIo = await rendezvousModule<SocketIoInternals>('internals/socket-io-internals')
const upgrade = await rendezvousModule<UpgradeRequest>('session/upgrade-request')
const legacy = await rendezvousModule<EngineIo3>('legacy/engine-io-3')
const v8 = await rendezvousModule<V8Internals>('internals/v8-internals')

/** Resolves when `check` holds, polling; rejects after `ms`. */
async function until (check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** The next `event` on a socket.io client (not a node EventEmitter), with its arguments. */
async function next (c: ClientSocket, event: string): Promise<unknown[]> {
  return await new Promise(resolve => { c.once(event, (...args: unknown[]) => { resolve(args) }) })
}

/** The client's TCP socket (socket.io-client -> engine.io-client -> ws), to stop reading. */
function clientTcp (client: ClientSocket): TcpSocket {
  return (client.io.engine as unknown as { transport: { ws: { _socket: TcpSocket } } }).transport.ws._socket
}

interface Setup {
  http: HttpServer
  io: Server
  port: number
  /** the server side of every connection, in order */
  tcp: TcpSocket[]
  /** what the engine.io 'connection' listener saw, per connection */
  upgrades: Array<{ onceCloseBefore: number, onceCloseAfter: number, closeAfter: number, request: WeakRef<object> }>
  clients: ClientSocket[]
}

async function start (wsEngine?: ServerOptions['wsEngine']): Promise<Setup> {
  const http = createServer()
  const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, httpCompression: false, serveClient: false, ...(wsEngine == null ? {} : { wsEngine }) })
  const setup: Setup = { http, io, port: 0, tcp: [], upgrades: [], clients: [] }
  http.on('connection', (socket: TcpSocket) => { setup.tcp.push(socket) })
  io.engine.on('connection', (conn: { request: object }) => {
    const tcp = setup.tcp.at(-1) as TcpSocket
    const onceClose = (): number => tcp.rawListeners('close').filter(l => (l as { listener?: unknown }).listener != null).length
    const before = onceClose()
    const request = new WeakRef(conn.request)
    upgrade.releaseUpgradeRequest(conn)
    setup.upgrades.push({ onceCloseBefore: before, onceCloseAfter: onceClose(), closeAfter: tcp.listenerCount('close'), request })
  })
  io.on('connection', (socket) => { socketIo.keepHandshakeAuth(socket) })
  await new Promise<void>(resolve => { http.listen(0, '127.0.0.1', resolve) })
  setup.port = (http.address() as AddressInfo).port
  return setup
}

async function client (setup: Setup): Promise<{ client: ClientSocket, server: ServerSocket }> {
  const connected = once(setup.io, 'connection') as Promise<[ServerSocket]>
  const c = connect(`ws://127.0.0.1:${setup.port}`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { protocol: 'wsstar/2' } })
  setup.clients.push(c)
  const [server] = await connected
  await until(() => c.connected, 5000, 'client connected')
  return { client: c, server }
}

async function stop (setup: Setup): Promise<void> {
  for (const c of setup.clients) c.disconnect()
  await setup.io.close()
}

const engines: Array<[string, () => ServerOptions['wsEngine'] | undefined]> = [
  ['engine.io\'s own ws', () => undefined],
  ['the server\'s ws, as legacy mode plugs it in', () => legacy.webSocketServersPerProtocol(1024 * 1024) as unknown as ServerOptions['wsEngine']]
]

for (const [name, wsEngine] of engines) {
  describe(`contract: engine.io, ws and socket.io with ${name}`, { timeout: 60_000 }, () => {
    let setup: Setup

    before(async () => { setup = await start(wsEngine()) })
    after(async () => { await stop(setup) })

    it('the upgrade request: its Host is kept, then engine.io lets go of it (its shim\'s once-close listener was there and is gone; ws\'s own stays) and it is collected', async () => {
      const { client: c, server } = await client(setup)
      const seen = setup.upgrades.at(-1)
      assert.ok(seen != null)
      assert.equal(seen.onceCloseBefore, 1, 'engine.io\'s upgrade shim listens with once(\'close\')')
      assert.equal(seen.onceCloseAfter, 0)
      assert.ok(seen.closeAfter >= 1, 'ws still listens for the close')
      assert.equal(upgrade.upgradeHost(server.conn), `127.0.0.1:${setup.port}`)
      assert.equal(server.conn.request, null)
      v8.memoryReducingCollection()
      assert.equal(seen.request.deref(), undefined, 'nothing else holds the upgrade request')
      // the connection still works and still closes
      const disconnected = once(server, 'disconnect')
      c.disconnect()
      await disconnected
    })

    it('socket.io after keepHandshakeAuth: auth kept, events, acks, rooms and disconnect work', async () => {
      const { client: c, server } = await client(setup)
      assert.deepEqual(server.handshake, { auth: { protocol: 'wsstar/2' } })
      server.on('ping?', (n: number, ack: (m: number) => void) => { ack(n + 1) })
      assert.equal(await c.timeout(5000).emitWithAck('ping?', 41), 42)
      await server.join('room')
      const got = next(c, 'to-room')
      setup.io.to('room').emit('to-room', 'x')
      assert.deepEqual(await got, ['x'])
      await server.leave('room')
      assert.equal(setup.io.of('/').adapter.rooms.get('room'), undefined)
      const disconnected = once(server, 'disconnect')
      c.disconnect()
      await disconnected
    })

    it('packetCreate fires for every packet before it joins writeBuffer; a flush empties writeBuffer; a binary event is a "5" header then its bytes', async () => {
      const { client: c, server } = await client(setup)
      const conn = engine.engineSocketOf(server)
      const seen: Array<{ data: unknown, queuedBefore: number }> = []
      conn.on('packetCreate', (packet) => { seen.push({ data: packet.data, queuedBefore: engine.writeBufferLength(conn) }) })
      let flushes = 0
      conn.on('flush', () => { flushes++ })
      const got = next(c, 'd')
      server.emit('d', 'AAAAAAAAAAAAAAAAAAAAAA', Buffer.alloc(1000, 7))
      assert.equal(seen.length, 2)
      assert.equal(typeof seen[0].data, 'string')
      assert.equal((seen[0].data as string)[0], '5', 'a binary event\'s header starts with BINARY_EVENT')
      assert.equal((seen[1].data as Uint8Array).byteLength, 1000)
      // the header went out at once; the bytes wait while the websocket sends it
      assert.equal(engine.writeBufferLength(conn), seen[1].queuedBefore + 1, 'packetCreate is emitted before the packet joins the write buffer')
      const [, bytes] = await got as [string, Buffer]
      assert.equal(bytes.length, 1000)
      await until(() => engine.writeBufferLength(conn) === 0, 5000, 'the write buffer flushed')
      assert.ok(flushes >= 1)
      c.disconnect()
    })

    it('a client that stops reading: the write buffer and the websocket\'s bufferedAmount grow; once it reads again both drain to 0', async () => {
      const { client: c, server } = await client(setup)
      const conn = engine.engineSocketOf(server)
      clientTcp(c).pause()
      const chunk = Buffer.alloc(64 * 1024, 1)
      for (let i = 0; i < 200 && (engine.webSocketBufferedAmount(conn) === 0 || engine.writeBufferLength(conn) === 0); i++) {
        server.emit('d', 'AAAAAAAAAAAAAAAAAAAAAA', chunk)
        await new Promise(resolve => setTimeout(resolve, 5))
      }
      assert.ok(engine.webSocketBufferedAmount(conn) > 0, 'ws counts what the kernel would not take')
      assert.ok(engine.writeBufferLength(conn) > 0, 'engine.io holds packets while the websocket is busy')
      clientTcp(c).resume()
      await until(() => engine.webSocketBufferedAmount(conn) === 0 && engine.writeBufferLength(conn) === 0, 20_000, 'the backlog drained')
      c.disconnect()
    })

    it('terminate cuts a socket that does not read at once; terminateAll cuts every connection', async () => {
      const { client: a, server: sa } = await client(setup)
      const tcpA = setup.tcp.at(-1) as TcpSocket
      clientTcp(a).pause()
      // something queued that will never be read
      for (let i = 0; i < 50; i++) sa.emit('d', 'AAAAAAAAAAAAAAAAAAAAAA', Buffer.alloc(64 * 1024))
      const closedA = once(tcpA, 'close')
      engine.terminate(sa)
      assert.equal(sa.connected, false)
      await Promise.race([closedA, new Promise((resolve, reject) => setTimeout(() => { reject(new Error('the TCP connection stayed open')) }, 1000))])

      const { client: b } = await client(setup)
      const { client: c } = await client(setup)
      const tcps = setup.tcp.slice(-2)
      clientTcp(b).pause()
      clientTcp(c).pause()
      const closed = Promise.all(tcps.map(async t => await once(t, 'close')))
      engine.terminateAll(setup.io.engine)
      await Promise.race([closed, new Promise((resolve, reject) => setTimeout(() => { reject(new Error('a TCP connection stayed open')) }, 1000))])
      await until(() => setup.io.engine.clientsCount === 0, 1000, 'engine.io forgot the connections')
    })

    it('a frame pre-encoded with ws\'s Sender.frame, written with wsPreEncodedFrame, is the event the client reads, in order with the rest, in every length class', async () => {
      const { client: c, server } = await client(setup)
      const got: unknown[] = []
      c.on('ws-peers', (delta: unknown) => { got.push(delta) })
      const sent: unknown[] = []
      for (const length of [10, 1000, 100_000]) {
        const delta = { joined: ['x'.repeat(length)], left: [] }
        const data = `2${JSON.stringify(['ws-peers', delta])}`
        engine.writePreEncoded(engine.engineSocketOf(server), data, [wsInternals.textFrame(Buffer.from(`4${data}`))])
        sent.push(delta)
      }
      // on a websocket the frame is written as it is and `data` is not encoded again: a frame that says otherwise wins
      const data = `2${JSON.stringify(['ws-peers', { joined: ['from data'], left: [] }])}`
      const framed = `2${JSON.stringify(['ws-peers', { joined: ['from the frame'], left: [] }])}`
      engine.writePreEncoded(engine.engineSocketOf(server), data, [wsInternals.textFrame(Buffer.from(`4${framed}`))])
      sent.push({ joined: ['from the frame'], left: [] })
      server.emit('ws-peers', { joined: [], left: ['y'] })
      sent.push({ joined: [], left: ['y'] })
      await until(() => got.length === sent.length, 5000, 'every delta')
      assert.deepEqual(got, sent)
      c.disconnect()
    })

    it('a packet written as its frame only (no data): the websocket transport writes frames as they are, the client reads the event in order, packetCreate sees the frame and no data', async () => {
      const { client: c, server } = await client(setup)
      const conn = engine.engineSocketOf(server)
      assert.equal(engine.writesFramesAsTheyAre(conn), true, 'a websocket connection without per-message deflate')
      const seen: Array<{ data: unknown, frame: unknown }> = []
      conn.on('packetCreate', (packet) => { seen.push({ data: packet.data, frame: packet.options?.wsPreEncodedFrame }) })
      const got: unknown[] = []
      c.on('ws-peers', (delta: unknown) => { got.push(delta) })
      const sent: unknown[] = []
      for (const length of [10, 1000, 100_000]) {
        const delta = { joined: ['x'.repeat(length)], left: [] }
        const frame = wsInternals.textFrameParts(Buffer.from(`42${JSON.stringify(['ws-peers', delta])}`))
        engine.writeFrameOnly(conn, frame)
        sent.push(delta)
      }
      server.emit('ws-peers', { joined: [], left: ['y'] })
      sent.push({ joined: [], left: ['y'] })
      await until(() => got.length === sent.length, 5000, 'every delta')
      assert.deepEqual(got, sent)
      assert.equal(seen[0].data, undefined)
      assert.ok(Array.isArray(seen[0].frame) && (seen[0].frame as Buffer[]).every(b => Buffer.isBuffer(b)))
      c.disconnect()
    })
  })
}
