/**
 * The cluster topology as processes on loopback: a private `redis-server`
 * on a free port, rendezvous replicas (the real CLI with `--redis-url`) and
 * optionally HAProxy in front. Every child is registered so `stopAll()`
 * (call it in an after() hook) kills whatever is left, even after failures.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './free-port.js'
import { HAPROXY_PATH } from './system-components.js'
import type { ChildProcess } from 'node:child_process'

export const CLI = fileURLToPath(new URL('../../../packages/rendezvous/dist/src/cli.js', import.meta.url))

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()

/** Kills every child this module started (SIGKILL; paused ones are continued first). */
export async function stopAll (): Promise<void> {
  await Promise.all([...children].map(async child => { await killChild(child) }))
  for (const dir of tempDirs) {
    rmSync(dir, { recursive: true, force: true })
  }
  tempDirs.clear()
}

async function killChild (child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode != null || child.signalCode != null) {
    children.delete(child)
    return
  }
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  try {
    child.kill('SIGCONT')
    child.kill(signal)
  } catch {
    // exited between the check and the kill: `exited` resolves all the same
  }
  await exited
  children.delete(child)
}

/**
 * A free port below the kernel's ephemeral range. A server that restarts on
 * its port (Redis in the restart test) must not sit in that range: while it
 * is down, the replicas' reconnect attempts (and any other client on the
 * machine) can be handed that very port as their local port, a TCP
 * self-connect, and the restart then fails with EADDRINUSE.
 */
export async function freePortOutsideEphemeral (): Promise<number> {
  let low = 32768
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low
  } catch {
    // no /proc: Linux's default range starts at 32768
  }
  const min = 10_000
  const max = Math.max(min + 1000, low - 1)
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = min + Math.floor(Math.random() * (max - min))
    const free = await new Promise<boolean>(resolve => {
      const server = createServer()
      server.once('error', () => { resolve(false) })
      server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
    })
    if (free) return port
  }
  return await freePort()
}

export async function waitForPort (port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const ok = await new Promise<boolean>(resolve => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { resolve(false) })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

function track (child: ChildProcess, name: string): { output: () => string } {
  children.add(child)
  let output = ''
  const keep = (chunk: Buffer): void => {
    output += chunk.toString()
    if (output.length > 64 * 1024) output = output.slice(-32 * 1024)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  child.once('exit', () => { children.delete(child) })
  if (process.env.WSSTAR_CLUSTER_DEBUG != null) {
    child.stdout?.on('data', (c: Buffer) => { process.stderr.write(`[${name}] ${c.toString()}`) })
    child.stderr?.on('data', (c: Buffer) => { process.stderr.write(`[${name}] ${c.toString()}`) })
  }
  return { output: () => output }
}

export interface TestRedis {
  port: number
  url: string
  /** SIGKILL */
  kill(): Promise<void>
  /** starts it again on the same port, empty */
  restart(): Promise<void>
}

/** A private, non-persistent redis-server on a free loopback port. */
export async function startRedis (): Promise<TestRedis> {
  const port = await freePortOutsideEphemeral()
  let child: ChildProcess | undefined
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    track(child, `redis:${port}`)
    await waitForPort(port)
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => { if (child != null) await killChild(child) },
    restart: async () => {
      if (child != null) await killChild(child)
      await start()
    }
  }
}

export interface Replica {
  port: number
  nodeId: string
  child: ChildProcess
  /** the replica's stdout + stderr so far (for failure messages) */
  output(): string
  health(): Promise<{ status: string, peers: number, sockets: number, dials: number }>
  kill(signal?: NodeJS.Signals): Promise<void>
  pause(): void
  resume(): void
}

export interface ReplicaOptions {
  redisUrl: string
  prefix: string
  nodeId?: string
  /** the port to listen on (default: a free one) */
  port?: number
  /** extra CLI flags */
  args?: string[]
  env?: Record<string, string>
}

/** Spawns `wsstar-rendezvous --redis-url ...` on a free loopback port; resolves once /health answers. */
export async function startReplica (options: ReplicaOptions): Promise<Replica> {
  const port = options.port ?? await freePort()
  const nodeId = options.nodeId ?? `n${port}`
  const child = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', String(port), '--redis-url', options.redisUrl,
    '--redis-prefix', options.prefix, '--node-id', nodeId, '--log-level', process.env.WSSTAR_CLUSTER_LOG ?? 'warn',
    // every client (and HAProxy) connects from 127.0.0.1: per-IP limits out of the way
    '--max-sockets-per-ip', '1000000', '--join-rate-per-ip', '1000000', '--join-burst-per-ip', '1000000', ...(options.args ?? [])],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  const { output } = track(child, nodeId)
  const health = async (): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) })
    return await res.json()
  }
  const deadline = Date.now() + 15_000
  while (true) {
    if (child.exitCode != null) throw new Error(`replica ${nodeId} exited with ${child.exitCode}: ${output()}`)
    try {
      await health()
      break
    } catch {
      // not listening yet: asked again until the deadline
    }
    if (Date.now() > deadline) throw new Error(`replica ${nodeId} did not start: ${output()}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return {
    port,
    nodeId,
    child,
    output,
    health,
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => { await killChild(child, signal) },
    pause: () => { child.kill('SIGSTOP') },
    resume: () => { child.kill('SIGCONT') }
  }
}

/** A unique key prefix per test run, so runs never see each other's keys. */
export function uniquePrefix (): string {
  return `wsstar-test-${randomBytes(4).toString('hex')}:`
}

export interface TestHaproxy {
  port: number
  kill(): Promise<void>
}

/**
 * HAProxy in front of the replicas, configured like deploy/haproxy.cfg:
 * websocket, leastconn, active health checks on /health (fast intervals
 * for tests).
 */
export async function startHaproxy (backendPorts: number[], port?: number): Promise<TestHaproxy> {
  if (HAPROXY_PATH == null) throw new Error('haproxy is not installed')
  port ??= await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'wsstar-haproxy-'))
  tempDirs.add(dir)
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(cfg, [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 1h',
    '  retries 2',
    '  option redispatch',
    'frontend wsstar',
    `  bind 127.0.0.1:${port}`,
    '  default_backend rendezvous',
    'backend rendezvous',
    '  balance leastconn',
    '  option httpchk GET /health',
    '  http-check expect status 200',
    '  default-server inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions',
    ...backendPorts.map((p, i) => `  server r${i} 127.0.0.1:${p} check`),
    ''
  ].join('\n'))
  const child = spawn(HAPROXY_PATH, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const { output } = track(child, 'haproxy')
  try {
    await waitForPort(port)
  } catch (err) {
    throw new Error(`haproxy did not start: ${output()}`, { cause: err })
  }
  return { port, kill: async () => { await killChild(child) } }
}
