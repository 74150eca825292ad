import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, MAX_AUTH_TOKEN_LENGTH, WsStarError, isErrorCode, parseHandshakeToken, parsePeerId } from '../src/index.js'

function code (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof WsStarError)
    return err.code
  }
  return 'no error'
}

describe('handshake auth', () => {
  it('ERR_UNAUTHORIZED is a known wire code', () => {
    assert.equal(ErrorCode.UNAUTHORIZED, 'ERR_UNAUTHORIZED')
    assert.ok(isErrorCode('ERR_UNAUTHORIZED'))
    assert.equal(WsStarError.fromWire({ code: 'ERR_UNAUTHORIZED', message: 'no' }).code, ErrorCode.UNAUTHORIZED)
  })

  it('reads the bearer token of the handshake auth, or none', () => {
    assert.equal(parseHandshakeToken({ protocol: 'wsstar/2', token: 'abc.DEF-123_~' }), 'abc.DEF-123_~')
    assert.equal(parseHandshakeToken({ protocol: 'wsstar/2' }), undefined)
    assert.equal(parseHandshakeToken(undefined), undefined)
    assert.equal(parseHandshakeToken(null), undefined)
    assert.equal(parseHandshakeToken('token'), undefined)
    assert.equal(parseHandshakeToken({ token: 'x'.repeat(MAX_AUTH_TOKEN_LENGTH) }), 'x'.repeat(MAX_AUTH_TOKEN_LENGTH))
  })

  it('refuses a malformed token with ERR_UNAUTHORIZED', () => {
    for (const token of ['', 'x'.repeat(MAX_AUTH_TOKEN_LENGTH + 1), 'has space', 'tab\tin', 'newline\n', 'ünïcode', 7, {}, ['a']]) {
      assert.equal(code(() => parseHandshakeToken({ protocol: 'wsstar/2', token })), ErrorCode.UNAUTHORIZED, JSON.stringify(token))
    }
  })

  it('reads a bare peer id in the form registrations are keyed by (allow lists)', () => {
    const id = '12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB'
    assert.equal(parsePeerId(id), id)
    assert.equal(parsePeerId('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'), 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N')
    for (const bad of ['', 'not-a-peer-id', 7, null, `${id}x`]) {
      assert.equal(code(() => parsePeerId(bad)), ErrorCode.BAD_REQUEST, String(bad))
    }
  })
})
