#!/usr/bin/env node
// Removes compiled files whose TypeScript source is gone (renamed or deleted):
// `tsc -b` never deletes outputs, so they would otherwise be packed into the
// published tarballs and their tests still run. Projects: each package and
// test/, all with rootDir "." and outDir "dist". Run after `tsc -b` (npm run build).
import { existsSync, globSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const OUTPUT = /\.(d\.ts\.map|d\.ts|js\.map|js)$/

for (const project of [...globSync('packages/*/', { cwd: root }), 'tools/raw-client/', 'test/']) {
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
