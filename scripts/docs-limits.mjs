#!/usr/bin/env node
// Writes README.md's limits table from the limits table of the server
// (packages/rendezvous/src/limits.ts, built: run through `npm run docs:limits`).
// packages/rendezvous/test/documented-defaults.test.ts fails while the README
// holds anything else between the markers.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { CLUSTER_LIMITS, LIMITS, formatDefault } from '../packages/rendezvous/dist/src/limits.js'

export const README = fileURLToPath(new URL('../README.md', import.meta.url))
export const BEGIN = '<!-- limits: generated from packages/rendezvous/src/limits.ts by `npm run docs:limits` -->'
export const END = '<!-- end of limits -->'

/** The markdown table, one row per limit, in the table's order, the cluster's last. */
export function limitsTable () {
  return [
    '| flag | env | default | what it bounds |',
    '| --- | --- | --- | --- |',
    ...[...LIMITS, ...CLUSTER_LIMITS].map(l => `| \`${l.flag}\` | \`${l.env}\` | ${formatDefault(l)} | ${l.description} |`)
  ].join('\n')
}

/** `markdown` with the table between the markers replaced by `limitsTable()`. */
export function withLimitsTable (markdown) {
  const begin = markdown.indexOf(BEGIN)
  const end = markdown.indexOf(END)
  if (begin < 0 || end < begin) {
    throw new Error(`README.md has no "${BEGIN}" ... "${END}" section`)
  }
  return `${markdown.slice(0, begin + BEGIN.length)}\n${limitsTable()}\n${markdown.slice(end)}`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = readFileSync(README, 'utf8')
  const after = withLimitsTable(before)
  if (after !== before) {
    writeFileSync(README, after)
    console.log('README.md: limits table rewritten')
  } else {
    console.log('README.md: limits table up to date')
  }
}
