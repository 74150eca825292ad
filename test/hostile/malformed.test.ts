/**
 * Hostile: malformed input, against a real server process at log level
 * debug (the level that logs rejections).
 *
 * - fast-check drives sequences of calls on every event (and unknown ones)
 *   with wrong types, nested junk, huge strings and arrays, binary where
 *   text is expected, with and without acks, from unregistered, registered
 *   and dial-owning sockets. After every sequence the server must answer a
 *   probe; every request with an ack gets a well-formed answer.
 * - Raw engine.io / socket.io packets on a bare WebSocket: malformed JSON,
 *   reserved and non-string event names, binary events with absurd
 *   attachment counts (1e9) or dangling placeholders, binary frames where no
 *   packet expects them, oversize messages, unknown namespaces and packet
 *   types.
 *
 * Throughout, the process stays up, /health answers, rejections are counted
 * by code in /metrics (at least as many as the acks reported), and stdout
 * gets at most one line per bad input and no more than the rate limit
 * allows (20 lines/s plus a small burst).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ErrorCode } from '@wsstar/protocol'
import { closeClients, connect, dial, rawPeer, request } from '@wsstar/raw-client'
import { pEvent } from 'p-event'
import fc from 'fast-check'
import { logRecords, spawnServer } from './helpers/server-process.js'
import { sleep, waitFor } from '../helpers/wait.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { RawPeer } from '@wsstar/raw-client'
import type { Socket } from 'socket.io-client'

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode))
const REQUESTS = new Set(['ss-join', 'ss-leave', 'ss-dial'])
/** the rate limit of rejection log lines (rejections.ts) and its burst */
const LOG_LINES_PER_SECOND = 20
/** fixed lines besides the rate-limited ones: startup, the occasional unexpected-error warning burst */
const LOG_SLACK = 10

function nest (depth: number): unknown {
  let value: unknown = 'bottom'
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value }
  return value
}

describe('hostile: malformed input', { timeout: 90_000 }, () => {
  let server: ServerProcess
  /** stdout lines before the phase under test */
  let linesBefore = 0
  let phaseStarted = 0
  /** error codes the server answered to acked requests, by code */
  const answered: Record<string, number> = {}
  let badInputs = 0

  before(async () => {
    // the handshake timeout is long here: sockets that never join stay for the whole test
    // rate limits out of the way: this suite is about what malformed input does; the prober's one request per sequence must not hit the request budget
    server = await spawnServer(['--handshake-timeout', '120s', '--join-rate', '10000', '--join-burst', '10000', '--dial-rate', '10000', '--dial-burst', '10000', '--request-rate', '10000', '--request-burst', '10000', '--churn-rate', '10000', '--churn-burst', '10000', '--dial-timeout', '300ms'], { logLevel: 'debug' })
    linesBefore = server.lines.length
    phaseStarted = Date.now()
  })

  after(async () => {
    closeClients()
    const exit = await server?.stop()
    assert.equal(exit?.code, 0)
  })

  it('fast-check: random calls on every event never crash the server; every acked request gets a well-formed answer', { timeout: 60_000 }, async () => {
    let a: RawPeer | undefined
    let b: RawPeer | undefined
    let stranger: Socket | undefined
    let dialId = 'A'.repeat(22)
    // the sockets the calls come from; replaced when the server cuts one (oversize message, parse error)
    const fresh = async (): Promise<Socket[]> => {
      if (a == null || !a.socket.connected || b == null || !b.socket.connected) {
        a?.close()
        b?.close()
        a = await rawPeer(server.port)
        b = await rawPeer(server.port)
        dialId = await dial(a, b.address)
      }
      if (stranger == null || !stranger.connected) {
        stranger = await connect(server.port)
        const id = stranger.id
        stranger.on('disconnect', (reason) => { if (process.env.HOSTILE_DEBUG != null) console.log(`# stranger ${id} disconnected: ${reason}; server says ${server.lines.filter(l => l.includes(id ?? '?')).slice(-3).join(' | ').slice(0, 1000)}`) })
      }
      return [a.socket, b.socket, stranger]
    }
    await fresh()
    const prober = await connect(server.port)
    const hugeString = fc.integer({ min: 1000, max: 120_000 }).map(n => 'x'.repeat(n))
    const hugeArray = fc.integer({ min: 1000, max: 30_000 }).map(n => new Array(n).fill(7))
    const junk = fc.oneof(
      fc.anything({ maxDepth: 3, maxKeys: 5, withBigInt: false, withMap: false, withSet: false, withTypedArray: false, withBoxedValues: false }),
      hugeString,
      hugeArray,
      fc.integer({ min: 1, max: 300 }).map(nest),
      fc.uint8Array({ minLength: 0, maxLength: 70_000 }).map(u => Buffer.from(u)),
      fc.constantFrom(-1, 0, 1.5, 2 ** 53, -(2 ** 31), Number.MAX_VALUE, 'close-write', 'reset', '', '/', null, true, [], {},
        { signature: 'AAAA' }, { publicKey: 'AAAA' }, { signature: 5 }, { publicKey: ['x'] }, { code: 'ERR_PEER_GONE', message: 'x' },
        { code: { code: 'x' } }, JSON.parse('{"__proto__":{"polluted":true}}'), { constructor: { prototype: { polluted: true } } }),
      // the real things, so the validators get past the first check
      fc.constantFrom('dial', 'addrA', 'addrB').map(tag => ({ tag }))
    )
    const call = fc.record({
      from: fc.nat({ max: 2 }),
      event: fc.oneof(fc.constantFrom('ss-join', 'ss-leave', 'ss-dial', 'd', 'c', 'e', 'ss-incomming', 'ws-peers', 'ss-evicted', 'ss-shutdown'), fc.string({ maxLength: 20 })),
      args: fc.array(junk, { maxLength: 4 }),
      withAck: fc.boolean()
    })
    const resolveArg = (arg: unknown): unknown => {
      if (arg != null && typeof arg === 'object' && 'tag' in arg && Object.keys(arg).length === 1) {
        const tag = (arg as { tag: string }).tag
        return tag === 'dial' ? dialId : tag === 'addrA' ? a?.address : b?.address
      }
      return arg
    }
    const reserved = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'])
    let runs = 0
    // fast-check prints the whole counterexample, megabytes of junk here: keep the report readable
    const shortReport = (err: unknown): never => { throw new Error(String((err as Error).message).slice(0, 3000) + '...', { cause: (err as Error).cause }) }
    await fc.assert(fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 16 }), async (calls) => {
      runs++
      const sockets = await fresh()
      const acks: Array<Promise<void>> = []
      for (const c of calls) {
        if (reserved.has(c.event)) continue
        const socket = sockets[c.from]
        const args = c.args.map(resolveArg)
        badInputs++
        if (!c.withAck) {
          socket.emit(c.event, ...args)
          continue
        }
        if (!REQUESTS.has(c.event)) {
          socket.emit(c.event, ...args, () => {})
          continue
        }
        acks.push(new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            // a socket the server cut for this very message gets no answer
            if (!socket.connected) resolve()
            else reject(new Error(`no answer to ${c.event} within 5 s`))
          }, 5000)
          socket.once('disconnect', () => { clearTimeout(timer); resolve() })
          socket.emit(c.event, ...args, (err: any) => {
            clearTimeout(timer)
            if (err === null) {
              resolve()
              return
            }
            try {
              assert.ok(err != null && typeof err === 'object' && KNOWN_CODES.has(err.code) && typeof err.message === 'string', `malformed answer ${JSON.stringify(err)}`)
              answered[err.code] = (answered[err.code] ?? 0) + 1
              resolve()
            } catch (e) {
              reject(e)
            }
          })
        }))
      }
      await Promise.all(acks)
      // the server still answers, on a socket that never sent junk
      const [err] = await request(prober, 'ss-leave', 42)
      assert.equal(err?.code, 'ERR_INVALID_ADDRESS')
      answered.ERR_INVALID_ADDRESS = (answered.ERR_INVALID_ADDRESS ?? 0) + 1
      assert.ok(server.alive(), 'the server process is alive')
    }), { numRuns: 400, seed: 0x5eed, endOnFailure: true }).catch(shortReport)
    console.log(`# fast-check: ${runs} sequences, ${badInputs} calls; error answers by code ${JSON.stringify(answered)}`)
    assert.equal((await server.health()).status, 200)
  })

  it('raw socket.io / engine.io packets: absurd attachment counts, malformed JSON, stray binary, oversize frames', { timeout: 30_000 }, async () => {
    const url = `ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`
    /** a bare websocket after the engine.io open and (optionally) the socket.io connect */
    const raw = async (connectNamespace = true): Promise<{ ws: WebSocket, messages: Array<string | ArrayBuffer>, closed: Promise<number> }> => {
      const ws = new WebSocket(url)
      ws.binaryType = 'arraybuffer'
      const messages: Array<string | ArrayBuffer> = []
      const closed = new Promise<number>(resolve => { ws.addEventListener('close', (e) => { resolve(e.code) }) })
      ws.addEventListener('message', (e) => {
        if (e.data === '2') ws.send('3') // engine.io ping -> pong
        messages.push(e.data)
      })
      await pEvent(ws, 'open', { timeout: 5000 })
      await waitFor(() => messages.some(m => typeof m === 'string' && m.startsWith('0{')), 5000, 'engine.io open')
      if (connectNamespace) {
        ws.send('40{"protocol":"wsstar/2"}')
        await waitFor(() => messages.some(m => typeof m === 'string' && m.startsWith('40{')), 5000, 'socket.io connect')
      }
      return { ws, messages, closed }
    }

    // each case: what to send; whether the server must close the connection for it
    const cases: Array<{ name: string, send: Array<string | Uint8Array>, closes: boolean | 'either', connect?: boolean }> = [
      { name: 'binary event claiming 1e9 attachments', send: ['41000000000-["d",{"_placeholder":true,"num":0}]'], closes: true },
      { name: 'binary event claiming 11 attachments (over the parser limit)', send: ['411-["d",{"_placeholder":true,"num":0}]'], closes: true },
      { name: 'binary event, negative attachment count', send: ['45-1-["d",{"_placeholder":true,"num":0}]'], closes: true },
      { name: 'binary event, attachment count not a number', send: ['45x-["d"]'], closes: true },
      { name: 'binary event, then text instead of its attachment', send: ['451-["d",{"_placeholder":true,"num":0}]', '42["ss-leave",1]'], closes: true },
      { name: 'placeholder pointing past the attachments', send: ['451-["d","AAAAAAAAAAAAAAAAAAAAAA",{"_placeholder":true,"num":5}]', new Uint8Array([1, 2, 3])], closes: true },
      { name: 'placeholder with a non-numeric num', send: ['451-["d","AAAAAAAAAAAAAAAAAAAAAA",{"_placeholder":true,"num":"0"}]', new Uint8Array([1])], closes: true },
      { name: '10 attachments of 120 KiB each (parser limit, per-message limit)', send: ['4510-["d",' + Array.from({ length: 10 }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(',') + ']', ...Array.from({ length: 10 }, () => new Uint8Array(120 * 1024))], closes: false },
      { name: 'binary frame with no binary event pending', send: [new Uint8Array([4, 5, 6])], closes: true },
      { name: 'malformed JSON', send: ['42["ss-join",'], closes: true },
      { name: 'event name not a string', send: ['42[42,"x"]'], closes: false },
      { name: 'event payload not an array', send: ['42{"ss-join":1}'], closes: true },
      { name: 'empty event array', send: ['42[]'], closes: true },
      { name: 'reserved event names', send: ['42["disconnect"]', '42["connect"]', '42["connect_error",{}]', '42["newListener","x"]', '42["removeListener","x"]', '42["disconnecting"]'], closes: true },
      { name: 'prototype keys as events and payloads', send: ['42["__proto__",{"polluted":1}]', '42["constructor"]', '42["hasOwnProperty"]', '421["ss-join","/x",{"__proto__":{"signature":"AAAA"}}]'], closes: false },
      { name: 'acks for acks never requested', send: ['43[null]', '4399999999999[{"code":"x"}]'], closes: false },
      { name: 'an ack with a non-numeric id', send: ['43abc[1]'], closes: true },
      { name: 'unknown socket.io packet types', send: ['47', '49["x"]', '4'], closes: true },
      { name: 'unknown namespace', send: ['40/admin,{}'], closes: false },
      { name: 'unknown engine.io packet types and noise', send: ['9', '6', '5', 'garbage', ''], closes: true },
      { name: 'socket.io connect twice', send: ['40{"protocol":"wsstar/2"}'], closes: 'either' },
      { name: 'ss-join with a 100 KiB address, acked', send: ['421["ss-join","' + 'a'.repeat(100 * 1024) + '",{}]'], closes: false },
      { name: 'an event over the 128 KiB message limit', send: ['42["ss-join","' + 'a'.repeat(200 * 1024) + '"]'], closes: true },
      { name: 'a binary frame over the message limit', send: ['451-["d","AAAAAAAAAAAAAAAAAAAAAA",{"_placeholder":true,"num":0}]', new Uint8Array(200 * 1024)], closes: true },
      { name: 'events before the socket.io connect', send: ['42["ss-join","x"]', '421["ss-dial","a","b"]'], closes: true, connect: false }
    ]
    const results: string[] = []
    for (const c of cases) {
      const { ws, messages, closed } = await raw(c.connect ?? true)
      for (const frame of c.send) {
        badInputs++
        ws.send(frame)
      }
      let code: number | undefined
      const closedInTime = await Promise.race([closed.then(n => { code = n; return true }), sleep(c.closes === true ? 3000 : 300).then(() => false)])
      if (c.closes === 'either') {
        ws.close()
      } else if (c.closes) {
        assert.ok(closedInTime, `${c.name}: the server closes the connection`)
      } else {
        assert.ok(!closedInTime, `${c.name}: the connection stays up`)
        // and is still served: an acked request gets its answer
        ws.send('4277["ss-leave",1]')
        await waitFor(() => messages.some(m => m === '4377[{"code":"ERR_INVALID_ADDRESS","message":"address must be a string"}]'), 3000, `${c.name}: the probe answer`)
        ws.close()
      }
      results.push(`${c.name}: ${closedInTime ? `closed (${String(code)})` : 'served'}`)
      assert.ok(server.alive(), `${c.name}: the server survived`)
      assert.equal((await server.health()).status, 200, `${c.name}: /health answers`)
    }
    console.log(`# raw packets:\n#   ${results.join('\n#   ')}`)
  })

  it('rejections are counted by code in /metrics; stdout got at most a line per bad input, rate limited', async () => {
    const rejected = await server.metricsOf('wsstar_rejected_total')
    for (const [code, n] of Object.entries(answered)) {
      assert.ok((rejected[`code="${code}"`] ?? 0) >= n, `${code}: ${rejected[`code="${code}"`] ?? 0} counted, ${n} answered`)
    }
    const total = Object.values(rejected).reduce((s, n) => s + n, 0)
    await sleep(200) // let the last lines arrive
    const lines = server.lines.length - linesBefore
    const seconds = (Date.now() - phaseStarted) / 1000
    const bound = Math.ceil(seconds * LOG_LINES_PER_SECOND) + LOG_LINES_PER_SECOND + LOG_SLACK
    const records = logRecords(server).slice(linesBefore)
    const byMsg: Record<string, number> = {}
    for (const r of records) byMsg[String(r.msg).slice(0, 60)] = (byMsg[String(r.msg).slice(0, 60)] ?? 0) + 1
    console.log(`# ${badInputs} bad inputs, ${total} rejections counted, ${lines} log lines in ${seconds.toFixed(1)} s (bound ${bound}); by message ${JSON.stringify(byMsg)}`)
    assert.ok(lines <= badInputs, `${lines} lines for ${badInputs} bad inputs`)
    assert.ok(lines <= bound, `${lines} log lines in ${seconds.toFixed(1)} s, bound ${bound}`)
    assert.ok(records.every(r => r.level < 50), 'nothing logged at error or fatal')
    assert.ok(records.some(r => r.suppressed > 0), 'the rate limit suppressed lines (and said how many)')
    assert.ok(server.alive())
  })
})
