/**
 * wss end to end: a certificate made by the documented script
 * (scripts/self-signed-cert.mjs), a rendezvous server with --tls-cert /
 * --tls-key, and libp2p nodes listening and dialling through
 * `/wss/p2p-websocket-star` with that certificate trusted as a CA (this test
 * process only: node:test runs each file in its own process). SIGHUP makes
 * the CLI load a replaced certificate without dropping its sockets.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, getCACertificates, setDefaultCACertificates } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { freePort } from './helpers/free-port.js'
import { createNode } from './helpers/nodes.js'
import { startRendezvous } from './helpers/rendezvous.js'
import { waitFor } from './helpers/wait.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CERT_SCRIPT = join(ROOT, 'scripts/self-signed-cert.mjs')
const CLI = join(ROOT, 'packages/rendezvous/dist/src/cli.js')

/** Runs the documented script; returns the paths it wrote. */
function makeCert (dir: string): { cert: string, key: string, haproxy: string } {
  execFileSync(process.execPath, [CERT_SCRIPT, '--out', dir, '--days', '2'], { cwd: ROOT, stdio: 'pipe', timeout: 30_000 })
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), haproxy: join(dir, 'haproxy.pem') }
}

/** SHA-256 fingerprint of the certificate a TLS server on 127.0.0.1:port presents (not verified). */
async function servedFingerprint (port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? ''
      socket.destroy()
      resolve(fingerprint)
    })
    socket.setTimeout(5000, () => { socket.destroy(new Error('no TLS handshake within 5 s')) })
    socket.once('error', reject)
  })
}

describe('TLS: wss through a server with a self-signed certificate', { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsstar-tls-'))
  let paths: ReturnType<typeof makeCert>
  let server: TestServer
  const nodes: TestNode[] = []

  before(async () => {
    paths = makeCert(join(dir, 'a'))
    // trust the test CA in this process only, like NODE_EXTRA_CA_CERTS would
    setDefaultCACertificates([...getCACertificates('default'), readFileSync(paths.cert, 'utf8')])
    server = await startRendezvous({ tlsCert: paths.cert, tlsKey: paths.key })
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the server\'s own addresses say /wss', () => {
    assert.deepEqual(server.addresses.map(String), [`/ip4/127.0.0.1/tcp/${server.port}/wss`])
  })

  it('two libp2p nodes listen on /wss/p2p-websocket-star and dial each other through it', async () => {
    const listen = `/ip4/127.0.0.1/tcp/${server.port}/wss/p2p-websocket-star`
    const [a, b] = await Promise.all([createNode({ listen: [listen] }), createNode({ listen: [listen] })])
    nodes.push(a, b)
    assert.deepEqual(a.getMultiaddrs().map(String), [`${listen}/p2p/${a.peerId}`], 'a registered over wss')
    const rtt = await b.services.ping.ping(multiaddr(`${listen}/p2p/${a.peerId}`), { signal: AbortSignal.timeout(20_000) })
    assert.ok(rtt >= 0)
    assert.equal(server.stats().peers, 2)
  })

  it('plain ws is not served on a TLS port', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/health`, { signal: AbortSignal.timeout(5000) }).then(r => r.status, () => 'refused')
    assert.notEqual(res, 200)
    const secure = await fetch(`https://127.0.0.1:${server.port}/health`, { signal: AbortSignal.timeout(5000) })
    assert.equal(secure.status, 200)
  })

  it('the Dockerfile\'s healthcheck asks over https when the TLS files are given as env vars', async () => {
    const dockerfile = readFileSync(join(ROOT, 'packages/rendezvous/Dockerfile'), 'utf8')
    const command = /CMD node -e "(.*)"\s*$/m.exec(dockerfile)?.[1]
    assert.ok(command != null, 'a HEALTHCHECK CMD node -e "..." line')
    // a child process: the server it asks runs on this process's event loop
    const check = async (env: Record<string, string>): Promise<number | null> => await new Promise(resolve => {
      const child = spawn(process.execPath, ['-e', command], { env: { ...process.env, WSSTAR_PORT: String(server.port), ...env }, stdio: 'ignore', timeout: 10_000 })
      child.on('exit', code => { resolve(code) })
    })
    assert.equal(await check({ WSSTAR_TLS_CERT: paths.cert }), 0, 'https /health answers 200')
    assert.equal(await check({ WSSTAR_TLS_CERT: '' }), 1, 'plain http cannot talk to a TLS port')
  })

  it('the CLI serves --tls-cert / --tls-key, logs the wss client address and reloads them on SIGHUP, keeping its sockets', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', String(port), '--tls-cert', paths.cert, '--tls-key', paths.key], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { output += d.toString() })
    const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
    try {
      await waitFor(() => output.includes(`/ip4/127.0.0.1/tcp/${port}/wss/p2p-websocket-star`), 15_000)
      const first = await servedFingerprint(port)
      assert.equal(first, new X509Certificate(readFileSync(paths.cert)).fingerprint256)
      const listen = `/ip4/127.0.0.1/tcp/${port}/wss/p2p-websocket-star`
      const node = await createNode({ listen: [listen] })
      nodes.push(node)
      assert.equal(node.getMultiaddrs().length, 1)

      // replace the files in place, as a certificate renewal does, then SIGHUP
      const renewed = makeCert(join(dir, 'b'))
      execFileSync('cp', [renewed.cert, paths.cert])
      execFileSync('cp', [renewed.key, paths.key])
      child.kill('SIGHUP')
      const expected = new X509Certificate(readFileSync(renewed.cert)).fingerprint256
      await waitFor(async () => await servedFingerprint(port) === expected, 10_000)
      // the log line travels a pipe, the handshake a socket: either may arrive first
      await waitFor(() => output.includes('TLS certificate reloaded'), 10_000)
      assert.equal(node.getMultiaddrs().length, 1, 'the registered node kept its socket')
      assert.equal(child.exitCode, null, 'SIGHUP does not stop the server')
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, output)
  })
})
