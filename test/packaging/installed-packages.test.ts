/**
 * The packages as an npm user gets them: `npm pack` of protocol, rendezvous
 * and transport, installed together into a fresh project under the OS temp
 * dir (outside the workspace, so nothing resolves from its node_modules),
 * with libp2p (from the npm cache where it has them). There: the installed bin's --help, a server
 * started from the installed bin, two libp2p 3 nodes through the installed
 * transport (consumer/connect.mjs), and a type check of the installed
 * declarations (consumer/types.ts). Uses only npm and the registry (or its cache).
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import type { ChildProcess } from 'node:child_process'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CONSUMER = `${ROOT}test/packaging/consumer`
const PACKAGES = ['protocol', 'rendezvous', 'transport']
/** what the fresh project installs besides the tarballs, at the workspace's versions (in the npm cache) */
const PEERS = ['libp2p', '@libp2p/noise', '@libp2p/yamux', '@libp2p/ping', '@types/node', 'typescript']

const run = promisify(execFile)

/**
 * The environment of an npm user's shell: what the `npm test` around us set
 * for the workspace (package, lifecycle, local prefix) dropped, the npm
 * configuration it passed on (cache, global config with its CA file, …) kept.
 * npm runs on the Node of the caller's PATH, as the user's npm would (its
 * global config is found from there).
 */
const WORKSPACE_VARS = /^(npm_package_|npm_lifecycle_|npm_command$|npm_config_local_prefix$|npm_config_call$|npm_config_workspaces?$|init_cwd$)/i
const npmEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !WORKSPACE_VARS.test(k)))
/** The installed bin's `#!/usr/bin/env -S node …` needs Node >= 22: the one running this test, first on PATH. */
const binEnv: NodeJS.ProcessEnv = { ...npmEnv, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` }

function versionOf (name: string): string {
  return (JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version
}

interface PackResult { filename: string, name: string, files: Array<{ path: string }> }

describe('packed packages installed into a fresh project', { timeout: 420_000 }, () => {
  let dir = ''
  let project = ''
  let packed: PackResult[] = []
  let server: ChildProcess | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wsstar-installed-'))
    project = join(dir, 'project')
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir, ...PACKAGES.map(p => `--workspace=packages/${p}`)],
      { cwd: ROOT, env: npmEnv, timeout: 60_000 })
    packed = JSON.parse(stdout) as PackResult[]
    cpSync(CONSUMER, project, { recursive: true })
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error',
      ...packed.map(p => join(dir, p.filename)), ...PEERS.map(name => `${name}@${versionOf(name)}`)],
    { cwd: project, env: npmEnv, timeout: 240_000 })
  })

  after(() => {
    if (server?.pid != null && server.exitCode == null) process.kill(-server.pid, 'SIGKILL')
    if (dir !== '') rmSync(dir, { recursive: true, force: true })
  })

  it('each tarball has a README, a LICENSE, engines, types in its exports, and the sources its source maps point to', () => {
    assert.deepEqual(packed.map(p => p.name).sort(), PACKAGES.map(p => `@wsstar/${p}`))
    for (const p of packed) {
      const files = new Set(p.files.map(f => f.path))
      for (const required of ['README.md', 'LICENSE', 'package.json']) assert.ok(files.has(required), `${p.name} ships ${required}`)
      assert.deepEqual([...files].filter(f => /(^|\/)test\/|tsbuildinfo$/.test(f)), [], `${p.name} ships no tests or build state`)
      for (const map of [...files].filter(f => f.endsWith('.map'))) {
        const { sources } = JSON.parse(readFileSync(join(project, 'node_modules', p.name, map), 'utf8')) as { sources: string[] }
        for (const source of sources) {
          const path = join(dirname(map), source)
          assert.ok(files.has(path), `${p.name}: ${map} points to ${path}, which ships too`)
        }
      }
      const manifest = JSON.parse(readFileSync(join(project, 'node_modules', p.name, 'package.json'), 'utf8'))
      assert.equal(manifest.engines?.node, '>=22', `${p.name} engines`)
      assert.equal(typeof manifest.exports['.'].types, 'string', `${p.name} exports types`)
      assert.equal(typeof manifest.repository?.url, 'string', `${p.name} repository`)
      for (const entry of Array.isArray(manifest.sideEffects) ? manifest.sideEffects as string[] : []) {
        assert.ok(files.has(entry.replace(/^\.\//, '')), `${p.name}: sideEffects names ${entry}, which ships`)
      }
    }
  })

  it('npx wsstar-rendezvous --help runs the installed bin', async () => {
    const { stdout } = await run('npx', ['wsstar-rendezvous', '--help'], { cwd: project, env: binEnv, timeout: 30_000 })
    assert.match(stdout, /--port/)
  })

  it('two libp2p 3 nodes discover each other and ping through a server started from the installed bin', async () => {
    server = spawn('npx', ['wsstar-rendezvous', '--port', '0', '--host', '127.0.0.1'], { cwd: project, env: binEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`the server did not start within 30 s: ${log}`)) }, 30_000)
      const onData = (chunk: Buffer): void => {
        log += chunk.toString()
        const m = log.match(/listening on \/ip4\/127\.0\.0\.1\/tcp\/(\d+)\//)
        if (m != null) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      }
      server?.stdout?.on('data', onData)
      server?.stderr?.on('data', onData)
      server?.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code}): ${log}`)) })
    })
    const { stdout } = await run(process.execPath, ['connect.mjs', String(port)], { cwd: project, env: binEnv, timeout: 60_000 })
    const line = stdout.split('\n').find(l => l.startsWith('result '))
    assert.ok(line != null, `connect.mjs printed no result: ${stdout}`)
    const result = JSON.parse(line.slice('result '.length))
    assert.ok(result.rtt >= 0, line)
    assert.match(result.remoteAddr, new RegExp(`/tcp/${port}/ws/p2p-websocket-star/p2p/`))
    assert.ok(result.libraryPort > 0, 'createRendezvousServer from the installed package listened')
    assert.equal(result.errorsExtendWsStarError, true)
  })

  it('the installed declarations type-check (exports lead to types; WsStarError comes from the transport)', async () => {
    const tsc = join(project, 'node_modules/typescript/bin/tsc')
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, env: binEnv, timeout: 120_000 }).catch((err: { stdout?: string }) => {
      assert.fail(`tsc: ${err.stdout ?? String(err)}`)
    })
  })
})
