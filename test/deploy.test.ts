/**
 * The shipped deployment files (deploy/, docker-compose.yml) are valid as
 * shipped: HAProxy accepts deploy/haproxy.cfg with a certificate from the
 * documented script; the Prometheus alert rules parse, and every metric
 * they and the Grafana dashboard name is in the /metrics of a running
 * server (standalone, and in cluster mode with Redis for the cluster ones).
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { startRedis, stopAll } from './helpers/cluster.js'
import { startRendezvous } from './helpers/rendezvous.js'
import { HAPROXY_PATH, haproxy, redisServer, requires } from './helpers/system-components.js'
import type { RendezvousServerOptions } from '@wsstar/rendezvous'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

/** series Prometheus makes itself, never in a target's /metrics */
const SYNTHETIC = new Set(['up'])
/** PromQL words that look like metric names */
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/** The metric names one PromQL expression reads. */
function metricNames (expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\w+/g, '') // Grafana variables
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map(m => m[1])
    .filter(name => !PROMQL_WORDS.has(name.toLowerCase()) && !/^\d/.test(name))
}

interface AlertRule { alert: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }

function alertRules (): AlertRule[] {
  const doc = parseYaml(read('deploy/prometheus/wsstar-alerts.yml')) as { groups: Array<{ name: string, rules: AlertRule[] }> }
  return doc.groups.flatMap(g => g.rules)
}

function dashboardExpressions (): string[] {
  const dashboard = JSON.parse(read('deploy/grafana/wsstar-dashboard.json')) as { panels: Array<{ targets?: Array<{ expr: string }> }>, templating: { list: Array<{ definition?: string }> } }
  return [
    ...dashboard.panels.flatMap(p => (p.targets ?? []).map(t => t.expr)),
    ...dashboard.templating.list.flatMap(v => v.definition == null ? [] : [v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1')])
  ]
}

/** Every metric name the rules and the dashboard read, with where. */
function namedMetrics (): Map<string, string> {
  const named = new Map<string, string>()
  for (const rule of alertRules()) for (const name of metricNames(rule.expr)) named.set(name, `alert ${rule.alert}`)
  for (const expr of dashboardExpressions()) for (const name of metricNames(expr)) named.set(name, `dashboard: ${expr}`)
  return named
}

/** Metric and sample names in a server's /metrics (histograms: _bucket, _sum, _count too). */
async function exposedNames (options: RendezvousServerOptions): Promise<Set<string>> {
  const server = await startRendezvous({ ...options, adminPort: 0 })
  try {
    const text = await (await fetch(`http://127.0.0.1:${server.adminPort ?? 0}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    const names = new Set<string>()
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      names.add(m[1])
      if (m[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m[1] + suffix)
    }
    for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)) names.add(m[1])
    return names
  } finally {
    await server.stop()
  }
}

describe('deploy: Prometheus alert rules and Grafana dashboard', { timeout: 60_000 }, () => {
  after(async () => { await stopAll() })

  it('the alert rules parse: each has a name, an expression, a severity and a summary', () => {
    const rules = alertRules()
    assert.ok(rules.length >= 5)
    for (const rule of rules) {
      assert.equal(typeof rule.alert, 'string')
      assert.ok(typeof rule.expr === 'string' && rule.expr.trim() !== '', `${rule.alert}: expr`)
      assert.match(rule.labels?.severity ?? '', /^(critical|warning)$/, `${rule.alert}: severity`)
      assert.ok((rule.annotations?.summary ?? '') !== '', `${rule.alert}: summary`)
    }
    const names = rules.map(r => r.alert)
    for (const expected of ['WsstarReplicaDown', 'WsstarRedisLost', 'WsstarJoinFailureRatio', 'WsstarSlowConsumerDisconnects', 'WsstarEventLoopLag']) {
      assert.ok(names.includes(expected), expected)
    }
  })

  it('compose\'s Prometheus scrapes job "wsstar" on the admin port and loads the rules; every file compose mounts exists', () => {
    const prometheus = parseYaml(read('deploy/prometheus/prometheus.yml')) as { rule_files: string[], scrape_configs: Array<{ job_name: string, dns_sd_configs?: Array<{ port: number }> }> }
    const job = prometheus.scrape_configs.find(c => c.job_name === 'wsstar')
    assert.ok(job != null, 'a scrape job named wsstar (the rules and the dashboard select on it)')
    const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, { volumes?: string[], environment?: Record<string, string> }> }
    assert.equal(String(job.dns_sd_configs?.[0]?.port), compose.services.rendezvous.environment?.WSSTAR_ADMIN_PORT, 'scrapes the replicas\' admin port')
    const mounts = Object.values(compose.services).flatMap(s => s.volumes ?? []).map(v => v.split(':'))
    for (const [source, target] of mounts) {
      if (source.startsWith('./deploy/tls')) continue // the operator's certificate, made by scripts/self-signed-cert.mjs
      assert.ok(existsSync(join(ROOT, source)), `${source} exists`)
      if (target.endsWith('wsstar-alerts.yml')) assert.ok(prometheus.rule_files.includes(target), 'the rules are loaded where compose mounts them')
    }
  })

  it('the extractor finds the metric names of an expression', () => {
    assert.deepEqual(metricNames('sum by (instance) (rate(wsstar_joins_total{result!~"ok|challenged"}[5m])) / on (instance) wsstar_limit{limit="x"} > 0.25'),
      ['wsstar_joins_total', 'wsstar_limit'])
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="$job"}[$__rate_interval])))'), ['a_bucket'])
  })

  it('every metric they name is in /metrics of a standalone server (cluster-only ones aside)', async () => {
    const exposed = await exposedNames({})
    const missing = [...namedMetrics()].filter(([name]) => !SYNTHETIC.has(name) && !name.startsWith('wsstar_cluster_') && !exposed.has(name))
    assert.deepEqual(missing, [])
  })

  it('every metric they name is in /metrics of a cluster-mode server', { skip: requires('deploy metrics check in cluster mode', redisServer) }, async () => {
    const redis = await startRedis()
    const exposed = await exposedNames({ cluster: { redisUrl: redis.url, prefix: `deploy-test-${process.pid}:` } })
    const missing = [...namedMetrics()].filter(([name]) => !SYNTHETIC.has(name) && !exposed.has(name))
    assert.deepEqual(missing, [])
    assert.ok(exposed.has('wsstar_cluster_redis_up'))
  })
})

describe('deploy/haproxy.cfg', { skip: requires('deploy/haproxy.cfg check', haproxy), timeout: 60_000 }, () => {
  it('is valid for haproxy -c, TLS certificate included; the stats page needs a password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsstar-haproxy-'))
    try {
      execFileSync(process.execPath, [join(ROOT, 'scripts/self-signed-cert.mjs'), '--out', join(dir, 'tls')], { stdio: 'pipe', timeout: 30_000 })
      const shipped = readFileSync(join(ROOT, 'deploy/haproxy.cfg'), 'utf8')
      assert.match(shipped, /^\s*stats auth /m, 'the stats page is behind basic auth')
      // the container paths, pointed at the temp dir
      writeFileSync(join(dir, 'haproxy.cfg'), shipped.replaceAll('/usr/local/etc/haproxy/tls/', `${dir}/tls/`))
      const check = spawnSync(HAPROXY_PATH ?? 'haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], {
        encoding: 'utf8', timeout: 30_000, env: { ...process.env, HAPROXY_STATS_PASSWORD: 'test' }
      })
      assert.equal(check.status, 0, check.stdout + check.stderr)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
