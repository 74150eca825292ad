#!/usr/bin/env node
// A self-signed TLS certificate for running wsstar with wss locally:
//   node scripts/self-signed-cert.mjs [--out deploy/tls] [--host star.local ...] [--days 30]
// writes <out>/cert.pem, <out>/key.pem (for wsstar-rendezvous --tls-cert / --tls-key)
// and <out>/haproxy.pem (certificate + key in one file, what HAProxy's `crt` takes).
// The certificate names localhost, 127.0.0.1 and ::1 plus every --host. It is its own
// CA: trust cert.pem where clients run (Node: NODE_EXTRA_CA_CERTS=cert.pem; a browser:
// import it as an authority) or accept the warning. For local use and tests only: a
// public server needs a certificate from a real CA.
import { mkdirSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import selfsigned from 'selfsigned'

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'deploy/tls' },
    host: { type: 'string', multiple: true, default: [] },
    days: { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h' }
  }
})
if (values.help) {
  process.stdout.write('Usage: node scripts/self-signed-cert.mjs [--out deploy/tls] [--host name ...] [--days 30]\n')
  process.exit(0)
}
const days = Number(values.days)
if (!Number.isInteger(days) || days < 1) {
  process.stderr.write(`--days: expected a whole number of days, got "${values.days}"\n`)
  process.exit(2)
}

const hosts = [...new Set(['localhost', '127.0.0.1', '::1', ...values.host])]
const notBeforeDate = new Date(Date.now() - 60_000)
const notAfterDate = new Date(notBeforeDate.getTime() + days * 86_400_000)
const pems = await selfsigned.generate([{ name: 'commonName', value: values.host[0] ?? 'localhost' }], {
  keyType: 'ec',
  curve: 'P-256',
  algorithm: 'sha256',
  notBeforeDate,
  notAfterDate,
  extensions: [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // type 2: DNS name, type 7: IP address
    { name: 'subjectAltName', altNames: hosts.map(h => isIP(h) !== 0 ? { type: 7, ip: h } : { type: 2, value: h }) }
  ]
})

const cert = pems.cert.trimEnd() + '\n'
const key = pems.private.trimEnd() + '\n'
mkdirSync(values.out, { recursive: true })
writeFileSync(join(values.out, 'cert.pem'), cert)
writeFileSync(join(values.out, 'key.pem'), key, { mode: 0o600 })
// readable by all: HAProxy's container runs as its own user, and this is a throwaway local
// key; mount a real certificate with permissions of its own
writeFileSync(join(values.out, 'haproxy.pem'), cert + key, { mode: 0o644 })
process.stdout.write(`wrote ${join(values.out, 'cert.pem')}, key.pem and haproxy.pem for ${hosts.join(', ')} (valid ${days} days, SHA-1 fingerprint ${pems.fingerprint})\n`)
