import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode, WsStarError } from '@wsstar/protocol'
import { DialRefusedError, JoinRejectedError, PeerNotFoundError, RegistrationReplacedError, RendezvousProtocolError, ServerShuttingDownError, errorFromWire } from '../src/errors.js'

describe('transport entry', () => {
  it('exports WsStarError, the base class its server errors extend', async () => {
    const entry: Record<string, unknown> = await import('../src/index.js')
    assert.equal(entry.WsStarError, WsStarError)
    assert.ok(new PeerNotFoundError() instanceof (entry.WsStarError as typeof WsStarError))
  })
})

describe('errorFromWire', () => {
  it('maps stable codes to named errors that keep the code', () => {
    const notFound = errorFromWire({ code: ErrorCode.PEER_NOT_FOUND, message: 'gone' })
    assert.ok(notFound instanceof PeerNotFoundError)
    assert.ok(notFound instanceof WsStarError)
    assert.equal(notFound.name, 'PeerNotFoundError')
    assert.equal(notFound.code, 'ERR_PEER_NOT_FOUND')
    assert.equal(notFound.message, 'gone')
    assert.ok(errorFromWire({ code: ErrorCode.DIAL_REFUSED, message: '' }) instanceof DialRefusedError)
    assert.ok(errorFromWire({ code: ErrorCode.SHUTTING_DOWN, message: '' }) instanceof ServerShuttingDownError)
    assert.ok(errorFromWire({ code: ErrorCode.REPLACED, message: '' }) instanceof RegistrationReplacedError)
    const join = errorFromWire({ code: ErrorCode.INVALID_SIGNATURE, message: 'bad' })
    assert.ok(join instanceof JoinRejectedError)
    assert.equal(join.code, 'ERR_INVALID_SIGNATURE')
  })

  it('does not trust malformed errors', () => {
    for (const value of [null, 'boom', 42, { code: 'ERR_MADE_UP' }, { message: 'x' }]) {
      const err = errorFromWire(value)
      assert.ok(err instanceof RendezvousProtocolError)
      assert.equal(err.code, 'ERR_BAD_REQUEST')
    }
  })
})
