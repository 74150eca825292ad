/**
 * Hostile: per-IP limits. One address (here 127.0.0.1) cannot hold more than
 * `--max-sockets-per-ip` sockets (refused at connect with ERR_LIMIT_EXCEEDED)
 * nor start more joins than `--join-rate-per-ip` / `--join-burst-per-ip`
 * allow (ERR_RATE_LIMITED); a peer from another address (127.0.0.2) still
 * connects and joins. `X-Forwarded-For` names the client only when the
 * connection comes from a `--trusted-proxies` address.
 *
 * This suite's other servers run with the per-IP limits raised
 * (helpers/server-process.ts): all their clients share 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { ConnectRefused, closeClients, connect, identity, peerAddress, tryJoinBySocketId } from '@wsstar/raw-client'
import { spawnServer } from './helpers/server-process.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { Socket } from 'socket.io-client'

/** Connects from `localAddress`; resolves the socket, or the code the refusal carried. */
async function open (port: number, localAddress: string, forwardedFor?: string): Promise<Socket | string> {
  try {
    return await connect(port, { localAddress, ...(forwardedFor == null ? {} : { headers: { 'x-forwarded-for': forwardedFor } }) })
  } catch (err) {
    if (!(err instanceof ConnectRefused)) throw err
    return err.data?.code ?? `no code: ${err.message}`
  }
}

function connected (result: Socket | string): Socket {
  assert.ok(typeof result !== 'string', `refused: ${String(result)}`)
  return result
}

/** A one-request join of a fresh Ed25519 peer on `socket`; resolves the error code or 'ok'. */
async function joinOnce (port: number, socket: Socket): Promise<string> {
  const me = await identity()
  const [err] = await tryJoinBySocketId(socket, me, peerAddress(port, me))
  return err?.code ?? 'ok'
}

describe('hostile: per-IP limits', { timeout: 60_000 }, () => {
  let server: ServerProcess | undefined

  afterEach(async () => {
    closeClients()
    const exit = await server?.stop()
    assert.equal(exit?.code, 0, 'the server exits 0 on SIGTERM')
    server = undefined
  })

  it('default options: one address gets 256 sockets, the 257th is refused at connect (ERR_LIMIT_EXCEEDED); another address still joins', async () => {
    server = await spawnServer([], { defaultPerIpLimits: true })
    const port = server.port
    const results = []
    for (let i = 0; i < 257; i++) results.push(await open(port, '127.0.0.1'))
    const refused = results.filter(r => typeof r === 'string')
    assert.deepEqual(refused, ['ERR_LIMIT_EXCEEDED'], `${results.length - refused.length} of 257 sockets from one address connected`)
    assert.equal(typeof results[256], 'string', 'the last one is refused')
    const honest = connected(await open(port, '127.0.0.2'))
    assert.equal(await joinOnce(port, honest), 'ok', 'a peer from another IP joins')
  })

  it('sockets per IP: the one over --max-sockets-per-ip is refused at connect (ERR_LIMIT_EXCEEDED); another IP still joins; a freed slot is usable again', async () => {
    server = await spawnServer(['--max-sockets-per-ip', '4'])
    const port = server.port
    const mine = []
    for (let i = 0; i < 4; i++) mine.push(connected(await open(port, '127.0.0.1')))
    assert.equal(await open(port, '127.0.0.1'), 'ERR_LIMIT_EXCEEDED')
    assert.ok(await server.metric('wsstar_limit_hits_total{limit="max-sockets-per-ip"}') >= 1)
    assert.equal(await server.metric('wsstar_limit{limit="max-sockets-per-ip"}'), 4)
    const honest = connected(await open(port, '127.0.0.2'))
    assert.equal(await joinOnce(port, honest), 'ok', 'a peer from another IP joins')
    mine[0].disconnect()
    const deadline = Date.now() + 5000
    let again: Socket | string = 'ERR_LIMIT_EXCEEDED'
    while (again === 'ERR_LIMIT_EXCEEDED' && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 50))
      again = await open(port, '127.0.0.1')
    }
    assert.equal(await joinOnce(port, connected(again)), 'ok', 'the freed slot takes a new socket')
  })

  it('joins per IP: past --join-burst-per-ip at --join-rate-per-ip, joins get ERR_RATE_LIMITED (counted); another IP still joins', async () => {
    server = await spawnServer(['--join-rate-per-ip', '0.5', '--join-burst-per-ip', '4', '--join-rate', '1000', '--join-burst', '1000'])
    const port = server.port
    const flood = []
    for (let i = 0; i < 4; i++) flood.push(connected(await open(port, '127.0.0.1')))
    const codes = await Promise.all(flood.flatMap(s => [joinOnce(port, s), joinOnce(port, s)]))
    assert.deepEqual(codes.sort(), ['ERR_RATE_LIMITED', 'ERR_RATE_LIMITED', 'ERR_RATE_LIMITED', 'ERR_RATE_LIMITED', 'ok', 'ok', 'ok', 'ok'])
    assert.equal(await server.metric('wsstar_limit_hits_total{limit="join-rate-per-ip"}'), 4)
    const honest = connected(await open(port, '127.0.0.2'))
    assert.equal(await joinOnce(port, honest), 'ok', 'a peer from another IP joins')
  })

  it('X-Forwarded-For names the client only from a trusted proxy', async () => {
    server = await spawnServer(['--max-sockets-per-ip', '2', '--trusted-proxies', '127.0.0.1'])
    const port = server.port
    // through the trusted proxy: per client address
    connected(await open(port, '127.0.0.1', '203.0.113.7'))
    connected(await open(port, '127.0.0.1', '203.0.113.7'))
    assert.equal(await open(port, '127.0.0.1', '203.0.113.7'), 'ERR_LIMIT_EXCEEDED')
    const other = connected(await open(port, '127.0.0.1', '203.0.113.8'))
    assert.equal(await joinOnce(port, other), 'ok')
    // a client that forges the header on its way through the proxy: the proxy appends the real address
    connected(await open(port, '127.0.0.1', '203.0.113.7, 198.51.100.9'))
    // not a trusted proxy: the header is ignored, the socket counts for 127.0.0.2 whatever it says
    connected(await open(port, '127.0.0.2', '198.51.100.1'))
    connected(await open(port, '127.0.0.2', '198.51.100.2'))
    assert.equal(await open(port, '127.0.0.2', '198.51.100.3'), 'ERR_LIMIT_EXCEEDED')
  })
})
