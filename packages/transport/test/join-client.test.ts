import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Event, publicKeyForPeer, verifyJoin } from '@wsstar/protocol'
import { ChallengeRequiredError, JoinRejectedError, RendezvousProtocolError } from '../src/errors.js'
import { helloData, joinServer } from '../src/join-client.js'
import type { PrivateKey } from '@libp2p/interface'

const RESULT = { peers: [], window: 1024 * 1024, maxFrame: 65536 }

async function setup (type: 'Ed25519' | 'secp256k1' | 'RSA' = 'Ed25519'): Promise<{ privateKey: PrivateKey, peerId: ReturnType<typeof peerIdFromPrivateKey>, address: string }> {
  const privateKey = type === 'RSA' ? await generateKeyPair('RSA', 2048) : await generateKeyPair(type)
  const peerId = peerIdFromPrivateKey(privateKey)
  return { privateKey, peerId, address: `/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/${peerId}` }
}

describe('joinServer', () => {
  it('answers the challenge with a signature over the domain-separated payload', async () => {
    const { privateKey, peerId, address } = await setup()
    const sent: unknown[][] = []
    const steps: string[] = []
    const result = await joinServer({
      address,
      peerId,
      privateKey,
      challenge: true,
      onChallenged: () => { steps.push('challenged') },
      request: async (event, args) => {
        assert.equal(event, Event.JOIN)
        sent.push(args)
        if (sent.length === 1) {
          return { nonce: 'n0nce' }
        }
        const signature = (args[1] as { signature: string }).signature
        assert.equal(await verifyJoin(publicKeyForPeer(peerId), address, 'n0nce', signature), true)
        return { ...RESULT, peers: ['x'] }
      }
    })
    assert.deepEqual(result, { ...RESULT, peers: ['x'] })
    assert.deepEqual(sent[0], [address, {}])
    assert.deepEqual(steps, ['challenged'])
  })

  it('with the socket id known, joins in one request signed over it', async () => {
    const { privateKey, peerId, address } = await setup()
    const sent: unknown[][] = []
    const steps: string[] = []
    const result = await joinServer({
      address,
      peerId,
      privateKey,
      challenge: true,
      socketId: 'S0cketId',
      onChallenged: () => { steps.push('challenged') },
      request: async (event, args) => {
        assert.equal(event, Event.JOIN)
        sent.push(args)
        const data = args[1] as { sid: string, signature: string }
        assert.equal(data.sid, 'S0cketId')
        assert.equal(await verifyJoin(publicKeyForPeer(peerId), address, 'S0cketId', data.signature), true)
        return { ...RESULT, verified: true }
      }
    })
    assert.deepEqual(result, { ...RESULT, verified: true })
    assert.equal(sent.length, 1)
    assert.deepEqual(steps, ['challenged'])
  })

  it('falls back to the two-step join when the server answers the one-request join with ERR_CHALLENGE_EXPIRED', async () => {
    const { privateKey, peerId, address } = await setup()
    const sent: unknown[][] = []
    const result = await joinServer({
      address,
      peerId,
      privateKey,
      challenge: true,
      socketId: 'stale',
      request: async (_event, args) => {
        sent.push(args)
        if (sent.length === 1) {
          throw new JoinRejectedError('ERR_CHALLENGE_EXPIRED', 'signed for another socket id')
        }
        if (sent.length === 2) {
          return { nonce: 'n0nce' }
        }
        const signature = (args[1] as { signature: string }).signature
        assert.equal(await verifyJoin(publicKeyForPeer(peerId), address, 'n0nce', signature), true)
        return { ...RESULT, verified: true }
      }
    })
    assert.deepEqual(result, { ...RESULT, verified: true })
    assert.deepEqual(sent.map(args => Object.keys(args[1] as object).sort()), [['sid', 'signature'], [], ['signature']])
  })

  it('one-request join: refuses a registration the server did not verify unless challenge is false; other errors are not retried', async () => {
    const { privateKey, peerId, address } = await setup()
    let calls = 0
    const request = async (): Promise<unknown> => { calls++; return RESULT }
    await assert.rejects(joinServer({ address, peerId, privateKey, challenge: true, socketId: 's', request }), ChallengeRequiredError)
    assert.deepEqual(await joinServer({ address, peerId, privateKey, challenge: false, socketId: 's', request }), RESULT)
    assert.equal(calls, 2)
    calls = 0
    await assert.rejects(joinServer({
      address, peerId, privateKey, challenge: true, socketId: 's', request: async () => { calls++; throw new JoinRejectedError('ERR_INVALID_SIGNATURE', 'no') }
    }), JoinRejectedError)
    assert.equal(calls, 1)
  })

  it('sends the public key for RSA ids (their id is only a hash)', async () => {
    const rsa = await setup('RSA')
    const hello = helloData(rsa.peerId, rsa.privateKey)
    assert.equal(typeof hello.publicKey, 'string')
    assert.ok(publicKeyForPeer(rsa.peerId, hello.publicKey).equals(rsa.privateKey.publicKey))
    const secp = await setup('secp256k1')
    assert.deepEqual(helloData(secp.peerId, secp.privateKey), {})
  })

  it('refuses an unchallenged registration unless challenge is false', async () => {
    const { privateKey, peerId, address } = await setup()
    const request = async (): Promise<unknown> => RESULT
    await assert.rejects(joinServer({ address, peerId, privateKey, challenge: true, request }), ChallengeRequiredError)
    assert.deepEqual(await joinServer({ address, peerId, privateKey, challenge: false, request }), RESULT)
  })

  it('surfaces server errors and malformed answers as named errors', async () => {
    const { privateKey, peerId, address } = await setup()
    await assert.rejects(joinServer({
      address, peerId, privateKey, challenge: true, request: async () => { throw new JoinRejectedError('ERR_INVALID_SIGNATURE', 'no') }
    }), JoinRejectedError)
    await assert.rejects(joinServer({
      address, peerId, privateKey, challenge: true, request: async () => ({ window: -1 })
    }), RendezvousProtocolError)
    let n = 0
    await assert.rejects(joinServer({
      address, peerId, privateKey, challenge: true, request: async () => ({ nonce: `again-${n++}` })
    }), RendezvousProtocolError)
  })
})
