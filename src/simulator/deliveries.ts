/** What the simulated hosts handed over: the SHA-256 of each image delivered, by the row prompt it was made for. */
import { createHash } from 'node:crypto';

/** The digests of delivered images, for the last `keptPrompts` prompts (the oldest forgotten first). */
export class DeliveredImages {
  /** Hex SHA-256 of each image delivered, by prompt. */
  readonly sha256ByPrompt = new Map<string, string[]>();

  constructor(private readonly keptPrompts: number) {}

  /** Record `bytes` as delivered for `prompt`. */
  record(prompt: string, bytes: Buffer): void {
    const delivered = this.sha256ByPrompt.get(prompt) ?? [];
    delivered.push(createHash('sha256').update(bytes).digest('hex'));
    this.sha256ByPrompt.set(prompt, delivered);
    if (this.sha256ByPrompt.size > this.keptPrompts)
      this.sha256ByPrompt.delete(this.sha256ByPrompt.keys().next().value!);
  }
}
