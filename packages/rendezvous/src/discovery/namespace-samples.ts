/** One namespace's sample, and how many peers the namespace has. */
export interface NamespaceSample {
  addresses: string[]
  size: number
}

/**
 * One random sample of up to `count` distinct addresses over several
 * namespaces, from one sample of each: every pick takes the next address of
 * a namespace chosen with a probability proportional to its size (among
 * those with addresses left), so each namespace fills about its share of
 * the peers; a peer in two of them is taken once.
 */
export function mergeSamples (samples: NamespaceSample[], count: number, random: () => number): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  const taken = samples.map(() => 0)
  let weight = 0
  for (const sample of samples) {
    if (sample.addresses.length > 0) {
      weight += Math.max(1, sample.size)
    }
  }
  while (out.length < count && weight > 0) {
    let r = random() * weight
    let i = 0
    for (; i < samples.length - 1; i++) {
      if (taken[i] >= samples[i].addresses.length) {
        continue
      }
      r -= Math.max(1, samples[i].size)
      if (r < 0) {
        break
      }
    }
    while (taken[i] >= samples[i].addresses.length) {
      // rounding sent the pick past the last namespace with addresses left
      i--
    }
    const address = samples[i].addresses[taken[i]++]
    if (taken[i] >= samples[i].addresses.length) {
      weight -= Math.max(1, samples[i].size)
    }
    if (!seen.has(address)) {
      seen.add(address)
      out.push(address)
    }
  }
  return out
}
