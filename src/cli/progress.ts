/**
 * Progress display: a bar on a TTY (cli-progress), plain lines otherwise (at most one every few seconds), so logs of
 * cron jobs and CI stay readable.
 */
import cliProgress from 'cli-progress';

/** A progress display of one phase. */
export interface Progress {
  update(value: number): void;
  /** Show the final value and end the bar or print the last line. */
  stop(): void;
}

/** Where CLI output goes. */
export interface CliOutput {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
}

/** Minimum time between two plain progress lines, in ms. */
const PLAIN_LINE_INTERVAL_MS = 5_000;

/**
 * Start showing progress of `label` towards `total` (`unit` names what is counted, e.g. `rows`; empty when `format`
 * includes it). `format` turns a value into text. Plain lines: one every 5 s at most, and one at the end.
 */
export function startProgress(
  output: CliOutput,
  label: string,
  total: number,
  unit: string,
  format: (value: number) => string = String,
): Progress {
  if (output.stdout.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label.padEnd(10)} [{bar}] {percentage}% | {shown}/{shownTotal}${unit === '' ? '' : ` ${unit}`} | ETA {eta_formatted}`,
        stream: output.stdout,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(total, 1), 0, { shown: format(0), shownTotal: format(total) });
    return {
      update: (value) => bar.update(Math.min(value, Math.max(total, 1)), { shown: format(value) }),
      stop: () => bar.stop(),
    };
  }
  let lastPrinted = Date.now();
  let lastValue = 0;
  let printedValue: number | undefined;
  const print = (value: number) => {
    const percent = total > 0 ? Math.floor((value / total) * 100) : 100;
    output.stdout.write(
      `${label}: ${format(value)}/${format(total)}${unit === '' ? '' : ` ${unit}`} (${percent}%)\n`,
    );
    lastPrinted = Date.now();
    printedValue = value;
  };
  return {
    update(value) {
      lastValue = value;
      if (Date.now() - lastPrinted >= PLAIN_LINE_INTERVAL_MS) print(value);
    },
    stop() {
      // The last figure once: not again when the last update already printed it.
      if (printedValue !== lastValue) print(lastValue);
    },
  };
}

/** A byte count for people: `512 B`, `3.1 KiB`, `12.0 MiB`, `1.4 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
