/**
 * The operators' dashboard (scripts/deploy/metrics/dashboard.json) as deploy.sh sends it to Cloud
 * Monitoring: it charts only metrics that exist, the log-based ones the deploy itself creates
 * (under METRIC_PREFIX) and Google's built-in ones, and it shows what the issue asks for.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUTH_DOMAIN, FUNCTIONS, ROOT, SETTINGS, deploy } from '../../support/deployScript';

interface DataSet {
  timeSeriesQuery: {
    timeSeriesFilter: {
      filter: string;
      aggregation: { perSeriesAligner: string; crossSeriesReducer: string; groupByFields: string[] };
    };
  };
}
interface Dashboard {
  name?: string;
  displayName: string;
  mosaicLayout: {
    columns: number;
    tiles: Array<{
      xPos?: number;
      yPos?: number;
      width: number;
      height: number;
      widget: { title: string; xyChart?: { dataSets: DataSet[] } };
    }>;
  };
}

/** The definition the dry run's `sed … | gcloud monitoring dashboards create` line sends. */
function sentDashboard(env: Record<string, string>): {
  dashboard: Dashboard;
  createdMetrics: string[];
  stdout: string;
} {
  const run = deploy(['--dry-run'], { ...SETTINGS, ...env });
  const line = run.lines.find((l) => l.includes(' | gcloud monitoring dashboards create '));
  if (!line) throw new Error(`no dashboard create in:\n${run.stdout}`);
  const sed = spawnSync('bash', ['-c', line.split(' | gcloud ')[0]], { cwd: ROOT, encoding: 'utf8' });
  expect(sed.status).toBe(0);
  const createdMetrics = run.lines.flatMap((l) => /^gcloud logging metrics create (\S+) /.exec(l)?.[1] ?? []);
  return { dashboard: JSON.parse(sed.stdout) as Dashboard, createdMetrics, stdout: run.stdout };
}

const dataSets = (dashboard: Dashboard): DataSet[] =>
  dashboard.mosaicLayout.tiles.flatMap((tile) => tile.widget.xyChart?.dataSets ?? []);
const filterOf = (set: DataSet): string => set.timeSeriesQuery.timeSeriesFilter.filter;
const metricType = (set: DataSet): string => /metric\.type="([^"]+)"/.exec(filterOf(set))?.[1] ?? '';
const USER_METRIC = 'logging.googleapis.com/user/';

function labelsOf(file: string): string[] {
  const metric = JSON.parse(readFileSync(join(ROOT, 'scripts', 'deploy', 'metrics', file), 'utf8')) as {
    metricDescriptor: { labels: Array<{ key: string }> };
  };
  return metric.metricDescriptor.labels.map((label) => label.key);
}

describe.each([
  ['the default METRIC_PREFIX', {}, 'token_exchange'],
  ['METRIC_PREFIX=te_sandbox', { METRIC_PREFIX: 'te_sandbox' }, 'te_sandbox'],
])('the dashboard, with %s', (_, env: Record<string, string>, prefix) => {
  const { dashboard, createdMetrics } = sentDashboard(env);

  test('goes to gcloud as valid JSON, under the fixed id the deploy looks up', () => {
    expect(dashboard.name).toBe('projects/mlab-sandbox/dashboards/token-exchange');
    expect(dashboard.displayName).toBe('token-exchange');
    expect(createdMetrics).toEqual([`${prefix}_requests`, `${prefix}_latency`]);
  });

  test('every log-based metric it charts is one the deploy creates; the others are built-in Google metrics', () => {
    const types = dataSets(dashboard).map(metricType);
    expect(types.length).toBeGreaterThan(0);
    for (const type of types) {
      if (type.startsWith(USER_METRIC)) expect(createdMetrics).toContain(type.slice(USER_METRIC.length));
      else expect(type).toMatch(/^(?!custom\.|external\.|workload\.|prometheus\.)[a-z]+\.googleapis\.com\/[a-z_]+\//);
    }
    // Anywhere in the definition, not only in the filters read above.
    const named = [...JSON.stringify(dashboard).matchAll(/logging\.googleapis\.com\/user\/([A-Za-z0-9_]+)/g)].map(
      (m) => m[1],
    );
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect(createdMetrics).toContain(name);
  });

  test('filters and groups log-based metrics only by labels those metrics have', () => {
    for (const set of dataSets(dashboard)) {
      const type = metricType(set);
      if (!type.startsWith(USER_METRIC)) continue;
      const labels = labelsOf(
        type.endsWith('_requests') ? 'token_exchange_requests.json' : 'token_exchange_latency.json',
      );
      const used = [
        ...`${filterOf(set)} ${set.timeSeriesQuery.timeSeriesFilter.aggregation.groupByFields.join(' ')}`.matchAll(
          /metric\.labels?\.([a-z_]+)/g,
        ),
      ].map((m) => m[1]);
      for (const label of used) expect([type, label, labels.includes(label)]).toEqual([type, label, true]);
    }
  });
});

describe('what the dashboard shows', () => {
  const { dashboard, stdout } = sentDashboard({ AUTH_DOMAIN });
  const sets = dataSets(dashboard);
  const agg = (set: DataSet) => set.timeSeriesQuery.timeSeriesFilter.aggregation;

  test('exchanges per second by function and outcome', () => {
    const exchanges = sets.filter(
      (set) =>
        metricType(set).endsWith('_requests') &&
        agg(set).perSeriesAligner === 'ALIGN_RATE' &&
        agg(set).groupByFields.includes('metric.label.outcome'),
    );
    expect(exchanges).toHaveLength(1);
    expect(agg(exchanges[0]).groupByFields).toEqual(['metric.label.function', 'metric.label.outcome']);
    expect(filterOf(exchanges[0])).toContain('metric.label.function=one_of("exchangeIntegration","exchangeAutojoin")');
  });

  test('p50 and p99 latency by function', () => {
    const latency = sets.filter((set) => metricType(set).endsWith('_latency'));
    expect(latency.map((set) => agg(set).crossSeriesReducer).sort()).toEqual([
      'REDUCE_PERCENTILE_50',
      'REDUCE_PERCENTILE_99',
    ]);
    for (const set of latency) expect(agg(set).groupByFields).toEqual(['metric.label.function']);
  });

  test('401, 429 and 503 rates', () => {
    const errors = sets.filter((set) => filterOf(set).includes('metric.label.status=one_of("401","429","503")'));
    expect(errors).toHaveLength(1);
    expect(agg(errors[0])).toMatchObject({
      perSeriesAligner: 'ALIGN_RATE',
      groupByFields: ['metric.label.function', 'metric.label.status'],
    });
  });

  test("the functions' instance counts, by their Cloud Run service names", () => {
    const instances = sets.filter((set) => metricType(set) === 'run.googleapis.com/container/instance_count');
    expect(instances).toHaveLength(1);
    expect(filterOf(instances[0])).toContain(
      `resource.label.service_name=one_of(${FUNCTIONS.map((name) => `"${name.toLowerCase()}"`).join(',')})`,
    );
  });

  test("the load balancer's answers, Cloud Armor's 429s among them, for the URL map the deploy makes", () => {
    const lb = sets.filter((set) => metricType(set) === 'loadbalancing.googleapis.com/https/request_count');
    expect(lb).toHaveLength(1);
    const urlMap = /resource\.label\.url_map_name="([^"]+)"/.exec(filterOf(lb[0]))?.[1];
    expect(stdout).toContain(`| gcloud compute url-maps import ${urlMap} `);
  });

  test('tiles fit the 12-column grid without overlapping', () => {
    const cells = new Set<string>();
    for (const tile of dashboard.mosaicLayout.tiles) {
      expect((tile.xPos ?? 0) + tile.width).toBeLessThanOrEqual(dashboard.mosaicLayout.columns);
      for (let x = tile.xPos ?? 0; x < (tile.xPos ?? 0) + tile.width; x++)
        for (let y = tile.yPos ?? 0; y < (tile.yPos ?? 0) + tile.height; y++) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });
});
