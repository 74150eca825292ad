#!/usr/bin/env node
// Removes compiled files whose TypeScript source is gone (renamed or deleted):
// tsc never deletes outputs, and turbo restoring a cached build adds its files
// to what dist/ already holds, so they would otherwise be packed into the
// published tarballs and their tests still run. Projects: the folders given
// (a workspace's build passes its own, `.`), else every workspace that tsc
// builds; each has rootDir "." and outDir "dist".
import { existsSync, globSync, rmSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const OUTPUT = /\.(d\.ts\.map|d\.ts|js\.map|js)$/
const given = process.argv.slice(2).map(dir => relative(root, resolve(dir)))
const projects = given.length > 0 ? given : [...globSync('packages/*', { cwd: root }), 'tools/raw-client', 'test']

for (const project of projects) {
  const dist = join(root, project, 'dist')
  for (const file of globSync('**/*', { cwd: dist, withFileTypes: false })) {
    if (!OUTPUT.test(file)) continue
    const source = join(root, project, file.replace(OUTPUT, '.ts'))
    if (!existsSync(source)) {
      rmSync(join(dist, file))
      console.log(`removed ${join(project, 'dist', file)} (no ${source.slice(root.length)})`)
    }
  }
}
