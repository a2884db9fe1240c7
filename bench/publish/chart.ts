/**
 * The chart of a run: a vega-lite spec, compiled and rendered to SVG by vega, and rasterized to
 * PNG by @resvg/resvg-js. vega is ESM with top-level await, so it is loaded with a real import().
 */
import * as fs from 'node:fs';
import type { Row } from './report';

// TypeScript compiles import() to require() under "module": "commonjs", and require() cannot load
// vega (top-level await); a function built at run time keeps a real import().
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string> };
}
interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}

const AXIS_MIN = 100;

function chartSpec(rows: Row[], title: string, subtitle: string): unknown {
  const values = rows.map((r) => ({
    publisher: r.label,
    qos: `QoS ${r.qos}`,
    maxInflight:
      r.maxInflight === 'default'
        ? 'default maxInflight (Paho C: 20)'
        : `maxInflight ${r.maxInflight} (MQTT.js: no limit)`,
    median: r.median,
    base: AXIS_MIN,
    min: r.min,
    max: r.max,
  }));
  const order = [...new Set(rows.map((r) => r.label))];
  const y = { field: 'publisher', type: 'nominal', sort: order, title: null, axis: { labelLimit: 260 } };
  const yOffset = { field: 'maxInflight', type: 'nominal' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle, anchor: 'start' },
    data: { values },
    config: { font: 'DejaVu Sans', background: 'white', view: { stroke: null } },
    facet: { column: { field: 'qos', type: 'nominal', title: null, header: { labelFontSize: 14 } } },
    spec: {
      width: 330,
      height: { step: 11 },
      layer: [
        {
          mark: { type: 'bar' },
          encoding: {
            y,
            yOffset,
            x: {
              field: 'median',
              type: 'quantitative',
              title: 'msg/s (median; line: min-max), log scale',
              scale: { type: 'log', domain: [AXIS_MIN, 100000] },
            },
            // Bars on a log scale need an explicit base (zero has no place on it).
            x2: { field: 'base' },
            color: { field: 'maxInflight', type: 'nominal', title: null, legend: { orient: 'top', labelLimit: 400 } },
            tooltip: [{ field: 'median' }],
          },
        },
        {
          mark: { type: 'rule', color: 'black' },
          encoding: { y, yOffset, x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4, fontSize: 9 },
          encoding: {
            y,
            yOffset,
            x: { field: 'max', type: 'quantitative' },
            text: { field: 'median', type: 'quantitative', format: ',' },
          },
        },
      ],
    },
  };
}

/** Writes `${base}.svg` and `${base}.png`. */
export async function renderChart(rows: Row[], title: string, subtitle: string, base: string): Promise<void> {
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
