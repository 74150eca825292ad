/**
 * The rendezvous CLI as a child process on loopback, so a crash shows up as
 * an exit: its stdout lines (pino JSON) are kept for log-volume assertions,
 * /health is read from the client port, /metrics and (with
 * --expose-internals) /debug/internals from the admin listener
 * (--admin-port, on a second free port).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../helpers/free-port.js'
import type { ChildProcess } from 'node:child_process'

/** re-exported: tests that start servers of their own pick ports with it */
export { freePort }

export const CLI = fileURLToPath(new URL('../../../../packages/rendezvous/dist/src/cli.js', import.meta.url))

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface ServerProcessOptions {
  /** default: a free port */
  port?: number
  /** node flags, e.g. --expose-gc */
  nodeArgs?: string[]
  /** default info */
  logLevel?: string
  /**
   * keep the per-IP limits at their defaults; otherwise they are raised out
   * of the way (every client of this suite connects from 127.0.0.1)
   */
  defaultPerIpLimits?: boolean
  /** run the server under this open-file limit (`ulimit -n`, through bash) */
  openFileLimit?: number
}

/** Per-IP limits out of the way: `args` given after these still win (the last flag counts). */
export const RAISED_PER_IP_LIMITS = ['--max-sockets-per-ip', '1000000', '--join-rate-per-ip', '1000000', '--join-burst-per-ip', '1000000']

export interface ServerProcess {
  readonly port: number
  /** the admin listener: /metrics, /status.json, /debug/internals */
  readonly adminPort: number
  readonly child: ChildProcess
  /** resolves when the process exits, for whatever reason */
  readonly exited: Promise<Exit>
  /** set once it exited */
  exit?: Exit
  /** stdout lines so far (pino JSON, one object per line) */
  lines: string[]
  stderr: string
  health(): Promise<{ status: number, body: any }>
  metricsText(): Promise<string>
  /** one sample, e.g. `wsstar_rejected_total{code="ERR_BAD_REQUEST"}`; 0 when absent */
  metric(sample: string): Promise<number>
  /** every sample of one metric name, keyed by its label set string (`code="X"`) */
  metricsOf(name: string): Promise<Record<string, number>>
  /** GET /debug/internals (needs --expose-internals); gc: collect first (needs --expose-gc) */
  internals(gc?: boolean): Promise<{ server: Record<string, number>, resources: Record<string, number>, memory: NodeJS.MemoryUsage, gc: boolean }>
  /** SIGTERM and wait for the exit */
  stop(): Promise<Exit>
  /** asserts it is still running */
  alive(): boolean
}

export function parseSamples (text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    const m = /^(?:\{([^}]*)\})? (\S+)$/.exec(rest)
    if (m == null) continue
    out[m[1] ?? ''] = Number(m[2])
  }
  return out
}

/** Starts `wsstar-rendezvous --host 127.0.0.1 --port <port> --admin-port <port> ...args` and waits for /health. */
export async function spawnServer (args: string[] = [], options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const port = options.port ?? await freePort()
  const adminPort = await freePort()
  // HOSTILE_SERVER_NODE_ARGS: extra node flags for every server, e.g. --cpu-prof to see where the time goes
  const extra = (process.env.HOSTILE_SERVER_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
  const command = [process.execPath, ...extra, ...(options.nodeArgs ?? []), CLI, '--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort), '--log-level', options.logLevel ?? 'info', ...(options.defaultPerIpLimits === true ? [] : RAISED_PER_IP_LIMITS), ...args]
  const child = options.openFileLimit == null
    ? spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    // exec: the server is bash's process itself, so signals reach it
    : spawn('bash', ['-c', `ulimit -n ${options.openFileLimit} && exec "$@"`, 'bash', ...command], { stdio: ['ignore', 'pipe', 'pipe'] })
  const base = `http://127.0.0.1:${port}`
  const admin = `http://127.0.0.1:${adminPort}`
  let partial = ''
  const proc: ServerProcess = {
    port,
    adminPort,
    child,
    lines: [],
    stderr: '',
    exited: new Promise<Exit>(resolve => {
      child.on('exit', (code, signal) => {
        proc.exit = { code, signal }
        resolve(proc.exit)
      })
    }),
    async health () {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) })
      return { status: res.status, body: await res.json() }
    },
    async metricsText () {
      const res = await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(5000) })
      return await res.text()
    },
    async metric (sample: string) {
      const text = await proc.metricsText()
      const line = text.split('\n').find(l => l.startsWith(`${sample} `))
      return line == null ? 0 : Number(line.slice(sample.length + 1))
    },
    async metricsOf (name: string) {
      return parseSamples(await proc.metricsText(), name)
    },
    async internals (gc = false) {
      const res = await fetch(`${admin}/debug/internals${gc ? '?gc=1' : ''}`, { signal: AbortSignal.timeout(10_000) })
      if (res.status !== 200) throw new Error(`/debug/internals answered ${res.status}`)
      return await res.json() as any
    },
    async stop () {
      if (proc.exit == null) child.kill('SIGTERM')
      return await proc.exited
    },
    alive () {
      return proc.exit == null
    }
  }
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString()
    const parts = text.split('\n')
    partial = parts.pop() ?? ''
    for (const line of parts) if (line !== '') proc.lines.push(line)
  })
  child.stderr?.on('data', (chunk: Buffer) => { proc.stderr += chunk.toString() })
  const deadline = Date.now() + 15_000
  for (;;) {
    if (proc.exit != null) {
      throw new Error(`server exited during start (${JSON.stringify(proc.exit)}): ${proc.stderr}${proc.lines.join('\n')}`)
    }
    try {
      await proc.health()
      return proc
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`no /health on ${port} within 15 s`)
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
}

/** Parsed pino log lines, for assertions on what the server logged. */
export function logRecords (proc: ServerProcess): Array<Record<string, any>> {
  return proc.lines.map(line => {
    try {
      return JSON.parse(line)
    } catch {
      return { msg: line, unparsed: true }
    }
  })
}
