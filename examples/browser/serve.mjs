// Runs the browser example: a wsstar rendezvous server plus a small HTTP
// server for the page and its bundle, in one process.
//   npm run example [-- --port 8080 --rendezvous-port 13579 --host 127.0.0.1]
// then open the printed http://127.0.0.1:8080/ (chat) or /upgrade.html (the
// direct WebRTC upgrade) in two tabs (http://127.0.0.1 is a secure context,
// which WebCrypto needs; a LAN address is not: use https).
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { createRendezvousServer } from '@wsstar/rendezvous'
import { buildBundle } from './build.mjs'

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' }

/**
 * @param {{ host?: string, port?: number, rendezvousPort?: number, logger?: import('pino').Logger }} [options]
 *   ports 0 pick free ones
 */
export async function startExample ({ host = '127.0.0.1', port = 8080, rendezvousPort = 13579, logger } = {}) {
  const { files } = await buildBundle()
  for (const page of ['index.html', 'upgrade.html']) {
    files.set(page, await readFile(new URL(`./${page}`, import.meta.url)))
  }

  // the status page is on the operator's admin listener, a free port on loopback
  const rendezvous = createRendezvousServer({ host, port: rendezvousPort, adminPort: 0, ...(logger != null ? { logger } : {}) })
  await rendezvous.start()

  const http = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const name = path === '/' ? 'index.html' : path.slice(1)
    const body = files.get(name)
    if (body == null || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    res.writeHead(200, { 'content-type': TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream', 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, host, resolve)
  })

  const origin = `http://${host}:${http.address().port}`
  const serverAddr = `${rendezvous.addresses[0]}/p2p-websocket-star`
  return {
    /** the chat page, told where the rendezvous server is */
    url: `${origin}/?server=${serverAddr}`,
    /** the direct-upgrade page, told where the rendezvous server is */
    upgradeUrl: `${origin}/upgrade.html?server=${serverAddr}`,
    /** the server's status page */
    statusUrl: `http://127.0.0.1:${rendezvous.adminPort}/`,
    /** the server's Prometheus metrics (admin listener) */
    metricsUrl: `http://127.0.0.1:${rendezvous.adminPort}/metrics`,
    /** listen address for other nodes, e.g. /ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star */
    serverAddr,
    rendezvous,
    async close () {
      http.closeAllConnections()
      await Promise.all([new Promise(resolve => { http.close(resolve) }), rendezvous.stop()])
    }
  }
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      'rendezvous-port': { type: 'string', default: '13579' }
    }
  })
  const example = await startExample({ host: values.host, port: Number(values.port), rendezvousPort: Number(values['rendezvous-port']) })
  console.log(`\nexample page:  ${example.url}\nupgrade page:  ${example.upgradeUrl}\nstatus page:   ${example.statusUrl}\nopen an example page in two tabs; Ctrl-C stops\n`)
  const stop = () => { example.close().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
