import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/**
 * A small internet inside network namespaces, for tests only:
 *
 *   [pub] 203.0.113.10 (bridge) — the rendezvous server's "public" segment
 *     ├── [r1] wan 203.0.113.11, NAT (MASQUERADE) ── lan 10.201.1.1 ── [a] 10.201.1.2
 *     └── [r2] wan 203.0.113.12, NAT (MASQUERADE) ── lan 10.201.2.1 ── [b] 10.201.2.2
 *
 * The routers have no default route and no route to each other's LAN, and
 * conntrack drops unsolicited inbound packets, so a and b cannot reach each
 * other directly: they only reach the public segment, as peers behind home NATs
 * reach a server. 203.0.113.0/24 is TEST-NET-3 and 10.201.0.0/16 exists only in
 * these namespaces; no packet leaves them.
 */
export interface Topology {
  prefix: string
  serverIp: string
  hostIps: { a: string, b: string }
  ns: { pub: string, r1: string, r2: string, a: string, b: string }
  exec: (ns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) => ChildProcessWithoutNullStreams
  destroy: () => void
}

function sh (args: string[]): void {
  execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
}

function tryDelete (ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' })
  } catch {
    // no such namespace: nothing to delete
  }
}

export function listNamespaces (): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n').map(l => l.split(' ')[0]).filter(Boolean)
  } catch {
    return []
  }
}

/** Removes namespaces left behind by an earlier crashed run with this prefix. */
export function removeStale (prefix: string): void {
  for (const ns of listNamespaces()) {
    if (ns.startsWith(prefix)) tryDelete(ns)
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * A prefix of its own for this process, `<base><pid>`, so that two test runs
 * on one machine do not share (or delete) each other's namespaces; namespaces
 * of `<base><pid>` whose process is gone are removed. `<base>` plus a pid and
 * an interface suffix must fit the 15 characters of an interface name.
 */
export function processPrefix (base: string): string {
  for (const ns of listNamespaces()) {
    const pid = new RegExp(`^${base}(\\d+)-`).exec(ns)?.[1]
    if (pid != null && !alive(Number(pid))) tryDelete(ns)
  }
  return `${base}${process.pid}`
}

export function createTopology (prefix = 'wsn'): Topology {
  removeStale(prefix)
  const ns = { pub: `${prefix}-pub`, r1: `${prefix}-r1`, r2: `${prefix}-r2`, a: `${prefix}-a`, b: `${prefix}-b` }
  const destroy = (): void => {
    for (const name of Object.values(ns)) tryDelete(name)
  }
  try {
    for (const name of Object.values(ns)) {
      sh(['ip', 'netns', 'add', name])
      sh(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
    }
    const inNs = (name: string, ...args: string[]): void => sh(['ip', 'netns', 'exec', name, ...args])

    // public segment: a bridge in pub carries the server address
    sh(['ip', '-n', ns.pub, 'link', 'add', 'br0', 'type', 'bridge'])
    sh(['ip', '-n', ns.pub, 'addr', 'add', '203.0.113.10/24', 'dev', 'br0'])
    sh(['ip', '-n', ns.pub, 'link', 'set', 'br0', 'up'])

    const routers = [
      { r: ns.r1, host: ns.a, wan: '203.0.113.11', lan: '10.201.1' },
      { r: ns.r2, host: ns.b, wan: '203.0.113.12', lan: '10.201.2' }
    ]
    for (const [i, { r, host, wan, lan }] of routers.entries()) {
      // wan: router <-> public bridge
      sh(['ip', 'link', 'add', `${prefix}w${i}`, 'netns', r, 'type', 'veth', 'peer', 'name', `${prefix}p${i}`, 'netns', ns.pub])
      sh(['ip', '-n', ns.pub, 'link', 'set', `${prefix}p${i}`, 'master', 'br0'])
      sh(['ip', '-n', ns.pub, 'link', 'set', `${prefix}p${i}`, 'up'])
      sh(['ip', '-n', r, 'addr', 'add', `${wan}/24`, 'dev', `${prefix}w${i}`])
      sh(['ip', '-n', r, 'link', 'set', `${prefix}w${i}`, 'up'])
      // lan: router <-> private host
      sh(['ip', 'link', 'add', `${prefix}l${i}`, 'netns', r, 'type', 'veth', 'peer', 'name', `${prefix}h${i}`, 'netns', host])
      sh(['ip', '-n', r, 'addr', 'add', `${lan}.1/24`, 'dev', `${prefix}l${i}`])
      sh(['ip', '-n', r, 'link', 'set', `${prefix}l${i}`, 'up'])
      sh(['ip', '-n', host, 'addr', 'add', `${lan}.2/24`, 'dev', `${prefix}h${i}`])
      sh(['ip', '-n', host, 'link', 'set', `${prefix}h${i}`, 'up'])
      sh(['ip', '-n', host, 'route', 'add', 'default', 'via', `${lan}.1`])
      // NAT: forward lan -> wan only, masquerade, drop unsolicited inbound
      inNs(r, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
      inNs(r, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', `${prefix}w${i}`, '-j', 'MASQUERADE')
      inNs(r, 'iptables', '-A', 'FORWARD', '-i', `${prefix}l${i}`, '-o', `${prefix}w${i}`, '-j', 'ACCEPT')
      inNs(r, 'iptables', '-A', 'FORWARD', '-i', `${prefix}w${i}`, '-o', `${prefix}l${i}`, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
      inNs(r, 'iptables', '-P', 'FORWARD', 'DROP')
    }
  } catch (err) {
    destroy()
    throw err
  }

  return {
    prefix,
    serverIp: '203.0.113.10',
    hostIps: { a: '10.201.1.2', b: '10.201.2.2' },
    ns,
    exec: (name, cmd, args, env) => spawn('ip', ['netns', 'exec', name, cmd, ...args], { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] }),
    destroy
  }
}
