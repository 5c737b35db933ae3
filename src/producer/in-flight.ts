/**
 * Work started without awaiting it at once (e.g. `addBulk` calls while the next chunk is read): a bounded number in
 * flight, and the first failure kept to be thrown by the next {@link InFlight.belowLimit} or {@link InFlight.settled},
 * so no rejection goes unhandled and none is lost.
 */
export class InFlight {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  /** Whether a tracked work has failed (its error is thrown by the next wait). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Track `work`. */
  start(work: Promise<unknown>): void {
    const tracked: Promise<void> = work
      .then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= { error };
        },
      )
      .finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  /** Wait until fewer than `limit` are in flight. @throws the first failure of any tracked work. */
  async belowLimit(limit: number): Promise<void> {
    while (this.running.size >= limit) await Promise.race(this.running);
    this.throwIfFailed();
  }

  /** Wait for every tracked work. @throws the first failure of any of them. */
  async settled(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}
