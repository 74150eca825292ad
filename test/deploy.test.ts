/**
 * The shipped deployment files (deploy/, docker-compose.yml) are valid as
 * shipped: HAProxy accepts deploy/haproxy.cfg with a certificate from the
 * documented script.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { HAPROXY_PATH, haproxy, requires } from './helpers/system-components.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

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
