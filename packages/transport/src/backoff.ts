import type { ReconnectOptions } from './options.js'

/**
 * Exponential backoff with jitter: attempt `n` (0-based) waits
 * `min(maxDelay, initialDelay * factor^n)`, of which the `jitter` fraction is
 * random, so the delay is uniform in `[d * (1 - jitter), d]`.
 */
export function backoffDelay (attempt: number, options: Required<ReconnectOptions>, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(attempt, 64))
  const base = Math.min(options.maxDelay, options.initialDelay * Math.pow(options.factor, exponent))
  return Math.round(base * (1 - options.jitter * random()))
}
