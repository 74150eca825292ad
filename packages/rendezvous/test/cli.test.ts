import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { CliUsageError, parseCli } from '../src/cli-options.js'
import { cliLogger } from '../src/cli-logger.js'
import { ConnectRefused, closeClients, connect } from '@wsstar/raw-client'
import { PROTOCOL_VERSION } from '@wsstar/protocol'
import type { ChildProcess } from 'node:child_process'

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url))

interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

function run (args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess, done: Promise<Run>, output: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const done = new Promise<Run>(resolve => {
    child.on('exit', (code, signal) => { resolve({ code, signal, stdout, stderr }) })
  })
  return { child, done, output: () => stdout + stderr }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => { resolve(port) })
    })
    srv.on('error', reject)
  })
}

async function waitForHealth (port: number, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) })
      return await res.json()
    } catch {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
  throw new Error(`no /health on ${port}`)
}

describe('wsstar-rendezvous CLI', () => {
  it('--help lists the flags and their env vars', async () => {
    const { done } = run(['--help'])
    const result = await done
    assert.equal(result.code, 0)
    for (const flag of ['--port', '--host', '--no-challenge', '--announce', '--max-peers', '--max-sockets', '--max-addresses-per-socket',
      '--max-dials-per-socket', '--dial-rate', '--join-rate', '--max-message-bytes', '--handshake-timeout', '--dial-timeout', '--window',
      '--sample-size', '--log-level', 'WSSTAR_PORT', 'WSSTAR_MAX_PEERS']) {
      assert.ok(result.stdout.includes(flag), flag)
    }
  })

  it('--version prints the package version; --help and --version work whatever the env vars say', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    const version = await run(['--version'], { WSSTAR_WINDOW: 'lots' }).done
    assert.equal(version.code, 0, version.stderr)
    assert.equal(version.stdout.trim(), pkg.version)
    const help = await run(['--help'], { WSSTAR_WINDOW: 'lots', WSSTAR_PORT: 'eighty' }).done
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /Usage: wsstar-rendezvous/)
    assert.match(help.stdout, /--version/)
  })

  it('logs JSON when stdout is not a terminal, human-readable lines when it is', () => {
    const lines: string[] = []
    const sink = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done() } })
    cliLogger({ level: 'info', pretty: false, destination: sink }).info({ port: 1 }, 'hello json')
    assert.equal(JSON.parse(lines[0]).msg, 'hello json')
    lines.length = 0
    cliLogger({ level: 'info', pretty: true, destination: sink }).info({ port: 1 }, 'hello terminal')
    const text = lines.join('')
    assert.throws(() => JSON.parse(text), 'not JSON')
    assert.match(text, /INFO/)
    assert.match(text, /hello terminal/)
  })

  it('a bad flag value exits with 2 and a clear message', async () => {
    const result = await run(['--port', 'eighty']).done
    assert.equal(result.code, 2)
    assert.match(result.stderr, /invalid value for --port: "eighty"/)
    const unknown = await run(['--frobnicate']).done
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /frobnicate/)
    const env = await run([], { WSSTAR_WINDOW: 'lots' }).done
    assert.equal(env.code, 2)
    assert.match(env.stderr, /invalid value for WSSTAR_WINDOW: "lots"/)
  })

  it('the env var sets the port; SIGTERM stops gracefully with exit 0', async () => {
    const port = await freePort()
    const proc = run(['--host', '127.0.0.1', '--no-challenge'], { WSSTAR_PORT: String(port), WSSTAR_LOG_LEVEL: 'info' })
    try {
      const health = await waitForHealth(port)
      assert.equal(health.status, 'ok')
      // the log line travels a pipe, /health a socket: either may arrive first
      // the exact address a client listens on
      const listening = new RegExp(`listening on /ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star`)
      for (let i = 0; i < 100 && !listening.test(proc.output()); i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      assert.match(proc.output(), listening)
      assert.match(proc.output(), /challenge is OFF/, 'turning the challenge off is logged as a warning')
    } finally {
      proc.child.kill('SIGTERM')
    }
    const result = await proc.done
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /stopped/)
  })

  it('--admin-port serves /metrics and the status page there; the client port answers /health only', async () => {
    const [port, adminPort] = [await freePort(), await freePort()]
    const proc = run(['--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort)])
    try {
      await waitForHealth(port)
      assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })).status, 404)
      const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(10_000) })
      assert.equal(metrics.status, 200)
      assert.match(await metrics.text(), /^wsstar_peers 0$/m)
      assert.equal((await fetch(`http://127.0.0.1:${adminPort}/`, { signal: AbortSignal.timeout(10_000) })).status, 200)
      for (let i = 0; i < 100 && !proc.output().includes(`http://127.0.0.1:${adminPort}/`); i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      assert.ok(proc.output().includes(`operator endpoints: http://127.0.0.1:${adminPort}/metrics`), 'the startup log names the admin listener')
    } finally {
      proc.child.kill('SIGTERM')
    }
    assert.equal((await proc.done).code, 0)
  })

  it('--auth token: SIGHUP reads the token file again; a bad file is logged and the tokens in use stay', async () => {
    const port = await freePort()
    const tokens = join(mkdtempSync(join(tmpdir(), 'wsstar-cli-auth-')), 'tokens')
    writeFileSync(tokens, 'first-token\n')
    const proc = run(['--host', '127.0.0.1', '--port', String(port), '--auth', 'token', '--auth-tokens-file', tokens])
    /** 'connected', or the code of the refusal */
    const admits = async (token: string): Promise<string | undefined> => {
      try {
        (await connect(port, { auth: { protocol: PROTOCOL_VERSION, token } })).disconnect()
        return 'connected'
      } catch (err) {
        assert.ok(err instanceof ConnectRefused, String(err))
        return err.data?.code
      }
    }
    const logged = async (pattern: RegExp, count: number): Promise<void> => {
      for (let i = 0; i < 500 && (proc.output().match(new RegExp(pattern, 'g')) ?? []).length < count; i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      assert.equal((proc.output().match(new RegExp(pattern, 'g')) ?? []).length, count, proc.output())
    }
    try {
      await waitForHealth(port)
      assert.equal(await admits('first-token'), 'connected')
      assert.equal(await admits('second-token'), 'ERR_UNAUTHORIZED')
      writeFileSync(tokens, 'second-token max-peers=4\n')
      proc.child.kill('SIGHUP')
      await logged(/auth files reloaded/, 1)
      assert.equal(await admits('second-token'), 'connected')
      assert.equal(await admits('first-token'), 'ERR_UNAUTHORIZED')
      writeFileSync(tokens, 'third-token max-peers=none\n')
      proc.child.kill('SIGHUP')
      await logged(/auth reload failed/, 1)
      assert.equal(await admits('second-token'), 'connected')
      assert.equal(await admits('third-token'), 'ERR_UNAUTHORIZED')
      assert.ok(!proc.output().includes('third-token'), 'the log does not show tokens')
    } finally {
      closeClients()
      proc.child.kill('SIGTERM')
    }
    assert.equal((await proc.done).code, 0)
  })

  it('parses flags over env vars, units and booleans', () => {
    const config = parseCli(['--window', '4MiB', '--handshake-timeout', '2s', '--dial-rate', '2.5', '--announce', '/dns4/a.example/tcp/443/wss,/ip4/1.2.3.4/tcp/13579/ws'],
      { WSSTAR_WINDOW: '2MiB', WSSTAR_MAX_PEERS: '10', WSSTAR_CHALLENGE: 'false' })
    assert.equal(config.options.limits.windowBytes, 4 * 1024 * 1024)
    assert.equal(config.options.limits.handshakeTimeoutMs, 2000)
    assert.equal(config.options.limits.dialRate, 2.5)
    assert.equal(config.options.limits.maxPeers, 10)
    assert.equal(config.options.challenge, false)
    assert.deepEqual(config.options.announce, ['/dns4/a.example/tcp/443/wss', '/ip4/1.2.3.4/tcp/13579/ws'])
    const stray = parseCli(['--stray-reply-rate', '2.5'], { WSSTAR_STRAY_REPLY_BURST: '40' }).options.limits
    assert.deepEqual([stray.strayReplyRate, stray.strayReplyBurst], [2.5, 40])
    const cluster = parseCli(['--redis-url', 'redis://127.0.0.1:6379', '--peer-ttl', '10s'], { WSSTAR_NODE_TTL: '2000' }).options.cluster
    assert.deepEqual([cluster?.peerTtlMs, cluster?.nodeTtlMs], [10_000, 2000])
    assert.throws(() => parseCli(['--node-ttl', '2s']), /--node-ttl needs --redis-url/)
    assert.throws(() => parseCli(['--redis-url', 'redis://127.0.0.1:6379', '--node-ttl', '5ms']), /invalid value for --node-ttl: "5ms"/)
    assert.throws(() => parseCli(['--max-peers', '1.5']), CliUsageError)
    assert.throws(() => parseCli(['--window', '1KiB']), /--window/)
    assert.throws(() => parseCli(['--announce', '/ip4/1.2.3.4']), /--announce/)
    assert.throws(() => parseCli(['--log-level', 'loud']), /--log-level/)
    assert.throws(() => parseCli([], { WSSTAR_CHALLENGE: 'maybe' }), /WSSTAR_CHALLENGE/)
    const admin = parseCli(['--admin-port', '9464'], { WSSTAR_ADMIN_HOST: '0.0.0.0', WSSTAR_PUBLIC_ADMIN: 'false' })
    assert.equal(admin.options.adminPort, 9464)
    assert.equal(admin.options.adminHost, '0.0.0.0')
    assert.equal(admin.options.publicAdmin, false)
    assert.equal(parseCli([]).options.adminPort, undefined, 'no admin listener by default')
    assert.throws(() => parseCli(['--admin-port', 'x']), /--admin-port/)
    assert.throws(() => parseCli(['--expose-internals']), /--admin-port/)
  })

  it('--trusted-proxies takes IPs, CIDRs and proxy-addr names, from flags or WSSTAR_TRUSTED_PROXIES; the per-IP limits take their units', () => {
    assert.deepEqual(parseCli(['--trusted-proxies', '10.0.0.0/8,192.0.2.1', '--trusted-proxies', 'loopback']).options.trustedProxies, ['10.0.0.0/8', '192.0.2.1', 'loopback'])
    assert.deepEqual(parseCli([], { WSSTAR_TRUSTED_PROXIES: 'uniquelocal, fd00::/8' }).options.trustedProxies, ['uniquelocal', 'fd00::/8'])
    assert.equal(parseCli([]).options.trustedProxies, undefined)
    assert.throws(() => parseCli(['--trusted-proxies', '10.0.0.0/99']), /--trusted-proxies/)
    assert.throws(() => parseCli([], { WSSTAR_TRUSTED_PROXIES: 'not-an-ip' }), /WSSTAR_TRUSTED_PROXIES/)
    const limits = parseCli(['--max-sockets-per-ip', '32', '--join-rate-per-ip', '2.5'], { WSSTAR_JOIN_BURST_PER_IP: '40' }).options.limits
    assert.deepEqual([limits.maxSocketsPerIp, limits.joinRatePerIp, limits.joinBurstPerIp], [32, 2.5, 40])
  })

  it('--dial-scope takes any or namespace, from the flag or WSSTAR_DIAL_SCOPE; the namespace limits take their values', () => {
    assert.equal(parseCli([]).options.dialScope, undefined)
    assert.equal(parseCli(['--dial-scope', 'namespace']).options.dialScope, 'namespace')
    assert.equal(parseCli([], { WSSTAR_DIAL_SCOPE: 'namespace' }).options.dialScope, 'namespace')
    assert.equal(parseCli(['--dial-scope', 'any'], { WSSTAR_DIAL_SCOPE: 'namespace' }).options.dialScope, 'any')
    assert.throws(() => parseCli(['--dial-scope', 'room']), /--dial-scope/)
    assert.throws(() => parseCli([], { WSSTAR_DIAL_SCOPE: 'nobody' }), CliUsageError)
    const limits = parseCli(['--max-namespaces', '4', '--namespace-metrics-top', '0'], { WSSTAR_MAX_NAMESPACE_LENGTH: '32' }).options.limits
    assert.deepEqual([limits.maxNamespaces, limits.maxNamespaceLength, limits.namespaceMetricsTop], [4, 32, 0])
    assert.throws(() => parseCli(['--max-namespaces', '65']), /--max-namespaces/)
  })
})
