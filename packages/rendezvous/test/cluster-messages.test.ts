/**
 * The cluster link's message codec, without Redis: framing (one message or
 * a batch), every body's encode and decode, and what malformed input does
 * (a ClusterMessageError, never another throw, never a wrong value).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EndKind, ErrorCode, MAX_WINDOW_BYTES } from '@wsstar/protocol'
import fc from 'fast-check'
import {
  BATCH, ClusterMessage, ClusterMessageError, MESSAGE_KINDS, decodeAnswer, decodeChannelMessage, decodeCredit, decodeData, decodeDialRequest, decodeEnd,
  decodeEviction, decodeGone, decodeNamespacePeers, decodePeers, encodeAnswer, encodeCredit, encodeDialRequest, encodeEnd, encodeEviction, encodeGone, encodeNamespacePeers, encodePeers, isClusterMessage
} from '../src/cluster/cluster-messages.js'

type Decoded = [number, string, string]

/** Decodes `message`; the messages handed over before any throw, and the error. */
function decodeAll (message: Buffer): { messages: Decoded[], error?: unknown } {
  const messages: Decoded[] = []
  try {
    decodeChannelMessage(message, (type, id, body) => { messages.push([type, id, body.toString('latin1')]) })
    return { messages }
  } catch (error) {
    return { messages, error }
  }
}

function single (type: number, id: string, body: string): Buffer {
  return Buffer.concat([Buffer.from([type, id.length]), Buffer.from(id, 'latin1'), Buffer.from(body, 'latin1')])
}

function batchEntry (type: number, id: string, body: string): Buffer {
  const header = Buffer.alloc(6)
  header[0] = type
  header[1] = id.length
  header.writeUInt32BE(Buffer.byteLength(body, 'latin1'), 2)
  return Buffer.concat([header, Buffer.from(id, 'latin1'), Buffer.from(body, 'latin1')])
}

function batch (...entries: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([BATCH]), ...entries])
}

const buffer = (s: string): Buffer => Buffer.from(s)
const ID = 'AAAAAAAAAAAAAAAAAAAAAA'

describe('cluster messages: framing', () => {
  it('one message: type, id and body', () => {
    assert.deepEqual(decodeAll(single(ClusterMessage.TO_CREDIT, ID, '4096')), { messages: [[ClusterMessage.TO_CREDIT, ID, '4096']] })
    assert.deepEqual(decodeAll(single(ClusterMessage.FORGET, ID, '')), { messages: [[ClusterMessage.FORGET, ID, '']] })
    assert.deepEqual(decodeAll(single(ClusterMessage.EVICT, '', '{}')), { messages: [[ClusterMessage.EVICT, '', '{}']] })
  })

  it('a batch: every message in order, empty bodies and ids included', () => {
    const message = batch(batchEntry(ClusterMessage.DATA, ID, 'abc'), batchEntry(ClusterMessage.CREDIT, ID, '7'), batchEntry(ClusterMessage.FORGET, ID, ''), batchEntry(ClusterMessage.EVICT, '', 'x'))
    assert.deepEqual(decodeAll(message), { messages: [[ClusterMessage.DATA, ID, 'abc'], [ClusterMessage.CREDIT, ID, '7'], [ClusterMessage.FORGET, ID, ''], [ClusterMessage.EVICT, '', 'x']] })
  })

  it('types it does not know are handed over as they are (a newer replica\'s), and are not cluster messages of this version', () => {
    assert.deepEqual(decodeAll(single(200, ID, 'x')).messages, [[200, ID, 'x']])
    assert.equal(isClusterMessage(200), false)
    assert.equal(isClusterMessage(BATCH), false)
    assert.equal(isClusterMessage(MESSAGE_KINDS.length), false)
    for (const type of Object.values(ClusterMessage)) {
      assert.equal(isClusterMessage(type), true)
      assert.notEqual(MESSAGE_KINDS[type], '')
    }
  })

  const broken: Record<string, { message: Buffer, before: number }> = {
    'an empty message': { message: Buffer.alloc(0), before: 0 },
    'a lone type byte': { message: Buffer.from([ClusterMessage.DATA]), before: 0 },
    'a batch byte alone (the encoder never writes an empty batch)': { message: Buffer.from([BATCH]), before: 0 },
    'an id longer than the message': { message: Buffer.from([ClusterMessage.DATA, 30, 65, 65]), before: 0 },
    'a batch whose header is cut': { message: Buffer.concat([batch(batchEntry(ClusterMessage.DATA, ID, 'a')), Buffer.from([ClusterMessage.DATA, 22, 0])]), before: 1 },
    'a batch whose body is cut': { message: batch(batchEntry(ClusterMessage.DATA, ID, 'a'), batchEntry(ClusterMessage.DATA, ID, 'abcdef').subarray(0, 30)), before: 1 },
    'a batch whose body length runs past the end': { message: (() => { const m = batch(batchEntry(ClusterMessage.DATA, ID, 'a')); m.writeUInt32BE(0xffffffff, 3); return m })(), before: 0 }
  }
  for (const [name, { message, before }] of Object.entries(broken)) {
    it(`${name}: a ClusterMessageError, after the messages before the break`, () => {
      const { messages, error } = decodeAll(message)
      assert.ok(error instanceof ClusterMessageError, String(error))
      assert.equal(messages.length, before)
    })
  }

  it('random bytes: either messages within the input or a ClusterMessageError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, asBatch) => {
      const message = Buffer.from(bytes)
      if (asBatch && message.length > 0) message[0] = BATCH
      let bodyBytes = 0
      try {
        decodeChannelMessage(message, (type, id, body) => {
          assert.ok(type >= 0 && type <= 255)
          assert.ok(id.length <= 255)
          bodyBytes += body.length
        })
      } catch (err) {
        assert.ok(err instanceof ClusterMessageError, String(err))
      }
      assert.ok(bodyBytes <= message.length)
    }), { numRuns: 2000 })
  })
})

describe('cluster messages: bodies', () => {
  it('round trips', () => {
    const request = { from: `/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/${ID}`, to: '12D3KooWPeer', socketId: 'abcdefghijklmnopqrst', home: 'host-1.example:42' }
    assert.deepEqual(decodeDialRequest(buffer(encodeDialRequest(request))), request)
    assert.equal(decodeAnswer(buffer(encodeAnswer())), undefined)
    const error = { code: ErrorCode.DIAL_REFUSED, message: 'the callee declined the dial: busy' }
    assert.deepEqual(decodeAnswer(buffer(encodeAnswer(error))), error)
    for (const n of [1, 4096, MAX_WINDOW_BYTES]) {
      assert.equal(decodeCredit(buffer(encodeCredit(n))), n)
    }
    assert.deepEqual(decodeEnd(buffer(encodeEnd(EndKind.CLOSE_WRITE))), { kind: EndKind.CLOSE_WRITE })
    assert.deepEqual(decodeEnd(buffer(encodeEnd(EndKind.RESET, error))), { kind: EndKind.RESET, error })
    assert.deepEqual(decodeGone(buffer(encodeGone({ code: ErrorCode.PEER_GONE, message: 'the other end left' }))), { code: ErrorCode.PEER_GONE, message: 'the other end left' })
    assert.deepEqual(decodeEviction(buffer(encodeEviction({ peerId: '12D3KooWPeer', socketId: 'abc' }))), { peerId: '12D3KooWPeer', socketId: 'abc' })
    const delta = { joined: [`/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/12D3KooWGzCZy8pZ4Ym1ZhnCF5Msm4pu1FZLLA2E1yUDwK5vWKpB`], left: [] }
    assert.deepEqual(decodePeers(buffer(encodePeers(delta))), delta)
    assert.deepEqual(decodeNamespacePeers(buffer(encodeNamespacePeers('my-app', delta))), { namespace: 'my-app', delta })
    const frame = Buffer.from([1, 2, 3])
    assert.equal(decodeData(frame), frame, 'data is handed on as it is, not copied')
  })

  it('the encodings other replicas of this version read: fixed', () => {
    assert.equal(encodeCredit(65536), '65536')
    assert.equal(encodeEnd(EndKind.RESET), '["reset"]')
    assert.equal(encodeAnswer(), '{}')
    assert.equal(encodeDialRequest({ from: 'f', to: 't', socketId: 's', home: 'h' }), '{"from":"f","to":"t","socketId":"s","home":"h"}')
  })

  const malformed: Record<string, () => unknown> = {
    'a dial request that is not JSON': () => decodeDialRequest(buffer('{"from":')),
    'a dial request that is an array': () => decodeDialRequest(buffer('["f","t","s","h"]')),
    'a dial request without a home': () => decodeDialRequest(buffer('{"from":"f","to":"t","socketId":"s"}')),
    'a dial request whose home names another channel': () => decodeDialRequest(buffer('{"from":"f","to":"t","socketId":"s","home":"h x"}')),
    'a dial request with an oversized socket id': () => decodeDialRequest(buffer(JSON.stringify({ from: 'f', to: 't', socketId: 's'.repeat(65), home: 'h' }))),
    'a dial request with a number for an address': () => decodeDialRequest(buffer('{"from":1,"to":"t","socketId":"s","home":"h"}')),
    'an answer that is not an object': () => decodeAnswer(buffer('"ok"')),
    'empty data': () => decodeData(Buffer.alloc(0)),
    'data over the frame size': () => decodeData(Buffer.alloc(64 * 1024 + 1)),
    'an empty credit': () => decodeCredit(buffer('')),
    'a zero credit': () => decodeCredit(buffer('0')),
    'a negative credit': () => decodeCredit(buffer('-1')),
    'a fractional credit': () => decodeCredit(buffer('1.5')),
    'a credit in hex': () => decodeCredit(buffer('0x10')),
    'a credit over the largest window': () => decodeCredit(buffer(String(MAX_WINDOW_BYTES + 1))),
    'a credit of ten digits': () => decodeCredit(buffer('1000000000')),
    'an end that is an object': () => decodeEnd(buffer('{"kind":"reset"}')),
    'an end of another kind': () => decodeEnd(buffer('["close"]')),
    'an end with three elements': () => decodeEnd(buffer('["reset",null,1]')),
    'an empty end': () => decodeEnd(buffer('[]')),
    'a gone that is not JSON': () => decodeGone(buffer('gone')),
    'an eviction without a socket id': () => decodeEviction(buffer('{"peerId":"p"}')),
    'peers that are not a delta': () => decodePeers(buffer('{"joined":"x"}')),
    'namespace peers without a namespace': () => decodeNamespacePeers(buffer('{"joined":[],"left":[]}')),
    'namespace peers with an empty namespace': () => decodeNamespacePeers(buffer('{"namespace":"","joined":[],"left":[]}')),
    'namespace peers with a namespace holding a space': () => decodeNamespacePeers(buffer('{"namespace":"a b","joined":[],"left":[]}')),
    'namespace peers that are an array': () => decodeNamespacePeers(buffer('["a",[],[]]'))
  }
  for (const [name, decode] of Object.entries(malformed)) {
    it(`${name}: a ClusterMessageError`, () => {
      assert.throws(decode, ClusterMessageError)
    })
  }

  it('an error that is not a wire error is not passed on as it came: ERR_BAD_REQUEST', () => {
    assert.deepEqual(decodeEnd(buffer('["reset",{"code":"ERR_NOPE","message":"<script>"}]')).error?.code, ErrorCode.BAD_REQUEST)
    assert.deepEqual(decodeAnswer(buffer('{"error":42}'))?.code, ErrorCode.BAD_REQUEST)
    assert.deepEqual(decodeGone(buffer('null')).code, ErrorCode.BAD_REQUEST)
    assert.equal(decodeEnd(buffer(`["reset",{"code":"ERR_PEER_GONE","message":"${'x'.repeat(2000)}"}]`)).error?.message.length, 512)
  })

  it('random bodies: a value or a ClusterMessageError, nothing else', () => {
    const decoders = [decodeDialRequest, decodeAnswer, decodeCredit, decodeEnd, decodeGone, decodeEviction, decodePeers, decodeNamespacePeers]
    const body = fc.oneof(fc.uint8Array({ maxLength: 200 }).map(b => Buffer.from(b)), fc.json().map(buffer))
    fc.assert(fc.property(body, (bytes) => {
      for (const decode of decoders) {
        try {
          decode(bytes)
        } catch (err) {
          assert.ok(err instanceof ClusterMessageError, `${decode.name}: ${String(err)}`)
        }
      }
    }), { numRuns: 1000 })
  })
})
