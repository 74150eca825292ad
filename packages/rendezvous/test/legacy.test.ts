import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { CliUsageError, parseCli } from '../src/cli-options.js'
import { base58btc, parseLegacyAddress, parseLegacyKey, verifyLegacySignature } from '../src/legacy/legacy-keys.js'
import { DEFAULT_LIMITS, LIMIT_NAMES } from '../src/limits.js'
import { resolveOptions } from '../src/options.js'
import { closeClients, connect } from '@wsstar/raw-client'
import { metricValue, startServer } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'
import type { IncomingMessage } from 'node:http'

/** protobuf PublicKey { Type: RSA, Data: SPKI DER } as a 0.10 client sends it (hex) */
function legacyKey (modulusLength = 2048, publicExponent = 65537): { hex: string, peerId: string, sign: (msg: string) => string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength, publicExponent })
  const der = publicKey.export({ type: 'spki', format: 'der' })
  const len = der.length
  const varint = len < 128 ? [len] : [(len & 0x7f) | 0x80, len >> 7]
  const pb = Buffer.concat([Buffer.from([0x08, 0x00, 0x12, ...varint]), der])
  const peerId = base58btc(Buffer.concat([Buffer.from([0x12, 0x20]), createHash('sha256').update(pb).digest()]))
  return { hex: pb.toString('hex'), peerId, sign: (msg) => sign('sha256', Buffer.from(msg), privateKey).toString('hex') }
}

describe('legacy mode: options', () => {
  it('is off by default and switched on by option, flag or env', () => {
    assert.equal(resolveOptions({}).legacy, false)
    assert.equal(resolveOptions({ legacy: true }).legacy, true)
    assert.throws(() => resolveOptions({ legacy: 'no' as unknown as boolean }), /legacy must be a boolean/)
    assert.equal(parseCli([]).options.legacy, undefined)
    assert.equal(parseCli(['--legacy']).options.legacy, true)
    assert.equal(parseCli([], { WSSTAR_LEGACY: '1' }).options.legacy, true)
    assert.equal(parseCli([], { WSSTAR_LEGACY: 'true' }).options.legacy, true)
    assert.equal(parseCli(['--no-legacy'], { WSSTAR_LEGACY: '1' }).options.legacy, false)
    assert.throws(() => parseCli(['--legacy', '--no-legacy']), CliUsageError)
  })

  it('its buffering bound is a named limit with flag and env', () => {
    assert.equal(LIMIT_NAMES.legacyMaxBufferedBytes, 'legacy-max-buffered-bytes')
    assert.equal(DEFAULT_LIMITS.legacyMaxBufferedBytes, 8 * 1024 * 1024)
    assert.equal(parseCli(['--legacy-max-buffered-bytes', '1MiB']).options.limits.legacyMaxBufferedBytes, 1024 * 1024)
    assert.equal(parseCli([], { WSSTAR_LEGACY_ANNOUNCEMENTS: '5' }).options.limits.legacyAnnouncements, 5)
    assert.throws(() => parseCli(['--legacy-max-buffered-bytes', '1']), CliUsageError)
  })
})

describe('legacy mode: keys and addresses', () => {
  it('derives the Qm peer id from the hex key and verifies a signature over the raw nonce', () => {
    const k = legacyKey()
    const parsed = parseLegacyKey(k.hex)
    assert.ok(parsed != null)
    assert.equal(parsed.peerId, k.peerId)
    assert.match(k.peerId, /^Qm/)
    const nonce = 'wsstar-legacy-join:/ip4/1.2.3.4/tcp/9090/ws:abc'
    assert.equal(verifyLegacySignature(parsed.key, nonce, k.sign(nonce)), true)
    assert.equal(verifyLegacySignature(parsed.key, nonce + 'x', k.sign(nonce)), false)
    assert.equal(verifyLegacySignature(parsed.key, nonce, 'zz'), false)
    assert.equal(verifyLegacySignature(parsed.key, nonce, 42), false)
  })

  it('refuses RSA keys outside the v2 key policy: exponent other than 65537, modulus outside 2048..4096 bits', () => {
    // a huge exponent makes each verification, on the event loop, cost milliseconds
    for (const [bits, e] of [[1024, 65537], [2048, 3], [2048, 2 ** 31 - 1], [4160, 65537]]) {
      assert.equal(parseLegacyKey(legacyKey(bits, e).hex), undefined, `${bits} bits, e = ${e}`)
    }
    assert.ok(parseLegacyKey(legacyKey(4096).hex) != null)
  })

  it('refuses malformed keys without throwing', () => {
    for (const bad of ['', 'zz', '0800', '08001203aabbcc', 'ab'.repeat(5000), 42, null, {}]) {
      assert.equal(parseLegacyKey(bad), undefined)
    }
  })

  it('parses both spellings and announces /ipfs/', () => {
    const id = 'QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN'
    const a = parseLegacyAddress(`/ip4/1.2.3.4/tcp/9090/ws/p2p-websocket-star/p2p/${id}`)
    assert.deepEqual(a, { peerId: id, server: '/ip4/1.2.3.4/tcp/9090/ws', canonical: `/ip4/1.2.3.4/tcp/9090/ws/p2p-websocket-star/ipfs/${id}` })
    for (const bad of [`/ip4/1.2.3.4/tcp/9090/ws/ipfs/${id}`, `/p2p-websocket-star/ipfs/${id}`, `/ip4/1.2.3.4/ws/p2p-websocket-star/ipfs/0OIl`, 7, 'x'.repeat(600)]) {
      assert.equal(parseLegacyAddress(bad), undefined)
    }
  })
})

/** an HTTP upgrade request as a socket.io client sends it; resolves with the HTTP answer (101 or an error response) */
async function upgrade (server: RendezvousServer, eio: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: server.port,
      path: `/socket.io/?EIO=${eio}&transport=websocket`,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      timeout: 5000
    })
    req.once('upgrade', (res, socket) => {
      // what the server writes into the upgraded stream next
      let body = ''
      socket.on('error', () => {})
      socket.on('data', (chunk: Buffer) => { body += chunk.toString('latin1') })
      setTimeout(() => { socket.destroy(); resolve({ status: res.statusCode ?? 0, body }) }, 300)
    })
    req.once('response', (res: IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8').on('data', (t: string) => { body += t })
      res.once('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.once('timeout', () => { req.destroy(new Error('no answer to the upgrade request')) })
    // the server may close the connection right behind its answer: later errors are not the answer
    req.on('error', reject)
    req.end()
  })
}

describe('legacy mode off (the default)', () => {
  const servers: RendezvousServer[] = []
  after(async () => {
    closeClients()
    await Promise.all(servers.map(async s => s.stop()))
  })

  it('refuses an Engine.IO 3 upgrade request with HTTP 400 before upgrading, saying legacy mode is off', async () => {
    const server = await startServer()
    servers.push(server)
    assert.equal(server.legacyStats(), undefined)
    const refused = await upgrade(server, '3')
    assert.equal(refused.status, 400, `got ${refused.status} then ${JSON.stringify(refused.body.slice(0, 120))}`)
    assert.match(refused.body, /legacy/i)
    assert.match(refused.body, /--legacy/)
    // an Engine.IO 4 client still upgrades, and v2 sockets keep working
    const ok = await upgrade(server, '4')
    assert.equal(ok.status, 101)
    await connect(server)
    assert.equal(server.stats().sockets, 1)
    assert.ok(await metricValue(server, 'wsstar_rejected_total{code="ERR_BAD_REQUEST"}') >= 1)
  })

  it('upgrades an Engine.IO 3 request when legacy mode is on', async () => {
    const server = await startServer({ legacy: true })
    servers.push(server)
    const ok = await upgrade(server, '3')
    assert.equal(ok.status, 101)
  })
})
