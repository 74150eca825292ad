// Markdown/number formatting for the results table.

export const MiB = 1024 * 1024
export const GiB = 1024 * MiB

export function fmt (value, digits = 1) {
  if (value == null || !Number.isFinite(value)) return '–'
  if (Math.abs(value) >= 1000) return value.toFixed(0)
  return value.toFixed(digits)
}

export function fmtRatio (value) {
  if (value == null || !Number.isFinite(value)) return '–'
  return `${value.toFixed(2)}×`
}

export function fmtBytes (bytes) {
  if (bytes == null || !Number.isFinite(bytes)) return '–'
  const sign = bytes < 0 ? '-' : ''
  const b = Math.abs(bytes)
  if (b >= GiB) return `${sign}${(b / GiB).toFixed(2)} GiB`
  if (b >= MiB) return `${sign}${(b / MiB).toFixed(1)} MiB`
  if (b >= 1024) return `${sign}${(b / 1024).toFixed(0)} KiB`
  return `${sign}${b} B`
}

/** A markdown table from a header row and rows of cells. */
export function table (header, rows) {
  const esc = (c) => String(c ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => i === 0 ? ':---' : '---:').join('|')}|`,
    ...rows.map(r => `| ${r.map(esc).join(' | ')} |`)
  ].join('\n')
}

/** The text shown in place of numbers for a path that did not run. */
export function statusText (status) {
  if (status == null) return 'not run'
  if (status.status === 'unavailable') return status.reason
  if (status.status === 'error') return `error: ${status.reason}`
  return status.status
}
