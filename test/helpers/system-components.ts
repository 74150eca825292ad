/**
 * The system components some suites need beyond Node and npm (Chromium and,
 * for WebRTC in it, a default route; redis-server, HAProxy, root with
 * iproute2 + iptables, the legacy 0.10.2 clients on a Node 20), and
 * `requires()`, which a suite passes as its `skip` option. Imports only node:
 * modules.
 *
 * A missing component skips the suite with one line naming it and how to get
 * it; scripts/run-tests.mjs lists those lines in its summary (through the file
 * named by WSSTAR_SKIP_LOG). With WSSTAR_REQUIRE_ALL=1 (as .ci/run sets) a
 * missing component fails the suite's file instead.
 */
import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export interface SystemComponent {
  /** What is missing and how to get it, or undefined when the component is there. */
  missing: () => string | undefined
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function onPath (command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).error == null
}

/** Debian's headless-capable Chromium, driven by playwright-core (never a downloaded browser). */
export const CHROMIUM_PATH = process.env.WSSTAR_CHROMIUM ?? '/usr/bin/chromium'
export const chromium: SystemComponent = {
  missing: () => existsSync(CHROMIUM_PATH) ? undefined : `${CHROMIUM_PATH} not found (apt-get install chromium, or set WSSTAR_CHROMIUM)`
}

/**
 * A default route on a non-loopback interface. Without one, Chromium gathers
 * no WebRTC host candidate at all (never any on loopback), so no upgrade can
 * connect: seen in a network namespace with only lo, and with a veth
 * interface but no route, --allow-loopback-in-peer-connection and
 * --force-webrtc-ip-handling-policy=default notwithstanding; adding the route
 * brought the candidate. The tests' traffic stays on this machine either way.
 */
export const defaultRoute: SystemComponent = {
  missing: () => {
    const routes = (file: string): string => { try { return readFileSync(file, 'utf8') } catch { return '' } }
    // /proc/net/route: Iface Destination ...; /proc/net/ipv6_route: dest prefix-length ... iface
    const v4 = routes('/proc/net/route').split('\n').slice(1).some(line => {
      const [iface, destination] = line.trim().split(/\s+/)
      return destination === '00000000' && iface !== 'lo'
    })
    const v6 = routes('/proc/net/ipv6_route').split('\n').some(line => {
      const fields = line.trim().split(/\s+/)
      return fields[0] === '0'.repeat(32) && fields[1] === '00' && fields[9] != null && fields[9] !== 'lo'
    })
    return v4 || v6 ? undefined : 'no default route on a non-loopback interface, where Chromium gathers its WebRTC candidates (any interface with a default route will do, even an unconnected one)'
  }
}

export const redisServer: SystemComponent = {
  missing: () => spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0 ? undefined : 'redis-server not found on PATH (apt-get install redis-server)'
}

/** HAProxy lives in sbin, often not on a user's PATH; WSSTAR_HAPROXY names another one. */
const HAPROXY_PLACES = process.env.WSSTAR_HAPROXY != null ? [process.env.WSSTAR_HAPROXY] : ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy']
export const HAPROXY_PATH = HAPROXY_PLACES.find(p => existsSync(p))
export const haproxy: SystemComponent = {
  missing: () => HAPROXY_PATH != null ? undefined : `haproxy not found in ${HAPROXY_PLACES.join(', ')} (apt-get install haproxy, or set WSSTAR_HAPROXY)`
}

/** Network namespaces and NAT rules: root, `ip` (iproute2) and `iptables`. */
export const networkNamespaces: SystemComponent = {
  missing: () => {
    const lacks: string[] = []
    if (process.getuid?.() !== 0) lacks.push('needs root (ip netns, iptables)')
    if (!onPath('ip')) lacks.push('ip not found on PATH (apt-get install iproute2)')
    if (!onPath('iptables')) lacks.push('iptables not found on PATH (apt-get install iptables)')
    return lacks.length > 0 ? lacks.join('; ') : undefined
  }
}

/** The real libp2p-websocket-star 0.10.2 client: bench/legacy's own install, run on a Node 20. */
export const LEGACY_DIR = `${ROOT}bench/legacy`
export const LEGACY_NODE = process.env.WSSTAR_LEGACY_NODE ?? '/usr/bin/node'
export const legacyClients: SystemComponent = {
  missing: () => {
    const lacks: string[] = []
    if (!existsSync(`${LEGACY_DIR}/node_modules/libp2p-websocket-star`)) lacks.push('bench/legacy is not installed (npm run setup:legacy)')
    const version = spawnSync(LEGACY_NODE, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? ''
    if (!version.startsWith('v20.')) {
      lacks.push(`${LEGACY_NODE} is ${version === '' ? 'not found' : version}, not Node 20, which the 0.10.2 client's pinned dependencies run on (install Node 20 there, or set WSSTAR_LEGACY_NODE)`)
    }
    return lacks.length > 0 ? lacks.join('; ') : undefined
  }
}

export class MissingSystemComponentError extends Error {
  static override name = 'MissingSystemComponentError'
  override name = MissingSystemComponentError.name
}

/**
 * `false` when every component is there; else the reason, for a suite's
 * `skip` option, after recording `skipped: <suite> — <reason>` for the test
 * runner's summary. Throws instead under WSSTAR_REQUIRE_ALL=1.
 */
export function requires (suite: string, ...components: SystemComponent[]): string | false {
  const reasons = components.map(c => c.missing()).filter((r): r is string => r != null)
  if (reasons.length === 0) return false
  const reason = reasons.join('; ')
  if (process.env.WSSTAR_REQUIRE_ALL === '1') {
    throw new MissingSystemComponentError(`${suite}: ${reason} (WSSTAR_REQUIRE_ALL=1 turns this skip into a failure)`)
  }
  if (process.env.WSSTAR_SKIP_LOG != null) appendFileSync(process.env.WSSTAR_SKIP_LOG, `skipped: ${suite} — ${reason}\n`)
  return reason
}
