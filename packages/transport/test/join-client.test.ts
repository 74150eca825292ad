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
