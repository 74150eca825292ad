import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import { CliUsageError, parseCli } from '../src/cli-options.js'
import { base58btc, parseLegacyAddress, parseLegacyKey, verifyLegacySignature } from '../src/legacy/legacy-keys.js'
import { DEFAULT_LIMITS, LIMIT_NAMES, resolveOptions } from '../src/options.js'

/** protobuf PublicKey { Type: RSA, Data: SPKI DER } as a 0.10 client sends it (hex) */
function legacyKey (): { hex: string, peerId: string, sign: (msg: string) => string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const der = publicKey.export({ type: 'spki', format: 'der' })
  const len = der.length
  const varint = len < 128 ? [len] : [(len & 0x7f) | 0x80, len >> 7]
  const pb = Buffer.concat([Buffer.from([0x08, 0x00, 0x12, ...varint]), der])
  const peerId = base58btc(Buffer.concat([Buffer.from([0x12, 0x20]), createHash('sha256').update(pb).digest()]))
  return { hex: pb.toString('hex'), peerId, sign: (msg) => sign('sha256', Buffer.from(msg), privateKey).toString('hex') }
}

describe('legacy mode: options', () => {
  it('is on by default and switched off by option, flag or env', () => {
    assert.equal(resolveOptions({}).legacy, true)
    assert.equal(resolveOptions({ legacy: false }).legacy, false)
    assert.throws(() => resolveOptions({ legacy: 'no' as unknown as boolean }), /legacy must be a boolean/)
    assert.equal(parseCli([]).options.legacy, undefined)
    assert.equal(parseCli(['--no-legacy']).options.legacy, false)
    assert.equal(parseCli([], { WSSTAR_LEGACY: 'false' }).options.legacy, false)
    assert.equal(parseCli(['--legacy'], { WSSTAR_LEGACY: 'false' }).options.legacy, true)
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
