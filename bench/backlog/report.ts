/** The backlog bench's table (markdown) and chart (vega-lite -> SVG -> PNG, as bench/publish/chart.ts). */
import * as fs from 'node:fs';
import type { Contender } from './spec';
import type { TrialOutcome } from './trial';

export interface BacklogRow {
  contender: Contender;
  outcome: TrialOutcome;
}

const fixed = (value: number | undefined, digits: number): string =>
  value === undefined ? '-' : value.toFixed(digits);
const usPerMessage = (o: TrialOutcome): number | undefined =>
  o.bufferSeconds === undefined ? undefined : (o.bufferSeconds / (o.accepted ?? o.messages)) * 1e6;

/** The line of a child's stderr that says what went wrong (an error, else its last progress line). */
function errorLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').map((l) => l.trim());
  return (lines.find((l) => /Error|returned|failed/.test(l)) ?? lines[lines.length - 1] ?? '').slice(0, 100);
}

function deliveryCell(o: TrialOutcome): string {
  const d = o.delivery;
  if (o.stoppedIn === 'buffer') return `buffering ran past the budget${o.error ? ` (${errorLine(o.error)})` : ''}`;
  if (o.stoppedIn === 'crash') return `failed: ${errorLine(o.error)}`;
  if (!d) return '-';
  const parts = [
    d.delivered === o.messages
      ? 'all'
      : `${d.delivered.toLocaleString('en-US')} of ${o.messages.toLocaleString('en-US')}`,
  ];
  parts.push(d.outOfOrder === 0 ? 'in order' : `${d.outOfOrder.toLocaleString('en-US')} out of order`);
  if (d.duplicates > 0) parts.push(`${d.duplicates.toLocaleString('en-US')} duplicates`);
  if (o.stoppedIn === 'drain') parts.push('drain ran past the budget');
  return parts.join(', ');
}

/** One line per contender and size; ratios against `baseline` (a contender kind) at the same size. */
export function formatTable(rows: BacklogRow[], baseline: string): string {
  const base = new Map<number, number>();
  for (const r of rows) {
    const us = usPerMessage(r.outcome);
    if (r.contender.kind === baseline && us !== undefined) base.set(r.outcome.messages, us);
  }
  const lines = [
    '| contender | backlog | time to buffer | per message | vs baseline | RSS growth | Redis used_memory per message | drain (to the last message) | delivered |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const { contender, outcome: o } of rows) {
    const us = usPerMessage(o);
    const ref = base.get(o.messages);
    const drainRate =
      o.drainSeconds === undefined ? '' : ` (${Math.round(o.messages / o.drainSeconds).toLocaleString('en-US')} msg/s)`;
    lines.push(
      [
        contender.label,
        o.messages.toLocaleString('en-US'),
        o.bufferSeconds === undefined ? '-' : `${fixed(o.bufferSeconds, 2)} s`,
        us === undefined ? '-' : `${fixed(us, 1)} µs`,
        us === undefined || ref === undefined ? '-' : `${(us / ref).toFixed(us / ref < 0.1 ? 2 : 1)}x`,
        o.rssGrowthKb === undefined ? '-' : `+${fixed(o.rssGrowthKb / 1024, 0)} MB`,
        o.redisUsedMemoryDelta === undefined ? '-' : `${Math.round(o.redisUsedMemoryDelta / o.messages)} B`,
        o.drainSeconds === undefined ? '-' : `${fixed(o.drainSeconds, 2)} s${drainRate}`,
        deliveryCell(o),
      ]
        .join(' | ')
        .replace(/^/, '| ') + ' |',
    );
  }
  return lines.join('\n');
}

// See bench/publish/chart.ts: vega is ESM with top-level await and needs a real import().
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string> };
}
interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}

function chartSpec(rows: BacklogRow[], title: string, subtitle: string): unknown {
  const measured = rows.filter((r) => r.outcome.bufferSeconds !== undefined);
  const values = measured.map(({ contender, outcome: o }) => ({
    contender: contender.label,
    messages: o.messages,
    usPerMessage: usPerMessage(o),
    rssMb: Math.max(0.1, (o.rssGrowthKb ?? 0) / 1024),
  }));
  const order = [...new Set(measured.map((r) => r.contender.label))];
  const x = {
    field: 'messages',
    type: 'quantitative',
    title: 'messages buffered offline',
    scale: { type: 'log', nice: false },
  };
  const color = {
    field: 'contender',
    type: 'nominal',
    sort: order,
    title: null,
    legend: { orient: 'bottom', columns: 2, labelLimit: 0 },
  };
  const panel = (field: string, title: string): unknown => ({
    width: 340,
    height: 260,
    mark: { type: 'line', point: true },
    encoding: { x, y: { field, type: 'quantitative', title, scale: { type: 'log' } }, color },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle, anchor: 'start' },
    data: { values },
    config: { font: 'DejaVu Sans', background: 'white', legend: { labelLimit: 0 } },
    hconcat: [panel('usPerMessage', 'time to buffer per message (µs), log'), panel('rssMb', 'RSS growth (MB), log')],
  };
}

/** Writes `${base}.svg` and `${base}.png`. */
export async function renderChart(rows: BacklogRow[], title: string, subtitle: string, base: string): Promise<void> {
  const vega = (await importEsm('vega')) as VegaModule;
  const vegaLite = (await importEsm('vega-lite')) as VegaLiteModule;
  const view = new vega.View(vega.parse(vegaLite.compile(chartSpec(rows, title, subtitle)).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  fs.writeFileSync(`${base}.svg`, svg);
  const { Resvg } = await import('@resvg/resvg-js');
  const png = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  fs.writeFileSync(`${base}.png`, png);
}
