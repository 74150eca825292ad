import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { ErrorCode, PROTOCOL_VERSION } from '@wsstar/protocol'
import { ConnectRefused, DialEnd, closeClients, connect, identity, join, openDial, peerAddress, tryJoin } from '@wsstar/raw-client'
import WebSocket from 'ws'
import { parseAllowListFile } from '../src/auth/allow-list-file.js'
import { Authorizer } from '../src/auth/authorizer.js'
import { AuthRefusal } from '../src/auth/auth-refusal.js'
import { RendezvousMetrics } from '../src/metrics/metrics.js'
import type { Session } from '../src/session/session.js'
import { AuthFileError, parseTokenFile, tokenDigest } from '../src/auth/token-file.js'
import { CliUsageError, parseCli } from '../src/cli-options.js'
import { DEFAULT_LIMITS, LIMIT_NAMES } from '../src/limits.js'
import { resolveOptions } from '../src/options.js'
import { createRendezvousServer } from '../src/index.js'
import { getJson, metricValue, silentLogger, startServer } from './helpers.js'
import type { RendezvousServer, RendezvousServerOptions } from '../src/index.js'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Socket } from 'socket.io-client'

const dir = mkdtempSync(joinPath(tmpdir(), 'wsstar-auth-'))
let files = 0
function file (text: string): string {
  const path = joinPath(dir, `file-${files++}`)
  writeFileSync(path, text)
  return path
}

const servers: RendezvousServer[] = []
async function server (options: RendezvousServerOptions): Promise<RendezvousServer> {
  const started = await startServer(options)
  servers.push(started)
  return started
}

function withToken (token: string): { auth: Record<string, unknown> } {
  return { auth: { protocol: PROTOCOL_VERSION, token } }
}

interface TokenPeer { socket: Socket, address: string, peerId: string }

/** a fresh peer joined on a new socket that presented `token` */
async function joinWithToken (target: RendezvousServer, token: string): Promise<TokenPeer> {
  const socket = await connect(target, withToken(token))
  const peer = await identity()
  const address = peerAddress(target, peer)
  await join(socket, peer, address)
  return { socket, address, peerId: peer.peerId.toString() }
}

/** an Authorizer in token mode over a token file holding `tokens`, loaded */
async function tokenAuthorizer (tokens: string): Promise<Authorizer> {
  const authorizer = new Authorizer({
    auth: resolveOptions({ auth: { mode: 'token', tokensFile: file(tokens) } }).auth,
    limits: DEFAULT_LIMITS,
    metrics: new RendezvousMetrics(DEFAULT_LIMITS),
    logger: silentLogger
  })
  await authorizer.load()
  return authorizer
}

/** the code of a refused connect, or 'connected' */
async function connectCode (target: RendezvousServer, options: Parameters<typeof connect>[1] = {}): Promise<string | undefined> {
  try {
    const socket = await connect(target, options)
    socket.disconnect()
    return 'connected'
  } catch (err) {
    assert.ok(err instanceof ConnectRefused, String(err))
    return err.data?.code
  }
}

/** joins a fresh peer on `socket`; the error code or 'joined' */
async function joinCode (target: RendezvousServer, socket: Socket): Promise<{ code: string, peerId: string, address: string }> {
  const peer = await identity()
  const address = peerAddress(target, peer)
  const [err] = await tryJoin(socket, peer, address)
  return { code: err?.code ?? 'joined', peerId: peer.peerId.toString(), address }
}

after(async () => {
  closeClients()
  await Promise.all(servers.map(async s => { await s.stop() }))
})

describe('private servers: options', () => {
  it('the auth mode and its files come from options, flags or env vars; open is the default', () => {
    assert.equal(resolveOptions({}).auth.mode, 'open')
    assert.equal(parseCli([]).options.auth, undefined)
    assert.deepEqual(parseCli(['--auth', 'token', '--auth-tokens-file', '/etc/t']).options.auth, { mode: 'token', tokensFile: '/etc/t' })
    assert.deepEqual(parseCli([], { WSSTAR_AUTH: 'allow-list', WSSTAR_AUTH_ALLOW_LIST_FILE: '/etc/a' }).options.auth, { mode: 'allow-list', allowListFile: '/etc/a' })
    assert.deepEqual(parseCli(['--auth', 'hook', '--auth-hook-url', 'https://auth.example/check', '--auth-hook-fail-open']).options.auth,
      { mode: 'hook', hookUrl: 'https://auth.example/check', hookFailOpen: true })
    assert.deepEqual(parseCli(['--auth', 'token', '--auth-tokens-file', 't', '--auth-allow-legacy']).options.auth, { mode: 'token', tokensFile: 't', allowLegacy: true })
    assert.deepEqual(parseCli([], { WSSTAR_AUTH: 'hook', WSSTAR_AUTH_HOOK_URL: 'http://127.0.0.1:9/', WSSTAR_AUTH_HOOK_FAIL_OPEN: '1' }).options.auth,
      { mode: 'hook', hookUrl: 'http://127.0.0.1:9/', hookFailOpen: true })
    assert.throws(() => parseCli(['--auth', 'password']), CliUsageError)
    assert.throws(() => parseCli(['--auth', 'token']), /--auth-tokens-file/)
    assert.throws(() => parseCli(['--auth', 'allow-list']), /--auth-allow-list-file/)
    assert.throws(() => parseCli(['--auth', 'hook']), /--auth-hook-url/)
    assert.throws(() => parseCli(['--auth', 'hook', '--auth-hook-url', 'ftp://x/']), /http/)
    assert.throws(() => parseCli(['--auth-tokens-file', 't']), /--auth token/)
    assert.throws(() => parseCli(['--auth-hook-fail-open']), /--auth hook/)
    assert.throws(() => resolveOptions({ auth: { mode: 'token' } }), /tokensFile/)
    assert.throws(() => resolveOptions({ auth: { mode: 'nope' as 'open' } }), /auth.mode/)
    assert.throws(() => resolveOptions({ auth: { mode: 'hook', hookUrl: 'not a url' } }), /hookUrl/)
  })

  it('the hook timeout and cache are named limits with flags and env vars', () => {
    assert.equal(LIMIT_NAMES.authHookTimeoutMs, 'auth-hook-timeout')
    assert.equal(LIMIT_NAMES.authHookCacheTtlMs, 'auth-hook-cache-ttl')
    assert.equal(LIMIT_NAMES.authHookCacheSize, 'auth-hook-cache-size')
    assert.equal(DEFAULT_LIMITS.authHookTimeoutMs, 2000)
    assert.equal(parseCli(['--auth-hook-timeout', '500ms']).options.limits.authHookTimeoutMs, 500)
    assert.equal(parseCli([], { WSSTAR_AUTH_HOOK_CACHE_SIZE: '50' }).options.limits.authHookCacheSize, 50)
  })
})

describe('private servers: file formats', () => {
  it('a token file holds one token per line with its options; the server keeps only their SHA-256', () => {
    const entries = parseTokenFile([
      '# comment',
      '',
      'alpha-token-1',
      '  beta-token-2   name=beta max-peers=3 relay-rate=1048576 namespaces=chat,files  ',
      `sha256:${tokenDigest('gamma')} name=gamma`
    ].join('\n'))
    assert.equal(entries.length, 3)
    assert.equal(entries[0].digest, tokenDigest('alpha-token-1'))
    assert.equal(entries[0].maxPeers, undefined)
    assert.match(entries[0].name, /^sha256:[0-9a-f]{12}$/)
    assert.deepEqual(entries[1], { digest: tokenDigest('beta-token-2'), name: 'beta', maxPeers: 3, relayBytesPerSecond: 1048576, namespaces: ['chat', 'files'] })
    assert.equal(entries[2].digest, tokenDigest('gamma'))
    assert.ok(!JSON.stringify(entries).includes('alpha-token-1'), 'the token itself is not kept')
  })

  it('a bad token file is refused with the line that is wrong, never the token', () => {
    for (const [text, line] of [
      ['ok\nsecret-a max-peers=0', 2],
      ['secret-a max-peers=lots', 1],
      ['secret-a colour=blue', 1],
      ['secret-a\nsecret-a', 2],
      ['sha256:abc', 1],
      ['secret-a relay-rate=-1', 1],
      ['secret-a namespaces=', 1],
      ['secret-a name=has/slash', 1],
      ['# only comments', 0]
    ] as const) {
      assert.throws(() => parseTokenFile(text, 'tokens.txt'), (err: Error) => {
        assert.ok(err instanceof AuthFileError, String(err))
        if (line > 0) assert.match(err.message, new RegExp(`tokens\\.txt:${line}`))
        assert.ok(!err.message.includes('secret-a'), err.message)
        return true
      }, text)
    }
  })

  it('an allow list holds one peer id per line', async () => {
    const a = (await identity()).peerId.toString()
    const b = (await identity('secp256k1')).peerId.toString()
    assert.deepEqual([...parseAllowListFile(`# ours\n${a}\n\n  ${b}  \n`)].sort(), [a, b].sort())
    assert.throws(() => parseAllowListFile(`${a}\nnot-a-peer-id`, 'peers.txt'), /peers\.txt:2/)
  })
})

describe('private servers: token mode', () => {
  it('admits a socket with a listed token and refuses the rest at connect with ERR_UNAUTHORIZED', async () => {
    const s = await server({ auth: { mode: 'token', tokensFile: file('good-token\nother-token name=other\n') } })
    assert.equal(await connectCode(s), ErrorCode.UNAUTHORIZED)
    assert.equal(await connectCode(s, withToken('wrong-token')), ErrorCode.UNAUTHORIZED)
    assert.equal(await connectCode(s, withToken('has space')), ErrorCode.UNAUTHORIZED)
    const socket = await connect(s, withToken('good-token'))
    assert.equal((await joinCode(s, socket)).code, 'joined')
    const other = await connect(s, withToken('other-token'))
    assert.equal((await joinCode(s, other)).code, 'joined')
    assert.equal(await metricValue(s, `wsstar_rejected_total{code="${ErrorCode.UNAUTHORIZED}"}`), 3)
    assert.equal(await metricValue(s, 'wsstar_auth_refusals_total{reason="token-missing"}'), 1)
    assert.equal(await metricValue(s, 'wsstar_auth_refusals_total{reason="token-unknown"}'), 2)
  })

  it('a token\'s max-peers bounds the registrations of every socket using it', async () => {
    const s = await server({ auth: { mode: 'token', tokensFile: file('team-token max-peers=2\nfree-token\n') } })
    const one = await connect(s, withToken('team-token'))
    const two = await connect(s, withToken('team-token'))
    const first = await joinCode(s, one)
    assert.equal(first.code, 'joined')
    assert.equal((await joinCode(s, two)).code, 'joined')
    // a third registration with that token, from either socket, is refused
    assert.equal((await joinCode(s, two)).code, ErrorCode.UNAUTHORIZED)
    assert.equal((await joinCode(s, await connect(s, withToken('team-token')))).code, ErrorCode.UNAUTHORIZED)
    assert.equal(await metricValue(s, 'wsstar_auth_refusals_total{reason="token-max-peers"}'), 2)
    // other tokens are not affected
    assert.equal((await joinCode(s, await connect(s, withToken('free-token')))).code, 'joined')
    // a registration that ends gives its place back
    one.disconnect()
    const three = await connect(s, withToken('team-token'))
    let code = ''
    for (let i = 0; i < 50 && code !== 'joined'; i++) {
      code = (await joinCode(s, three)).code
      if (code !== 'joined') await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.equal(code, 'joined')
    // joining the same peer again is no new registration
    const again = await identity()
    const address = peerAddress(s, again)
    const four = await connect(s, withToken('free-token'))
    await join(four, again, address)
    await join(four, again, address)
  })

  it('reloadAuth reads the token file again; a bad file keeps the tokens in use', async () => {
    const path = file('first-token\n')
    const s = await server({ auth: { mode: 'token', tokensFile: path } })
    assert.equal(await connectCode(s, withToken('first-token')), 'connected')
    writeFileSync(path, 'second-token\n')
    await s.reloadAuth()
    assert.equal(await connectCode(s, withToken('second-token')), 'connected')
    assert.equal(await connectCode(s, withToken('first-token')), ErrorCode.UNAUTHORIZED)
    writeFileSync(path, 'third-token max-peers=many\n')
    await assert.rejects(s.reloadAuth(), AuthFileError)
    assert.equal(await connectCode(s, withToken('second-token')), 'connected')
    assert.equal(await connectCode(s, withToken('third-token')), ErrorCode.UNAUTHORIZED)
    assert.equal(await metricValue(s, 'wsstar_auth_reloads_total{result="failed"}'), 1)
  })

  it('a server does not start with a token file it cannot read', async () => {
    for (const [tokensFile, error] of [[joinPath(dir, 'missing'), /missing/], [file('t max-peers=x'), AuthFileError]] as const) {
      const bad = createRendezvousServer({ port: 0, host: '127.0.0.1', logger: silentLogger, auth: { mode: 'token', tokensFile } })
      await assert.rejects(bad.start(), error)
      await bad.stop()
    }
  })

  it('a token\'s relay-rate is the relay rate of its sockets, in place of the server\'s', async () => {
    const s = await server({ adminPort: 0, auth: { mode: 'token', tokensFile: file('slow-token relay-rate=262144\nplain-token\n') }, limits: { relayRate: 1048576 } })
    const joined = async (token: string): Promise<TokenPeer> => await joinWithToken(s, token)
    const [slow, plain, other] = [await joined('slow-token'), await joined('plain-token'), await joined('plain-token')]
    const window = 1024 * 1024
    const ends: DialEnd[] = []
    for (const caller of [slow, plain]) {
      const dialId = await openDial(caller, other)
      const end = new DialEnd(caller.socket, dialId, window, { keepChunks: false })
      ends.push(end)
      await end.send(new Uint8Array(16 * 1024))
    }
    const { body } = await getJson(s, '/status.json', 'admin')
    const rateOf = (peerId: string): number | undefined => (body.topRelaying as Array<{ peerIds: string[], relayRate: number }>).find(p => p.peerIds.includes(peerId))?.relayRate
    assert.equal(rateOf(slow.peerId), 262144)
    assert.equal(rateOf(plain.peerId), 1048576, 'a token without relay-rate: the server\'s')
    for (const end of ends) end.detach()
  })

  it('/status.json lists the tokens whose sockets relayed the most, by name, and keeps their bytes after the sockets leave', async () => {
    const s = await server({ adminPort: 0, auth: { mode: 'token', tokensFile: file('alpha-secret name=alpha\nbeta-secret name=beta\nidle-secret name=idle\n') } })
    const joined = async (token: string): Promise<TokenPeer> => await joinWithToken(s, token)
    const [alpha, beta] = [await joined('alpha-secret'), await joined('beta-secret')]
    await joined('idle-secret')
    const end = new DialEnd(alpha.socket, await openDial(alpha, beta), 1024 * 1024, { keepChunks: false })
    await end.send(new Uint8Array(16 * 1024))
    await end.send(new Uint8Array(8 * 1024))
    type Listed = Array<{ name: string, peers: number, sentBytes: number, receivedBytes: number }>
    const tokens = async (): Promise<Listed> => (await getJson(s, '/status.json', 'admin')).body.topRelayingTokens as Listed
    let listed: Listed = []
    const deadline = Date.now() + 5000
    while (Date.now() < deadline && (listed = await tokens()).find(t => t.name === 'beta')?.receivedBytes !== 24 * 1024) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.deepEqual(listed, [
      { name: 'alpha', peers: 1, sentBytes: 24 * 1024, receivedBytes: 0 },
      { name: 'beta', peers: 1, sentBytes: 0, receivedBytes: 24 * 1024 }
    ], 'a token that relayed nothing is not listed; the secret never is')
    end.detach()
    alpha.socket.disconnect()
    beta.socket.disconnect()
    while (Date.now() < deadline + 5000 && (listed = await tokens()).some(t => t.peers > 0)) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.deepEqual(listed.map(t => [t.name, t.peers, t.sentBytes + t.receivedBytes]), [['alpha', 0, 24 * 1024], ['beta', 0, 24 * 1024]])
    const open = await server({ adminPort: 0 })
    assert.equal((await getJson(open, '/status.json', 'admin')).body.topRelayingTokens, undefined, 'not in the other modes')
  })

  it('a token with namespaces= joins those namespaces only, not others and not the default namespace', async () => {
    const authorizer = await tokenAuthorizer('chat-token namespaces=chat,presence\nany-token\n')
    const sessionWith = (token: string): Session => ({ grant: authorizer.admitSocket({ protocol: PROTOCOL_VERSION, token }, false), addresses: new Map() }) as unknown as Session
    const chat = sessionWith('chat-token')
    const any = sessionWith('any-token')
    const peerId = (await identity()).peerId.toString()
    const reason = async (session: Session, namespaces?: string[]): Promise<string> => {
      try {
        const release = await authorizer.admitJoin(session, peerId, '127.0.0.1', namespaces)
        release()
        return 'admitted'
      } catch (err) {
        assert.ok(err instanceof AuthRefusal, String(err))
        assert.equal(err.code, ErrorCode.UNAUTHORIZED)
        return err.reason
      }
    }
    assert.equal(await reason(chat, ['chat']), 'admitted')
    assert.equal(await reason(chat, ['presence', 'chat']), 'admitted')
    assert.equal(await reason(chat, ['chat', 'files']), 'token-namespace')
    assert.equal(await reason(chat, []), 'token-namespace', 'the default namespace is none of the listed ones')
    assert.equal(await reason(chat), 'token-namespace')
    assert.equal(await reason(any, ['files']), 'admitted')
    assert.equal(await reason(any), 'admitted')
  })

  it('a re-join that moves a registered peer to other namespaces is no new registration for max-peers', async () => {
    const authorizer = await tokenAuthorizer('one-token max-peers=1 namespaces=a,b\n')
    const grant = authorizer.admitSocket({ protocol: PROTOCOL_VERSION, token: 'one-token' }, false)
    assert.ok(grant != null)
    const peerId = (await identity()).peerId.toString()
    // the socket holds peerId: the token's one registration
    grant.registrations = 1
    const holder = { grant, addresses: new Map([[peerId, 'its address']]) } as unknown as Session
    const release = await authorizer.admitJoin(holder, peerId, '127.0.0.1', ['b'])
    release()
    assert.equal(grant.joining, 0)
    const other = { grant, addresses: new Map() } as unknown as Session
    await assert.rejects(authorizer.admitJoin(other, (await identity()).peerId.toString(), '127.0.0.1', ['a']), (err: AuthRefusal) => err.reason === 'token-max-peers')
  })

  it('an open server ignores tokens and admits everyone, as before', async () => {
    const s = await server({})
    assert.equal(await connectCode(s), 'connected')
    const socket = await connect(s, withToken('anything'))
    assert.equal((await joinCode(s, socket)).code, 'joined')
  })
})

describe('private servers: allow-list mode', () => {
  it('registers the peer ids of the list and refuses the rest at join with ERR_UNAUTHORIZED', async () => {
    const allowed = await identity()
    const path = file(`${allowed.peerId.toString()}\n`)
    const s = await server({ auth: { mode: 'allow-list', allowListFile: path } })
    const socket = await connect(s)
    await join(socket, allowed, peerAddress(s, allowed))
    const other = await joinCode(s, socket)
    assert.equal(other.code, ErrorCode.UNAUTHORIZED)
    assert.equal(await metricValue(s, 'wsstar_auth_refusals_total{reason="allow-list"}'), 1)
    // the list is read again on reload
    writeFileSync(path, `${other.peerId}\n`)
    await s.reloadAuth()
    const later = await identity()
    writeFileSync(path, `${later.peerId.toString()}\n`)
    await s.reloadAuth()
    await join(await connect(s), later, peerAddress(s, later))
  })
})

interface HookServer {
  url: string
  /** request bodies received */
  requests: Array<{ peerId: string, namespaces: string[], remoteAddress: string }>
  /** what to answer: a status and body, or 'hang' (never answer) */
  answer: (body: { peerId: string }) => { status: number, body?: unknown } | 'hang'
  close: () => Promise<void>
}

async function hookServer (answer: HookServer['answer']): Promise<HookServer> {
  const hanging = new Set<ServerResponse>()
  const hook: HookServer = { url: '', requests: [], answer, close: async () => {} }
  const http: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = ''
    req.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => {
      const body = JSON.parse(text)
      assert.equal(req.method, 'POST')
      assert.match(req.headers['content-type'] ?? '', /application\/json/)
      hook.requests.push(body)
      const reply = hook.answer(body)
      if (reply === 'hang') {
        hanging.add(res)
        return
      }
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body ?? {}))
    })
  })
  await new Promise<void>(resolve => { http.listen(0, '127.0.0.1', resolve) })
  hook.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/check`
  hook.close = async () => {
    for (const res of hanging) res.destroy()
    http.closeAllConnections()
    await new Promise(resolve => { http.close(resolve) })
  }
  return hook
}

describe('private servers: hook mode', () => {
  const hooks: HookServer[] = []
  after(async () => { await Promise.all(hooks.map(async h => { await h.close() })) })

  it('asks the hook with the peer id, namespaces and client address, and caches its allow and deny answers', async () => {
    const denied = new Set<string>()
    const hook = await hookServer(body => ({ status: 200, body: { allow: !denied.has(body.peerId) } }))
    hooks.push(hook)
    const s = await server({ auth: { mode: 'hook', hookUrl: hook.url } })
    const socket = await connect(s)
    const peer = await identity()
    const address = peerAddress(s, peer)
    await join(socket, peer, address)
    assert.deepEqual(hook.requests, [{ peerId: peer.peerId.toString(), namespaces: [], remoteAddress: '127.0.0.1' }])
    // the same peer again (another socket): answered from the cache
    await join(await connect(s), peer, address)
    assert.equal(hook.requests.length, 1)
    assert.equal(await metricValue(s, 'wsstar_auth_hook_cache_hits_total'), 1)

    const refused = await identity()
    denied.add(refused.peerId.toString())
    const [err] = await tryJoin(socket, refused, peerAddress(s, refused))
    assert.equal(err?.code, ErrorCode.UNAUTHORIZED)
    const [again] = await tryJoin(await connect(s), refused, peerAddress(s, refused))
    assert.equal(again?.code, ErrorCode.UNAUTHORIZED)
    assert.equal(hook.requests.length, 2, 'a deny is cached too')
    assert.equal(await metricValue(s, 'wsstar_auth_refusals_total{reason="hook-denied"}'), 2)
    // a 403 is a deny
    hook.answer = () => ({ status: 403 })
    assert.equal((await joinCode(s, socket)).code, ErrorCode.UNAUTHORIZED)
    // the namespaces a join names are the hook's to judge too
    hook.answer = () => ({ status: 200, body: { allow: true } })
    const scoped = await identity()
    const [scopedErr] = await tryJoin(socket, scoped, peerAddress(s, scoped), { namespaces: ['chat', 'presence'] })
    assert.equal(scopedErr, null)
    assert.deepEqual(hook.requests.at(-1), { peerId: scoped.peerId.toString(), namespaces: ['chat', 'presence'], remoteAddress: '127.0.0.1' })
  })

  it('fails closed by default: a hook that does not answer in time or answers badly refuses, and that is not cached', async () => {
    const hook = await hookServer(() => 'hang')
    hooks.push(hook)
    const s = await server({ auth: { mode: 'hook', hookUrl: hook.url }, limits: { authHookTimeoutMs: 200 } })
    const socket = await connect(s)
    const peer = await identity()
    const address = peerAddress(s, peer)
    const [timedOut] = await tryJoin(socket, peer, address)
    assert.equal(timedOut?.code, ErrorCode.UNAUTHORIZED)
    assert.equal(await metricValue(s, 'wsstar_limit_hits_total{limit="auth-hook-timeout"}'), 1)
    hook.answer = () => ({ status: 500 })
    assert.equal((await tryJoin(socket, peer, address))[0]?.code, ErrorCode.UNAUTHORIZED)
    hook.answer = () => ({ status: 200, body: { allowed: 'yes' } })
    assert.equal((await tryJoin(socket, peer, address))[0]?.code, ErrorCode.UNAUTHORIZED)
    assert.equal(await metricValue(s, 'wsstar_auth_refusals_total{reason="hook-failed"}'), 3)
    // the hook is back: the failures were not cached
    hook.answer = () => ({ status: 200, body: { allow: true } })
    await join(socket, peer, address)
  })

  it('--auth-hook-fail-open admits when the hook fails, but not when it denies', async () => {
    const hook = await hookServer(() => 'hang')
    hooks.push(hook)
    const s = await server({ auth: { mode: 'hook', hookUrl: hook.url, hookFailOpen: true }, limits: { authHookTimeoutMs: 200 } })
    const socket = await connect(s)
    assert.equal((await joinCode(s, socket)).code, 'joined')
    hook.answer = () => ({ status: 200, body: { allow: false } })
    assert.equal((await joinCode(s, socket)).code, ErrorCode.UNAUTHORIZED)
  })

  it('behind a trusted proxy the hook is told the X-Forwarded-For client', async () => {
    const hook = await hookServer(() => ({ status: 200, body: { allow: true } }))
    hooks.push(hook)
    const s = await server({ auth: { mode: 'hook', hookUrl: hook.url }, trustedProxies: ['loopback'] })
    const socket = await connect(s, { headers: { 'X-Forwarded-For': '203.0.113.7' } })
    assert.equal((await joinCode(s, socket)).code, 'joined')
    assert.equal(hook.requests[0]?.remoteAddress, '203.0.113.7')
  })

  it('a hook that cannot be reached fails too', async () => {
    const hook = await hookServer(() => ({ status: 200, body: { allow: true } }))
    await hook.close()
    const s = await server({ auth: { mode: 'hook', hookUrl: hook.url } })
    assert.equal((await joinCode(s, await connect(s))).code, ErrorCode.UNAUTHORIZED)
  })
})

/** Opens an Engine.IO 3 websocket (what a websocket-star 0.10 client does) and resolves the first socket.io packet the server sends after the engine.io handshake. */
async function legacyFirstPacket (target: RendezvousServer): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${target.port}/socket.io/?EIO=3&transport=websocket`)
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('no socket.io packet within 5 s')) }, 5000)
      ws.on('message', (data: Buffer) => {
        const text = data.toString()
        // 0: engine.io open; 4x: socket.io packets (40 connect, 44 error)
        if (text.startsWith('4')) {
          clearTimeout(timer)
          resolve(text)
        }
      })
      ws.on('error', (err) => { clearTimeout(timer); reject(err) })
    })
  } finally {
    ws.terminate()
  }
}

describe('private servers: legacy clients', () => {
  it('are refused with ERR_UNAUTHORIZED unless allowLegacy', async () => {
    const tokensFile = file('some-token\n')
    const closed = await server({ legacy: true, auth: { mode: 'token', tokensFile } })
    const packet = await legacyFirstPacket(closed)
    assert.match(packet, /^44/)
    assert.match(packet, /ERR_UNAUTHORIZED/)
    assert.equal(await metricValue(closed, 'wsstar_auth_refusals_total{reason="legacy"}'), 1)
    const open = await server({ legacy: true, auth: { mode: 'token', tokensFile, allowLegacy: true } })
    assert.match(await legacyFirstPacket(open), /^40/)
    assert.equal(await metricValue(open, `wsstar_rejected_total{code="${ErrorCode.UNAUTHORIZED}"}`), 0)
  })
})
