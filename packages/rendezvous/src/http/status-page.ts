/**
 * `GET /`: a small live status page for the operator. Self-contained (no
 * CDN, no external files): it polls `/status.json` every second and updates
 * in place, without reloading.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsstar rendezvous</title>
<link rel="icon" href="data:,">
<style>
  :root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --card: #f6f8fa; --ok: #1a7f37; --bad: #cf222e; --accent: #0969da; }
  * { box-sizing: border-box; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; padding: 0 1rem; color: var(--fg); }
  header { display: flex; align-items: baseline; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 0; }
  #status { font-weight: 600; }
  #status::before { content: '\\25CF  '; }
  .ok { color: var(--ok); } .bad { color: var(--bad); }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .8rem; margin: 1.2rem 0; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; }
  .label { color: var(--muted); font-size: .85rem; }
  .value { font-size: 1.8rem; font-weight: 600; font-variant-numeric: tabular-nums; }
  .detail { color: var(--muted); font-size: .85rem; min-height: 1.2em; font-variant-numeric: tabular-nums; }
  svg { display: block; width: 100%; height: 2.5rem; margin-top: .3rem; }
  polyline { fill: none; stroke: var(--accent); stroke-width: 2; vector-effect: non-scaling-stroke; }
  footer { color: var(--muted); font-size: .85rem; }
  section { margin: 0 0 1.2rem; }
  section[hidden] { display: none; }
  section h2 { font-size: 1rem; margin: 0 0 .4rem; }
  section table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  section th, section td { text-align: left; padding: .25rem .6rem .25rem 0; border-bottom: 1px solid var(--line); font-size: .9rem; }
  section th { color: var(--muted); font-weight: normal; }
  #relaying td:first-child { word-break: break-all; }
  a { color: var(--accent); }
</style>
</head>
<body>
<header>
  <h1>wsstar rendezvous server</h1>
  <span id="status">connecting…</span>
</header>
<div class="grid">
  <div class="card"><div class="label">peers online</div><div class="value" id="peers">–</div>
    <svg viewBox="0 0 120 40" preserveAspectRatio="none" aria-hidden="true"><polyline id="peers-history" points=""/></svg>
    <div class="detail" id="sockets"></div></div>
  <div class="card"><div class="label">dials open</div><div class="value" id="dials">–</div>
    <div class="detail" id="dial-results"></div></div>
  <div class="card"><div class="label">bytes relayed</div><div class="value" id="relayed">–</div>
    <div class="detail" id="relay-rate"></div></div>
  <div class="card"><div class="label">rejected inputs</div><div class="value" id="rejected">–</div>
    <div class="detail" id="rejected-codes"></div></div>
  <div class="card"><div class="label">uptime</div><div class="value" id="uptime">–</div>
    <div class="detail" id="joins"></div></div>
  <div class="card"><div class="label">version</div><div class="value" id="version">–</div>
    <div class="detail" id="runtime"></div></div>
</div>
<section id="cluster" hidden>
  <h2>cluster <span class="detail" id="cluster-summary"></span></h2>
  <table><thead><tr><th>replica</th><th>peers</th><th>addresses</th></tr></thead><tbody id="cluster-replicas"></tbody></table>
</section>
<section id="relaying" hidden>
  <h2>top relaying peers <span class="detail">since each connected</span></h2>
  <table><thead><tr><th>peer</th><th>sent</th><th>received</th><th>rate limit</th></tr></thead><tbody id="relaying-peers"></tbody></table>
</section>
<section id="relaying-tokens" hidden>
  <h2>top relaying tokens <span class="detail">since each was first read</span></h2>
  <table><thead><tr><th>token</th><th>peers</th><th>sent</th><th>received</th></tr></thead><tbody id="relaying-token-rows"></tbody></table>
</section>
<footer>Updated every second from <a href="/status.json">/status.json</a> · <a href="/metrics">/metrics</a> · <a href="/health">/health</a> · <span id="updated"></span></footer>
<script>
(function () {
  var HISTORY = 120
  var peerHistory = []
  var last = null

  function $ (id) { return document.getElementById(id) }
  function set (id, text, cls) {
    var el = $(id)
    if (el.textContent !== String(text)) el.textContent = text
    if (cls !== undefined) el.className = cls
  }
  function sum (counts) {
    var n = 0
    for (var k in counts) n += counts[k]
    return n
  }
  function count (n) { return Math.round(n).toLocaleString('en-US') }
  function bytes (n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
    return (i === 0 ? Math.round(n) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i]
  }
  function duration (s) {
    s = Math.floor(s)
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60)
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + (s % 60) + 's'
  }
  /** "ERR_A 3 · ERR_B 1", largest first */
  function breakdown (counts, skip) {
    return Object.keys(counts).filter(function (k) { return counts[k] > 0 && k !== skip })
      .sort(function (a, b) { return counts[b] - counts[a] })
      .slice(0, 3).map(function (k) { return k + ' ' + count(counts[k]) }).join(' · ')
  }
  /** peers over the last HISTORY seconds (over the time this page has been open, until then) */
  function plot (values) {
    var max = Math.max.apply(null, values.concat([1]))
    var step = 120 / Math.max(1, values.length - 1)
    $('peers-history').setAttribute('points', values.map(function (v, i) {
      return (i * step).toFixed(1) + ',' + (38 - v / max * 36).toFixed(1)
    }).join(' '))
  }
  /** cluster mode: every replica this one sees, with its peers (built with DOM calls: the ids come from Redis) */
  function renderCluster (c) {
    var section = $('cluster')
    if (!c) { section.hidden = true; return }
    section.hidden = false
    var total = 0
    for (var i = 0; i < c.replicas.length; i++) total += c.replicas[i].peers
    set('cluster-summary', c.replicas.length + (c.replicas.length === 1 ? ' replica · ' : ' replicas · ') + count(total) + ' peers · redis ' + c.redis, c.redis === 'up' ? 'detail' : 'detail bad')
    var body = $('cluster-replicas')
    while (body.firstChild) body.removeChild(body.firstChild)
    c.replicas.forEach(function (r) {
      var row = document.createElement('tr')
      ;[r.nodeId + (r.self ? ' (this one)' : ''), count(r.peers), r.addresses.join(', ')].forEach(function (text) {
        var cell = document.createElement('td')
        cell.textContent = text
        row.appendChild(cell)
      })
      body.appendChild(row)
    })
  }
  /** the sockets that relayed the most (built with DOM calls: peer ids come from clients) */
  function renderRows (sectionId, bodyId, rows) {
    var section = $(sectionId)
    if (!rows || rows.length === 0) { section.hidden = true; return }
    section.hidden = false
    var body = $(bodyId)
    while (body.firstChild) body.removeChild(body.firstChild)
    rows.forEach(function (cells) {
      var row = document.createElement('tr')
      cells.forEach(function (text) {
        var cell = document.createElement('td')
        cell.textContent = text
        row.appendChild(cell)
      })
      body.appendChild(row)
    })
  }
  function renderRelaying (peers, tokens) {
    renderRows('relaying', 'relaying-peers', (peers || []).map(function (p) {
      return [p.peerIds.join(', ') || '(no peer id)', bytes(p.sentBytes), bytes(p.receivedBytes), p.relayRate > 0 ? bytes(p.relayRate) + '/s' : 'none']
    }))
    renderRows('relaying-tokens', 'relaying-token-rows', (tokens || []).map(function (t) {
      return [t.name, count(t.peers), bytes(t.sentBytes), bytes(t.receivedBytes)]
    }))
  }
  function render (s) {
    var now = Date.now()
    set('status', s.status, s.status === 'ok' ? 'ok' : 'bad')
    set('peers', count(s.peers))
    set('sockets', count(s.sockets) + (s.sockets === 1 ? ' socket' : ' sockets'))
    set('dials', count(s.dials))
    var ok = s.dialResults.ok || 0, failed = sum(s.dialResults) - ok
    set('dial-results', count(ok) + ' succeeded · ' + count(failed) + ' failed since start')
    set('relayed', bytes(s.relayedBytes))
    if (last !== null && now > last.at) {
      set('relay-rate', bytes(Math.max(0, s.relayedBytes - last.relayedBytes) * 1000 / (now - last.at)) + '/s')
    }
    set('rejected', count(sum(s.rejected)))
    set('rejected-codes', breakdown(s.rejected))
    set('uptime', duration(s.uptime))
    set('joins', count(s.joins.ok || 0) + ' joins since start')
    set('version', s.build.version)
    set('runtime', 'protocol ' + s.build.protocol + ' · Node.js ' + s.build.node)
    set('updated', 'last update ' + new Date(now).toLocaleTimeString())
    renderCluster(s.cluster)
    renderRelaying(s.topRelaying, s.topRelayingTokens)
    peerHistory.push(s.peers)
    if (peerHistory.length > HISTORY) peerHistory.shift()
    plot(peerHistory)
    last = { at: now, relayedBytes: s.relayedBytes }
  }
  function poll () {
    fetch('/status.json', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json() })
      .then(render)
      .catch(function () { set('status', 'unreachable', 'bad') })
      .then(function () { setTimeout(poll, 1000) })
  }
  poll()
})()
</script>
</body>
</html>
`
