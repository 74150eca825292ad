import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, MAX_FRAME_BYTES, WsStarError, createDialId, parseCreditFrame, parseDataFrame, parseDialAck, parseDialId, parseEndFrame, parseJoinAck, parseJoinRequest, parsePeersDelta, parseClusterUpdate, MAX_CLUSTER_SERVERS, creditBatchBytes, DEFAULT_WINDOW_BYTES } from '../src/index.js'
import type { JoinResult } from '../src/index.js'

const ADDR = '/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/p2p/12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB'

function code (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof WsStarError)
    return err.code
  }
  return 'no error'
}

describe('payload validation', () => {
  it('parses both join steps and rejects ambiguous or junk data', () => {
    assert.deepEqual(parseJoinRequest(ADDR, undefined).step, { kind: 'hello' })
    assert.deepEqual(parseJoinRequest(ADDR, { publicKey: 'abc' }).step, { kind: 'hello', publicKey: 'abc' })
    assert.deepEqual(parseJoinRequest(ADDR, { signature: 'sig' }).step, { kind: 'proof', signature: 'sig' })
    assert.equal(code(() => parseJoinRequest(ADDR, { publicKey: 'a', signature: 'b' })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, 'legacy-hex-string')), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, [1, 2])), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, { signature: 'x'.repeat(5000) })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, { publicKey: 7 })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(12, undefined)), ErrorCode.INVALID_ADDRESS)
  })

  it('parses the one-round-trip join (signature over the socket id) and rejects it incomplete or oversized', () => {
    assert.deepEqual(parseJoinRequest(ADDR, { sid: 'abc', signature: 'sig' }).step, { kind: 'socket-proof', sid: 'abc', signature: 'sig' })
    assert.deepEqual(parseJoinRequest(ADDR, { sid: 'abc', signature: 'sig', publicKey: 'key' }).step,
      { kind: 'socket-proof', sid: 'abc', signature: 'sig', publicKey: 'key' })
    assert.equal(code(() => parseJoinRequest(ADDR, { sid: 'abc' })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, { sid: 5, signature: 'sig' })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, { sid: 'x'.repeat(65), signature: 'sig' })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, { sid: 'abc', signature: 'x'.repeat(5000) })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinRequest(ADDR, { sid: 'abc', signature: 'sig', publicKey: ['k'] })), ErrorCode.BAD_REQUEST)
  })

  it('accepts only server-shaped dial ids', () => {
    const id = createDialId()
    assert.equal(parseDialId(id), id)
    assert.notEqual(createDialId(), id)
    for (const bad of [undefined, 1, 'short', `${id}x`, 'a'.repeat(21) + '!', {}]) {
      assert.equal(code(() => parseDialId(bad)), ErrorCode.BAD_REQUEST)
    }
  })

  it('bounds data, credit and end frames', () => {
    const id = createDialId()
    assert.equal(parseDataFrame(id, new Uint8Array(MAX_FRAME_BYTES)).bytes.byteLength, MAX_FRAME_BYTES)
    assert.equal(code(() => parseDataFrame(id, new Uint8Array(MAX_FRAME_BYTES + 1))), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseDataFrame(id, new Uint8Array(0))), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseDataFrame(id, 'text')), ErrorCode.BAD_REQUEST)
    assert.equal(parseCreditFrame(id, 1024).bytes, 1024)
    for (const bad of [0, -1, 1.5, Number.NaN, '10', 2 ** 40]) {
      assert.equal(code(() => parseCreditFrame(id, bad)), ErrorCode.BAD_REQUEST)
    }
    assert.deepEqual(parseEndFrame(id, 'close-write'), { dialId: id, kind: 'close-write' })
    assert.deepEqual(parseEndFrame(id, 'reset', { code: 'ERR_FLOW_CONTROL', message: 'm' }).error, { code: 'ERR_FLOW_CONTROL', message: 'm' })
    assert.deepEqual(parseEndFrame(id, 'reset', { code: 'EVIL', message: 'm' }).error?.code, ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseEndFrame(id, 'half')), ErrorCode.BAD_REQUEST)
  })

  it('checks what the server sends to clients', () => {
    assert.deepEqual(parseJoinAck({ nonce: 'n' }), { nonce: 'n' })
    assert.deepEqual(parseJoinAck({ peers: [ADDR, 5], window: 1024, maxFrame: 512 }), { peers: [ADDR], window: 1024, maxFrame: 512 })
    assert.deepEqual(parseJoinAck({ peers: [], window: 1024, maxFrame: 512, verified: true }), { peers: [], window: 1024, maxFrame: 512, verified: true })
    assert.deepEqual(parseJoinAck({ peers: [], window: 1024, maxFrame: 512, verified: 'yes' }), { peers: [], window: 1024, maxFrame: 512 })
    assert.equal(code(() => parseJoinAck({ peers: [], window: -1, maxFrame: 1 })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinAck(null)), ErrorCode.BAD_REQUEST)
    assert.deepEqual(parsePeersDelta({ joined: [ADDR], left: undefined }), { joined: [ADDR], left: [] })
    assert.equal(code(() => parsePeersDelta({ joined: new Array(5000).fill(ADDR) })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseDialAck({ dialId: '../../x' })), ErrorCode.BAD_REQUEST)
  })

  it('keeps the server addresses of a join answer\'s cluster and of ws-cluster, nothing else', () => {
    const cluster = ['/ip4/10.0.0.1/tcp/13579/ws', '/dns4/star.example.com/tcp/443/wss', 'not a multiaddr', 5, '/ip4/1.2.3.4/tcp/1', ADDR, 'x'.repeat(5000)]
    assert.deepEqual((parseJoinAck({ peers: [], window: 1024, maxFrame: 512, cluster }) as JoinResult).cluster, ['/ip4/10.0.0.1/tcp/13579/ws', '/dns4/star.example.com/tcp/443/wss'])
    assert.equal((parseJoinAck({ peers: [], window: 1024, maxFrame: 512 }) as JoinResult).cluster, undefined)
    assert.equal(code(() => parseJoinAck({ peers: [], window: 1024, maxFrame: 512, cluster: 'all' })), ErrorCode.BAD_REQUEST)
    assert.equal(code(() => parseJoinAck({ peers: [], window: 1024, maxFrame: 512, cluster: new Array(MAX_CLUSTER_SERVERS + 1).fill('/ip4/10.0.0.1/tcp/1/ws') })), ErrorCode.BAD_REQUEST)
    assert.deepEqual(parseClusterUpdate({ cluster: ['/ip4/10.0.0.1/tcp/1/ws'] }), ['/ip4/10.0.0.1/tcp/1/ws'])
    assert.equal(code(() => parseClusterUpdate(['/ip4/10.0.0.1/tcp/1/ws'])), ErrorCode.BAD_REQUEST)
  })

  it('batches credit grants at a quarter of the window', () => {
    assert.equal(creditBatchBytes(DEFAULT_WINDOW_BYTES), DEFAULT_WINDOW_BYTES / 4)
  })

  it('turns foreign error objects into safe errors', () => {
    assert.equal(WsStarError.fromWire('boom').code, ErrorCode.BAD_REQUEST)
    assert.equal(WsStarError.fromWire({ code: 'ERR_PEER_NOT_FOUND', message: 'x'.repeat(2000) }).message.length, 512)
  })
})
