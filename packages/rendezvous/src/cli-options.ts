import { parseArgs } from 'node:util'
import { compileTrustedProxies } from './socket/client-ip.js'
import { CLUSTER_LIMITS, LIMITS, checkLimit, envName, formatLimitValue } from './limits.js'
import { AUTH_MODES, DEFAULT_ADMIN_HOST, DEFAULT_HOST, DEFAULT_PORT, DIAL_SCOPES, isHttpUrl, parseAnnounce } from './options.js'
import type { Limit, LimitUnit } from './limits.js'
import type { AuthMode, AuthOptions, DialScope, RendezvousLimits, RendezvousServerOptions } from './options.js'

/** A bad command line or env var: the CLI prints the message and exits with 2. */
export class CliUsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CliUsageError'
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface CliConfig {
  logLevel: LogLevel
  options: Omit<RendezvousServerOptions, 'logger' | 'registry'> & { limits: Partial<RendezvousLimits> }
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 }
const TIME_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }

/** Parses `64KiB`, `1m`, `10s`, `250ms`, `2.5` according to the unit; NaN when malformed. */
export function parseQuantity (raw: string, unit: LimitUnit): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw)
  if (match == null) {
    return Number.NaN
  }
  const suffix = match[2].toLowerCase()
  const factor = unit === 'bytes' ? BYTE_UNITS[suffix] : unit === 'ms' ? TIME_UNITS[suffix] : (suffix === '' ? 1 : undefined)
  if (factor == null) {
    return Number.NaN
  }
  return Number(match[1]) * factor
}

function parsePort (given: { raw: string, name: string }): number {
  const n = Number(given.raw)
  if (!/^\s*\d+\s*$/.test(given.raw) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new CliUsageError(`invalid value for ${given.name}: "${given.raw}" (expected a port number 0..65535)`)
  }
  return n
}

/** a host name or a file path: not empty */
function parseHost (given: { raw: string, name: string }): string {
  if (given.raw.trim() === '') {
    throw new CliUsageError(`invalid value for ${given.name}: empty`)
  }
  return given.raw.trim()
}

function parseBoolean (raw: string, name: string): boolean {
  const value = raw.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(value)) {
    return true
  }
  if (['0', 'false', 'no', 'off'].includes(value)) {
    return false
  }
  throw new CliUsageError(`invalid value for ${name}: "${raw}" (expected true or false)`)
}

/** Reads the command line, falling back to WSSTAR_* env vars, then to defaults. */
export function parseCli (argv: string[], env: NodeJS.ProcessEnv = {}): CliConfig {
  const limitOptions = Object.fromEntries([...LIMITS, ...CLUSTER_LIMITS].map(limit => [limit.name, { type: 'string' as const }]))
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'admin-port': { type: 'string' },
        'admin-host': { type: 'string' },
        'public-admin': { type: 'boolean' },
        challenge: { type: 'boolean' },
        'no-challenge': { type: 'boolean' },
        announce: { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        'redis-url': { type: 'string' },
        'node-id': { type: 'string' },
        'redis-prefix': { type: 'string' },
        'expose-internals': { type: 'boolean' },
        legacy: { type: 'boolean' },
        'no-legacy': { type: 'boolean' },
        'trusted-proxies': { type: 'string', multiple: true },
        auth: { type: 'string' },
        'auth-tokens-file': { type: 'string' },
        'auth-allow-list-file': { type: 'string' },
        'auth-hook-url': { type: 'string' },
        'auth-hook-fail-open': { type: 'boolean' },
        'auth-allow-legacy': { type: 'boolean' },
        'dial-scope': { type: 'string' },
        ...limitOptions
      }
    }))
  } catch (err) {
    throw new CliUsageError((err as Error).message)
  }
  const pick = (flag: string): { raw: string, name: string } | undefined => {
    const value = values[flag]
    if (typeof value === 'string') {
      return { raw: value, name: `--${flag}` }
    }
    const fromEnv = env[envName(flag)]
    if (fromEnv != null && fromEnv !== '') {
      return { raw: fromEnv, name: envName(flag) }
    }
    return undefined
  }

  const config: CliConfig = {
    logLevel: 'info',
    options: { port: DEFAULT_PORT, host: DEFAULT_HOST, challenge: true, limits: {} }
  }

  const port = pick('port')
  if (port != null) {
    config.options.port = parsePort(port)
  }
  const host = pick('host')
  if (host != null) {
    config.options.host = parseHost(host)
  }
  const tlsCert = pick('tls-cert')
  const tlsKey = pick('tls-key')
  if ((tlsCert == null) !== (tlsKey == null)) {
    throw new CliUsageError(`${(tlsCert ?? tlsKey)?.name ?? ''} needs ${tlsCert == null ? '--tls-cert' : '--tls-key'} too`)
  }
  if (tlsCert != null && tlsKey != null) {
    config.options.tlsCert = parseHost(tlsCert)
    config.options.tlsKey = parseHost(tlsKey)
  }
  const adminPort = pick('admin-port')
  if (adminPort != null) {
    config.options.adminPort = parsePort(adminPort)
  }
  const adminHost = pick('admin-host')
  if (adminHost != null) {
    config.options.adminHost = parseHost(adminHost)
  }
  if (values['public-admin'] === true) {
    config.options.publicAdmin = true
  } else if (env.WSSTAR_PUBLIC_ADMIN != null && env.WSSTAR_PUBLIC_ADMIN !== '') {
    config.options.publicAdmin = parseBoolean(env.WSSTAR_PUBLIC_ADMIN, 'WSSTAR_PUBLIC_ADMIN')
  }

  if (values.challenge === true && values['no-challenge'] === true) {
    throw new CliUsageError('--challenge and --no-challenge contradict each other')
  }
  if (values['no-challenge'] === true) {
    config.options.challenge = false
  } else if (values.challenge === true) {
    config.options.challenge = true
  } else if (env.WSSTAR_CHALLENGE != null && env.WSSTAR_CHALLENGE !== '') {
    config.options.challenge = parseBoolean(env.WSSTAR_CHALLENGE, 'WSSTAR_CHALLENGE')
  }

  const announceFlags = values.announce as string[] | undefined
  const announceRaw = announceFlags != null && announceFlags.length > 0
    ? { list: announceFlags.flatMap(a => a.split(',')), name: '--announce' }
    : env.WSSTAR_ANNOUNCE != null && env.WSSTAR_ANNOUNCE !== '' ? { list: env.WSSTAR_ANNOUNCE.split(','), name: 'WSSTAR_ANNOUNCE' } : undefined
  if (announceRaw != null) {
    const list = announceRaw.list.map(a => a.trim()).filter(a => a !== '')
    for (const address of list) {
      try {
        parseAnnounce(address)
      } catch (err) {
        throw new CliUsageError(`invalid value for ${announceRaw.name}: ${(err as Error).message}`)
      }
    }
    config.options.announce = list
  }

  const proxyFlags = values['trusted-proxies'] as string[] | undefined
  const proxiesRaw = proxyFlags != null && proxyFlags.length > 0
    ? { list: proxyFlags.flatMap(a => a.split(',')), name: '--trusted-proxies' }
    : env.WSSTAR_TRUSTED_PROXIES != null && env.WSSTAR_TRUSTED_PROXIES !== '' ? { list: env.WSSTAR_TRUSTED_PROXIES.split(','), name: 'WSSTAR_TRUSTED_PROXIES' } : undefined
  if (proxiesRaw != null) {
    const list = proxiesRaw.list.map(a => a.trim()).filter(a => a !== '')
    try {
      compileTrustedProxies(list)
    } catch (err) {
      throw new CliUsageError(`invalid value for ${proxiesRaw.name}: ${(err as Error).message}`)
    }
    config.options.trustedProxies = list
  }

  if (values['expose-internals'] === true) {
    config.options.exposeInternals = true
  } else if (env.WSSTAR_EXPOSE_INTERNALS != null && env.WSSTAR_EXPOSE_INTERNALS !== '') {
    config.options.exposeInternals = parseBoolean(env.WSSTAR_EXPOSE_INTERNALS, 'WSSTAR_EXPOSE_INTERNALS')
  }
  if (config.options.exposeInternals === true && config.options.adminPort == null && config.options.publicAdmin !== true) {
    throw new CliUsageError('--expose-internals serves /debug/internals on the admin listener: give --admin-port too')
  }

  if (values.legacy === true && values['no-legacy'] === true) {
    throw new CliUsageError('--legacy and --no-legacy contradict each other')
  }
  if (values['no-legacy'] === true) {
    config.options.legacy = false
  } else if (values.legacy === true) {
    config.options.legacy = true
  } else if (env.WSSTAR_LEGACY != null && env.WSSTAR_LEGACY !== '') {
    config.options.legacy = parseBoolean(env.WSSTAR_LEGACY, 'WSSTAR_LEGACY')
  }

  const flag = (name: string): boolean | undefined => {
    if (values[name] === true) {
      return true
    }
    const fromEnv = env[envName(name)]
    return fromEnv != null && fromEnv !== '' ? parseBoolean(fromEnv, envName(name)) : undefined
  }
  const auth = parseAuth(pick, flag)
  if (auth != null) {
    config.options.auth = auth
  }

  const dialScope = pick('dial-scope')
  if (dialScope != null) {
    const value = dialScope.raw.trim().toLowerCase()
    if (!(DIAL_SCOPES as readonly string[]).includes(value)) {
      throw new CliUsageError(`invalid value for ${dialScope.name}: "${dialScope.raw}" (expected one of ${DIAL_SCOPES.join(', ')})`)
    }
    config.options.dialScope = value as DialScope
  }

  const redisUrl = pick('redis-url')
  const nodeId = pick('node-id')
  const redisPrefix = pick('redis-prefix')
  if (redisUrl != null) {
    if (!/^rediss?:\/\/\S+$/.test(redisUrl.raw.trim())) {
      throw new CliUsageError(`invalid value for ${redisUrl.name}: "${redisUrl.raw}" (expected redis://host:port or rediss://...)`)
    }
    config.options.cluster = { redisUrl: redisUrl.raw.trim() }
    if (nodeId != null) {
      if (!/^[\w.:-]{1,128}$/.test(nodeId.raw.trim())) {
        throw new CliUsageError(`invalid value for ${nodeId.name}: "${nodeId.raw}" (expected 1..128 characters of A-Z a-z 0-9 _ . : -)`)
      }
      config.options.cluster.nodeId = nodeId.raw.trim()
    }
    if (redisPrefix != null) {
      if (redisPrefix.raw.trim() === '' || /\s/.test(redisPrefix.raw.trim())) {
        throw new CliUsageError(`invalid value for ${redisPrefix.name}: "${redisPrefix.raw}" (expected a non-empty prefix without spaces)`)
      }
      config.options.cluster.prefix = redisPrefix.raw.trim()
    }
  } else if (nodeId != null || redisPrefix != null) {
    throw new CliUsageError(`${(nodeId ?? redisPrefix)?.name ?? ''} needs --redis-url (cluster mode)`)
  }

  const level = pick('log-level')
  if (level != null) {
    const value = level.raw.trim().toLowerCase()
    if (!(LOG_LEVELS as readonly string[]).includes(value)) {
      throw new CliUsageError(`invalid value for ${level.name}: "${level.raw}" (expected one of ${LOG_LEVELS.join(', ')})`)
    }
    config.logLevel = value as LogLevel
  }

  for (const limit of LIMITS) {
    const given = pick(limit.name)
    if (given != null) {
      config.options.limits[limit.key] = parseLimit(limit, given)
    }
  }
  for (const limit of CLUSTER_LIMITS) {
    const given = pick(limit.name)
    if (given == null) {
      continue
    }
    if (config.options.cluster == null) {
      throw new CliUsageError(`${given.name} needs --redis-url (cluster mode)`)
    }
    config.options.cluster[limit.key] = parseLimit(limit, given)
  }
  return config
}

/** `--auth` and its files; undefined when nothing of it is given (open, the default). */
function parseAuth (pick: (flag: string) => { raw: string, name: string } | undefined, flag: (name: string) => boolean | undefined): AuthOptions | undefined {
  const mode = pick('auth')
  const files: Array<[string, AuthMode, 'tokensFile' | 'allowListFile' | 'hookUrl']> = [
    ['auth-tokens-file', 'token', 'tokensFile'],
    ['auth-allow-list-file', 'allow-list', 'allowListFile'],
    ['auth-hook-url', 'hook', 'hookUrl']
  ]
  const failOpen = flag('auth-hook-fail-open')
  const allowLegacy = flag('auth-allow-legacy')
  if (mode == null) {
    const stray = files.find(([name]) => pick(name) != null)?.[0] ?? (failOpen != null ? 'auth-hook-fail-open' : allowLegacy != null ? 'auth-allow-legacy' : undefined)
    if (stray != null) {
      throw new CliUsageError(`--${stray} needs ${stray === 'auth-allow-legacy' ? 'a private --auth mode' : `--auth ${files.find(([name]) => name === stray)?.[1] ?? 'hook'}`}`)
    }
    return undefined
  }
  const value = mode.raw.trim() as AuthMode
  if (!AUTH_MODES.includes(value)) {
    throw new CliUsageError(`invalid value for ${mode.name}: "${mode.raw}" (expected one of ${AUTH_MODES.join(', ')})`)
  }
  const auth: AuthOptions = { mode: value }
  for (const [name, forMode, key] of files) {
    const given = pick(name)
    if (given == null) {
      if (forMode === value) {
        throw new CliUsageError(`--auth ${value} needs --${name}`)
      }
      continue
    }
    if (forMode !== value) {
      throw new CliUsageError(`${given.name} needs --auth ${forMode}`)
    }
    auth[key] = parseHost(given)
  }
  if (auth.hookUrl != null && !isHttpUrl(auth.hookUrl)) {
    throw new CliUsageError(`invalid value for --auth-hook-url: "${auth.hookUrl}" (expected an http:// or https:// URL without credentials)`)
  }
  if (failOpen != null) {
    if (value !== 'hook') {
      throw new CliUsageError('--auth-hook-fail-open needs --auth hook')
    }
    auth.hookFailOpen = failOpen
  }
  if (allowLegacy != null) {
    if (value === 'open') {
      throw new CliUsageError('--auth-allow-legacy needs a private --auth mode')
    }
    auth.allowLegacy = allowLegacy
  }
  return auth
}

/** A limit's value from the command line or env, in its unit (`64KiB`, `10s`, `2.5`), within its range. */
function parseLimit (limit: Limit<string>, given: { raw: string, name: string }): number {
  let value = parseQuantity(given.raw, limit.unit)
  if (limit.unit === 'bytes' || limit.unit === 'ms') {
    value = Number.isFinite(value) ? Math.round(value) : value
  }
  const problem = Number.isNaN(value) ? 'not a number' : checkLimit(limit, value)
  if (problem != null) {
    throw new CliUsageError(`invalid value for ${given.name}: "${given.raw}" (expected ${describeUnit(limit.unit)} in ${limit.min}..${limit.max})`)
  }
  return value
}

function describeUnit (unit: LimitUnit): string {
  switch (unit) {
    case 'bytes': return 'a byte count (suffixes KiB, MiB, GiB)'
    case 'ms': return 'a duration in ms (suffixes ms, s, m)'
    case 'rate': return 'a number per second'
    default: return 'an integer'
  }
}

export function helpText (): string {
  const rows: Array<[string, string, string]> = [
    ['-p, --port <n>', `TCP port (default ${DEFAULT_PORT}; 0 picks a free one)`, envName('port')],
    ['--host <addr>', `interface to bind (default ${DEFAULT_HOST})`, envName('host')],
    ['--tls-cert <file>', 'serve wss: PEM certificate (chain) file; with --tls-key. SIGHUP reloads both', envName('tls-cert')],
    ['--tls-key <file>', 'serve wss: PEM private key file of --tls-cert', envName('tls-key')],
    ['--admin-port <n>', 'serve the operator endpoints (/metrics, /status.json, status page, /debug/*) on this port (default: off; 0 picks a free one)', envName('admin-port')],
    ['--admin-host <addr>', `interface of the admin listener (default ${DEFAULT_ADMIN_HOST})`, envName('admin-host')],
    ['--public-admin', 'also serve the operator endpoints on the client port, to anyone who reaches it (the old behaviour)', envName('public-admin')],
    ['--challenge', 'require the join challenge (default)', envName('challenge')],
    ['--no-challenge', 'skip the join challenge: anyone can register any peer id (trusted test setups only)', ''],
    ['--announce <ma>', 'public server address, e.g. /dns4/example.com/tcp/443/wss; repeat or comma-separate. Joins naming another server are refused', envName('announce')],
    ['--trusted-proxies <list>', 'IPs / CIDRs (or loopback, linklocal, uniquelocal) of load balancers whose X-Forwarded-For names the client for the per-IP limits; repeat or comma-separate (default: none, every connection counts for its remote address)', envName('trusted-proxies')],
    ['--legacy', 'also accept libp2p-websocket-star 0.10 clients (socket.io v2 / Engine.IO 3) as a separate population; they sign any nonce, see docs/SECURITY.md', envName('legacy')],
    ['--no-legacy', 'refuse legacy websocket-star 0.10 clients: HTTP 400 to their upgrade request (default)', ''],
    ['--auth <mode>', 'open (default: anyone) or a private server: token (a socket presents a token of --auth-tokens-file), allow-list (peer ids of --auth-allow-list-file), hook (--auth-hook-url decides each join); refusals are ERR_UNAUTHORIZED, see docs/PRIVATE-SERVERS.md', envName('auth')],
    ['--auth-tokens-file <file>', '--auth token: one token per line, with name=, max-peers=, relay-rate=, namespaces= options; SIGHUP reads it again', envName('auth-tokens-file')],
    ['--auth-allow-list-file <file>', '--auth allow-list: one peer id per line; SIGHUP reads it again', envName('auth-allow-list-file')],
    ['--auth-hook-url <url>', '--auth hook: the http(s) URL POSTed { peerId, namespaces, remoteAddress } at each join; 2xx { "allow": true } admits', envName('auth-hook-url')],
    ['--auth-hook-fail-open', '--auth hook: admit a join when the hook fails (no answer in time, an error) instead of refusing it', envName('auth-hook-fail-open')],
    ['--auth-allow-legacy', 'admit legacy websocket-star 0.10 clients on a private server, without credentials', envName('auth-allow-legacy')],
    ['--dial-scope <scope>', 'any: a dial reaches any peer by id, whatever namespaces either joined (default); namespace: caller and callee must share a namespace, else ERR_PEER_NOT_FOUND', envName('dial-scope')],
    ['--expose-internals', 'serve GET /debug/internals (internal counts, handles, memory) on the admin listener, for leak tests', envName('expose-internals')],
    ['--redis-url <url>', 'cluster mode: share peers and relay dials with the other servers through this Redis (>= 7), e.g. redis://redis:6379', envName('redis-url')],
    ['--node-id <id>', 'cluster mode: this server\'s id, unique per process (default <hostname>-<pid>-<random>)', envName('node-id')],
    ['--redis-prefix <p>', 'cluster mode: prefix of every Redis key and channel (default wsstar:)', envName('redis-prefix')],
    ['--log-level <lvl>', `${LOG_LEVELS.join('|')} (default info)`, envName('log-level')]
  ]
  for (const limit of [...LIMITS, ...CLUSTER_LIMITS]) {
    const arg = limit.unit === 'bytes' ? '<bytes>' : limit.unit === 'ms' ? '<ms>' : '<n>'
    const value = formatLimitValue(limit.unit, limit.default)
    const defaultText = limit.defaultText == null ? value : `${value}: ${limit.defaultText}`
    rows.push([`${limit.flag} ${arg}`, `${limit.description.replace(/`/g, '')} (default ${defaultText})`, limit.env])
  }
  rows.push(['--version', 'print the version and exit', ''])
  rows.push(['-h, --help', 'show this help (env vars are not read)', ''])
  const width = Math.max(...rows.map(r => r[0].length)) + 2
  const lines = rows.map(([flag, text, env]) => `  ${flag.padEnd(width)}${text}${env !== '' ? `  [${env}]` : ''}`)
  return [
    'Usage: wsstar-rendezvous [options]',
    '',
    'wsstar rendezvous server (protocol wsstar/2): peers join with a crypto challenge,',
    'discover each other, and dial each other through this server.',
    'Every option can also be set by the env var in brackets; flags win over env vars.',
    'Logs are JSON lines, human-readable when stdout is a terminal. SIGHUP reloads the TLS files and the auth file.',
    'HTTP on the client port: GET /health (503 while draining). With --admin-port: GET /metrics,',
    'GET /status.json and the status page (GET /) on the admin listener (127.0.0.1 by default).',
    '',
    'Options:',
    ...lines,
    ''
  ].join('\n')
}
