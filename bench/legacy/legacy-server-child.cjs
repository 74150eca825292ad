'use strict'
// The legacy rendezvous server (libp2p-websocket-star-rendezvous 0.4.1) started through its
// library API, in its own process so that its RSS and CPU can be measured apart from the
// clients. Options mirror what the CLI (`rendezvous`, src/bin.js) deploys: crypto challenge
// ON, strict multiaddr ON, metrics ON.
//
//   node legacy-server-child.cjs --port P [--host 127.0.0.1] [--observe] [--no-challenge]
//
// With a parent (child_process.fork) it reports {type:'listening', port, pid} and answers
// {type:'stats'} with {type:'stats', rss, cpuUserUs, cpuSystemUs, peers}; it exits when the
// parent goes away. --observe logs every Engine.IO packet both ways plus the WebSocket
// upgrade request as JSON lines on stderr (see wire-observer.cjs).

const argv = process.argv.slice(2)
const arg = (name, def) => {
  const i = argv.indexOf('--' + name)
  return i >= 0 && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[i + 1] : def
}
const flag = (name) => argv.includes('--' + name)

const port = Number(arg('port', 0))
const host = arg('host', '127.0.0.1')
if (!port) {
  // the library treats port 0 as "unset" and falls back to 13579
  console.error('legacy-server-child: --port is required (the library cannot bind port 0)')
  process.exit(2)
}

if (flag('observe')) require('./engine-io-observer.cjs').install((line) => process.stderr.write(JSON.stringify(line) + '\n'))

const rendezvous = require('libp2p-websocket-star-rendezvous')

async function main () {
  const http = await rendezvous.start({
    port,
    host,
    cryptoChallenge: !flag('no-challenge'),
    strictMultiaddr: !flag('no-strict'),
    metrics: !flag('no-metrics')
  })
  if (flag('observe')) {
    http.listener.prependListener('upgrade', (req) => {
      process.stderr.write(JSON.stringify({ dir: 'upgrade', url: req.url, headers: req.headers }) + '\n')
    })
  }
  const stats = () => {
    const cpu = process.cpuUsage()
    return {
      type: 'stats',
      rss: process.memoryUsage().rss,
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      peers: Object.keys(http.peers()).length
    }
  }
  if (process.send) {
    process.on('message', (m) => {
      if (m && m.type === 'stats') process.send(stats())
      if (m && m.type === 'stop') http.stop({ timeout: 500 }).finally(() => process.exit(0))
    })
    process.on('disconnect', () => process.exit(0))
    process.send({ type: 'listening', port: http.info.port, pid: process.pid })
  } else {
    console.error('legacy rendezvous listening on', http.info.uri)
    process.on('SIGINT', () => process.exit(0))
  }
}

main().catch((err) => {
  console.error('legacy-server-child failed:', err)
  process.exit(1)
})
