/**
 * Console silencing, number formatting, the text tables and the SVG chart. The JS peers log
 * whole session objects (private keys included) from inside their session code, so every
 * console method is replaced with a no-op for the whole run; the bench writes to
 * process.stdout directly, and only numbers, names and error messages.
 */

const CONSOLE_METHODS = [
  'log',
  'info',
  'warn',
  'error',
  'debug',
  'trace',
  'dir',
  'dirxml',
  'table',
  'group',
] as const;

export function silenceConsole(): void {
  const quiet = () => {};
  const target = console as unknown as Record<string, unknown>;
  for (const method of CONSOLE_METHODS) target[method] = quiet;
}

export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** An error as one short line: its message only, never an attached object. */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : 'non-Error thrown';
  return message.replace(/\s+/g, ' ').slice(0, 160);
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Three significant digits, thousands as "k". */
export function formatRate(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  if (value >= 1000) return `${(value / 1000).toPrecision(3)}k`;
  if (value >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}

export function formatRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`;
}

export function formatKiB(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '—';
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '—';
  return bytes >= 1000 ? `${(bytes / 1000).toFixed(1)} KB` : `${bytes} B`;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
}

// ── SVG ─────────────────────────────────────────────────────────────────────────────

export interface ChartGroup {
  readonly label: string;
  readonly bars: readonly { readonly series: string; readonly value: number | undefined }[];
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#9c755f', '#e15759', '#76b7b2'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Horizontal bars on a log axis centred on 1×: right of the line, Parley is ahead. Values
 * outside [1/20, 100] are clipped at the edge and labelled with their real value.
 */
export function ratioChart(
  title: string,
  subtitle: string,
  series: readonly string[],
  groups: readonly ChartGroup[],
): string {
  const min = 1 / 20;
  const max = 100;
  const left = 230;
  const width = 900;
  const plotWidth = width - left - 60;
  const barHeight = 12;
  const groupGap = 14;
  const top = 70;
  const x = (value: number) =>
    left +
    ((Math.log10(Math.min(max, Math.max(min, value))) - Math.log10(min)) /
      (Math.log10(max) - Math.log10(min))) *
      plotWidth;
  const groupHeight = (g: ChartGroup) => g.bars.length * (barHeight + 2) + groupGap;
  const plotHeight = groups.reduce((sum, g) => sum + groupHeight(g), 0);
  const legendY = top + plotHeight + 40;
  const height = legendY + 20 + Math.ceil(series.length / 4) * 18;
  const colour = (name: string) => PALETTE[series.indexOf(name) % PALETTE.length]!;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="15" font-weight="600">${escapeXml(title)}</text>`,
    `<text x="16" y="42" fill="#555">${escapeXml(subtitle)}</text>`,
  ];
  for (const tick of [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100]) {
    const tx = x(tick).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + plotHeight}" stroke="${tick === 1 ? '#222' : '#e3e3e3'}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${top - 10}" text-anchor="middle" fill="#555">${tick}×</text>`,
    );
  }
  let y = top;
  for (const group of groups) {
    parts.push(
      `<text x="${left - 10}" y="${y + 10}" text-anchor="end" font-weight="600">${escapeXml(group.label)}</text>`,
    );
    for (const bar of group.bars) {
      if (bar.value !== undefined && Number.isFinite(bar.value) && bar.value > 0) {
        const x0 = x(1);
        const x1 = x(bar.value);
        const from = Math.min(x0, x1);
        parts.push(
          `<rect x="${from.toFixed(1)}" y="${y}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${barHeight}" fill="${colour(bar.series)}"><title>${escapeXml(`${group.label} — ${bar.series}: ${formatRatio(bar.value)}`)}</title></rect>`,
          `<text x="${(x1 >= x0 ? x1 + 4 : x1 - 4).toFixed(1)}" y="${y + 10}" text-anchor="${x1 >= x0 ? 'start' : 'end'}" fill="#333">${formatRatio(bar.value)}</text>`,
        );
      } else {
        parts.push(
          `<text x="${(x(1) + 4).toFixed(1)}" y="${y + 10}" fill="#999">${escapeXml(bar.series)}: n/a</text>`,
        );
      }
      y += barHeight + 2;
    }
    y += groupGap;
  }
  series.forEach((name, i) => {
    const lx = 16 + (i % 4) * 220;
    const ly = legendY + Math.floor(i / 4) * 18;
    parts.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${colour(name)}"/>`,
      `<text x="${lx + 18}" y="${ly}">${escapeXml(name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
