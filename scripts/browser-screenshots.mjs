#!/usr/bin/env node
// Regenerates docs/example-page.png and docs/status-page.png: runs the
// browser example, opens two pages in headless Debian Chromium, lets them
// chat, and photographs one page and the server's status page.
//   npm run build && node scripts/browser-screenshots.mjs
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { pino } from 'pino'
import { startExample } from '../examples/browser/serve.mjs'

const docs = new URL('../docs/', import.meta.url).pathname
const example = await startExample({ port: 0, rendezvousPort: 0, logger: pino({ level: 'silent' }) })
const profile = await mkdtemp(join(tmpdir(), 'wsstar-chromium-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.WSSTAR_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1000, height: 540 }
})
try {
  const status = await context.newPage()
  await status.goto(example.statusUrl)
  const [alice, bob] = [await context.newPage(), await context.newPage()]
  for (const page of [alice, bob]) {
    await page.goto(example.url)
    await page.locator('#addrs li').waitFor({ timeout: 20_000 })
  }
  await alice.locator('#peers li button').click()
  await alice.locator('#log li', { hasText: 'connected, ping' }).waitFor({ timeout: 20_000 })
  await alice.fill('#message', 'hello from a browser tab')
  await alice.click('#send')
  await bob.locator('#log li.in').waitFor({ timeout: 10_000 })
  await bob.fill('#message', 'hi! relayed through the rendezvous server')
  await bob.click('#send')
  await alice.locator('#log li.in').waitFor({ timeout: 10_000 })
  await alice.screenshot({ path: join(docs, 'example-page.png') })
  await status.waitForTimeout(6000) // a few seconds of peer history
  await status.setViewportSize({ width: 1000, height: 440 })
  await status.screenshot({ path: join(docs, 'status-page.png') })
  console.log(`wrote ${join(docs, 'example-page.png')} and ${join(docs, 'status-page.png')}`)
} finally {
  await context.close()
  await rm(profile, { recursive: true, force: true })
  await example.close()
}
