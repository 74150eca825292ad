import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { BATCH, decodeChannelMessage } from '../src/cluster/cluster-messages.js'
import { encodeSpublish } from '../src/cluster/spublish.js'
import type { SpublishMessages } from '../src/cluster/spublish.js'

function messages (list: Array<[number, string, string | Uint8Array]>): SpublishMessages {
  const bodyLengths = list.map(([, , b]) => typeof b === 'string' ? Buffer.byteLength(b) : b.byteLength)
  return {
    types: list.map(([t]) => t),
    ids: list.map(([, id]) => id),
    bodies: list.map(([, , b]) => b),
    bodyLengths,
    bytes: list.reduce((a, [, id], i) => a + 6 + id.length + bodyLengths[i], 0)
  }
}

/** Parses one RESP array of bulk strings. */
function parseResp (bytes: Buffer): Buffer[] {
  let at = 0
  const line = (): string => {
    const end = bytes.indexOf('\r\n', at)
    const s = bytes.subarray(at, end).toString('latin1')
    at = end + 2
    return s
  }
  const count = Number(line().slice(1))
  const out: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const length = Number(line().slice(1))
    out.push(bytes.subarray(at, at + length))
    at += length + 2
  }
  assert.equal(at, bytes.byteLength, 'nothing after the command')
  return out
}

describe('encodeSpublish (cluster link)', () => {
  const id = 'AAAAAAAAAAAAAAAAAAAAAA'
  const big = new Uint8Array(randomBytes(64 * 1024))
  const cases: Record<string, SpublishMessages> = {
    'one small message': messages([[9, id, '1024']]),
    'one 64 KiB frame': messages([[1, id, big]]),
    'a batch of frames, credits, ends and an empty body': messages([[1, id, big], [2, id, '65536'], [5, id, '["close-write"]'], [7, id, ''], [1, id, big.subarray(100, 40_000)]]),
    'a small batch': messages([[2, id, '1'], [2, id, '2']])
  }
  for (const [name, m] of Object.entries(cases)) {
    it(`${name}: the gathered parts are byte for byte the copied buffer, a valid RESP SPUBLISH`, () => {
      const copied = encodeSpublish('wsstar:to:node-1', m, Infinity)
      assert.equal(copied.length, 1)
      const gathered = encodeSpublish('wsstar:to:node-1', m, 0)
      assert.deepEqual(Buffer.concat(gathered), copied[0])
      const [command, channel, message] = parseResp(copied[0])
      assert.equal(command.toString(), 'SPUBLISH')
      assert.equal(channel.toString(), 'wsstar:to:node-1')
      if (m.types.length === 1) {
        assert.equal(message[0], m.types[0])
        assert.equal(message[1], id.length)
        assert.equal(message.subarray(2, 2 + id.length).toString('latin1'), id)
        assert.deepEqual(message.subarray(2 + id.length), Buffer.from(m.bodies[0] as Uint8Array))
      } else {
        assert.equal(message[0], BATCH)
        let at = 1
        for (let i = 0; i < m.types.length; i++) {
          assert.equal(message[at], m.types[i])
          const length = message.readUInt32BE(at + 2)
          assert.equal(length, m.bodyLengths[i])
          at += 6 + message[at + 1]
          assert.deepEqual(message.subarray(at, at + length), Buffer.from(m.bodies[i] as Uint8Array))
          at += length
        }
        assert.equal(at, message.byteLength)
      }
    })
  }

  for (const [name, m] of Object.entries(cases)) {
    it(`${name}: decodeChannelMessage reads back every message, in order`, () => {
      const [, , message] = parseResp(Buffer.concat(encodeSpublish('wsstar:to:node-1', m)))
      const decoded: Array<[number, string, Buffer]> = []
      decodeChannelMessage(message, (type, id, body) => { decoded.push([type, id, Buffer.from(body)]) })
      assert.deepEqual(decoded, m.types.map((type, i) => [type, m.ids[i], Buffer.from(m.bodies[i] as Uint8Array)]))
    })
  }

  it('large messages go out uncopied: each body is its own part, on the same memory', () => {
    const parts = encodeSpublish('c', messages([[1, id, big], [2, id, '7']]))
    assert.ok(parts.some(p => p.buffer === big.buffer && p.byteOffset === big.byteOffset && p.byteLength === big.byteLength))
  })
})
