/** Types of `cluster-key-slot` (a dependency of ioredis, which ships none). */
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0–16383) of `key`: CRC16 of its hash tag (`{…}`) when it has one, else of the key. */
  export default function calculateSlot(key: string | Buffer): number;
}
