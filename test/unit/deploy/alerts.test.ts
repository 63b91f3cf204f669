/**
 * The alert policies (scripts/deploy/alerts/*.json) as deploy.sh sends them to Cloud Monitoring:
 * each watches only metrics that exist (the log-based ones the deploy itself creates, under
 * METRIC_PREFIX, and the load balancer's built-in one), by labels those metrics have; each
 * carries the label a rerun finds it by, its threshold from its setting and the notification
 * channels; and each watches what issue 20 asks for.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AUTH_DOMAIN, CHECK, ROOT, SETTINGS, WHEN_FOUND, deploy, type Run } from '../../support/deployScript';

interface Aggregation {
  alignmentPeriod: string;
  perSeriesAligner: string;
  crossSeriesReducer?: string;
  groupByFields?: string[];
}
interface Policy {
  displayName: string;
  documentation: { content: string; mimeType: string };
  userLabels: Record<string, string>;
  conditions: Array<{
    name?: string;
    displayName: string;
    conditionThreshold: {
      filter: string;
      aggregations: Aggregation[];
      denominatorFilter?: string;
      denominatorAggregations?: Aggregation[];
      comparison: string;
      thresholdValue: number;
      duration: string;
      trigger: { count: number };
      evaluationMissingData?: string;
    };
  }>;
  combiner: string;
  notificationChannels: string[];
  severity?: string;
}

const ALERTS = join(ROOT, 'scripts', 'deploy', 'alerts');
const FILES = readdirSync(ALERTS).filter((file) => file.endsWith('.json'));
const USER_METRIC = 'logging.googleapis.com/user/';
const LABEL = 'token_exchange_alert';

/** What the dry run's create lines send, by the label a rerun finds each policy by. */
function sentPolicies(env: Record<string, string>): { policies: Map<string, Policy>; run: Run; created: string[] } {
  const run = deploy(['--dry-run'], { ...SETTINGS, ...env });
  if (run.status !== 0) throw new Error(run.stderr);
  const policies = new Map<string, Policy>();
  for (const line of run.lines) {
    const sed = /^tries=0; until out="\$\((sed .*?) \| gcloud alpha monitoring policies create /.exec(line)?.[1];
    if (!sed) continue;
    const out = spawnSync('bash', ['-c', sed], { cwd: ROOT, encoding: 'utf8' });
    expect(out.stderr).toBe('');
    const policy = JSON.parse(out.stdout) as Policy;
    policies.set(policy.userLabels[LABEL], policy);
  }
  const created = run.lines.flatMap((l) => /^gcloud logging metrics create (\S+) /.exec(l)?.[1] ?? []);
  return { policies, run, created };
}

const threshold = (policy: Policy) => policy.conditions[0].conditionThreshold;
const metricType = (filter: string): string => /metric\.type="([^"]+)"/.exec(filter)?.[1] ?? '';

function labelsOf(file: string): string[] {
  const metric = JSON.parse(readFileSync(join(ROOT, 'scripts', 'deploy', 'metrics', file), 'utf8')) as {
    metricDescriptor: { labels: Array<{ key: string }> };
  };
  return metric.metricDescriptor.labels.map((label) => label.key);
}

describe('the alert policy files', () => {
  test.each(FILES)('%s: valid JSON, one threshold condition, labelled with its own name', (file) => {
    const text = readFileSync(join(ALERTS, file), 'utf8');
    const policy = JSON.parse(text) as Policy;
    expect(policy.userLabels).toEqual({ [LABEL]: file.replace(/\.json$/, '') });
    // Label values a gcloud --filter matches exactly (a hyphen would make it match by words).
    expect(policy.userLabels[LABEL]).toMatch(/^[a-z0-9_]+$/);
    expect(policy.displayName).toMatch(/^token-exchange: /);
    expect(policy.combiner).toBe('OR');
    expect(policy.documentation.mimeType).toBe('text/markdown');
    expect(policy.documentation.content).toContain(`scripts/deploy/alerts/${file}`);
    expect(policy.conditions).toHaveLength(1);
    expect(Object.keys(policy.conditions[0]).sort()).toEqual(['conditionThreshold', 'displayName']);
    const condition = threshold(policy);
    expect(condition.comparison).toBe('COMPARISON_GT');
    expect(condition.trigger).toEqual({ count: 1 });
    expect(condition.evaluationMissingData).toBe('EVALUATION_MISSING_DATA_INACTIVE');
    for (const aggregation of [...condition.aggregations, ...(condition.denominatorAggregations ?? [])]) {
      expect(aggregation.alignmentPeriod).toMatch(/^\d+s$/);
    }
    // What deploy.sh's sed finds in the text, once each: the threshold, the channels, where a
    // condition's name goes on an update. No name of a policy or condition: Monitoring gives those.
    expect(text.match(/"thresholdValue": [0-9][0-9.]*/g)).toHaveLength(1);
    expect(text.match(/"notificationChannels": \[\]/g)).toHaveLength(1);
    expect(text.match(/"conditionThreshold": \{/g)).toHaveLength(1);
    expect(text).not.toMatch(/"name":/);
  });

  test('are the four the deploy sends, no more', () => {
    expect(FILES.sort()).toEqual([
      'edge_429.json',
      'latency_p99.json',
      'server_errors.json',
      'signing_unavailable.json',
    ]);
  });
});

describe.each([
  ['the default METRIC_PREFIX', {}, 'token_exchange'],
  ['METRIC_PREFIX=te_sandbox', { METRIC_PREFIX: 'te_sandbox' }, 'te_sandbox'],
])('the alert policies, with %s', (_, env: Record<string, string>, prefix) => {
  const { policies, created } = sentPolicies({ ...env, AUTH_DOMAIN });

  test('go to gcloud as valid JSON, one per file', () => {
    expect([...policies.keys()].sort()).toEqual(FILES.map((file) => file.replace(/\.json$/, '')).sort());
    expect(created).toEqual([`${prefix}_requests`, `${prefix}_latency`]);
  });

  test('every log-based metric they watch is one the deploy creates; the others are built-in Google metrics', () => {
    for (const policy of policies.values()) {
      const condition = threshold(policy);
      for (const filter of [condition.filter, condition.denominatorFilter ?? condition.filter]) {
        const type = metricType(filter);
        if (type.startsWith(USER_METRIC)) expect(created).toContain(type.slice(USER_METRIC.length));
        else expect(type).toMatch(/^(?!custom\.|external\.|workload\.|prometheus\.)[a-z]+\.googleapis\.com\/[a-z_]+\//);
      }
      const named = [...JSON.stringify(policy).matchAll(/logging\.googleapis\.com\/user\/([A-Za-z0-9_]+)/g)];
      for (const [, name] of named) expect(created).toContain(name);
    }
  });

  test('filter and group log-based metrics only by labels those metrics have', () => {
    for (const policy of policies.values()) {
      const condition = threshold(policy);
      const pairs: Array<[string, Aggregation[]]> = [[condition.filter, condition.aggregations]];
      if (condition.denominatorFilter)
        pairs.push([condition.denominatorFilter, condition.denominatorAggregations ?? []]);
      for (const [filter, aggregations] of pairs) {
        const type = metricType(filter);
        if (!type.startsWith(USER_METRIC)) continue;
        const labels = labelsOf(
          type.endsWith('_requests') ? 'token_exchange_requests.json' : 'token_exchange_latency.json',
        );
        const grouped = aggregations.flatMap((a) => a.groupByFields ?? []).join(' ');
        const used = [...`${filter} ${grouped}`.matchAll(/metric\.labels?\.([a-z_]+)/g)].map((m) => m[1]);
        expect(used.length).toBeGreaterThan(0);
        for (const label of used) expect([type, label, labels.includes(label)]).toEqual([type, label, true]);
      }
    }
  });
});

describe('what the alert policies watch', () => {
  const { policies, run } = sentPolicies({ AUTH_DOMAIN });
  const get = (id: string): Policy => {
    const policy = policies.get(id);
    if (!policy) throw new Error(`no policy ${id}`);
    return policy;
  };

  test('the share of 5xx answers per function over 5 minutes: 5xx over all answers, above 5%', () => {
    const condition = threshold(get('server_errors'));
    const all = 'metric.type="logging.googleapis.com/user/token_exchange_requests" resource.type="cloud_run_revision"';
    expect(condition.filter).toBe(`${all} metric.label.status=starts_with("5")`);
    expect(condition.denominatorFilter).toBe(all);
    const perFunction = {
      alignmentPeriod: '300s',
      perSeriesAligner: 'ALIGN_DELTA',
      crossSeriesReducer: 'REDUCE_SUM',
      groupByFields: ['metric.label.function'],
    };
    expect(condition.aggregations).toEqual([perFunction]);
    expect(condition.denominatorAggregations).toEqual([perFunction]);
    expect(condition.thresholdValue).toBe(0.05);
  });

  test('any signing-unavailable answer', () => {
    const condition = threshold(get('signing_unavailable'));
    expect(condition.filter).toContain('metric.label.outcome="signing-unavailable"');
    expect(metricType(condition.filter)).toBe('logging.googleapis.com/user/token_exchange_requests');
    expect(condition.aggregations).toEqual([expect.objectContaining({ perSeriesAligner: 'ALIGN_DELTA' })]);
    expect(condition).toMatchObject({ comparison: 'COMPARISON_GT', thresholdValue: 0, duration: '0s' });
    expect(get('signing_unavailable').severity).toBe('CRITICAL');
  });

  test('p99 latency of the exchanges (not jwks), per function, over 5 minutes, above 1000 ms', () => {
    const condition = threshold(get('latency_p99'));
    expect(metricType(condition.filter)).toBe('logging.googleapis.com/user/token_exchange_latency');
    expect(condition.filter).toContain('metric.label.function=one_of("exchangeIntegration","exchangeAutojoin")');
    expect(condition.aggregations).toEqual([
      {
        alignmentPeriod: '300s',
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_PERCENTILE_99',
        groupByFields: ['metric.label.function'],
      },
    ]);
    expect(condition.thresholdValue).toBe(1000);
  });

  test("429s at the edge, from the load balancer's own count for the URL map the deploy makes", () => {
    const condition = threshold(get('edge_429'));
    expect(metricType(condition.filter)).toBe('loadbalancing.googleapis.com/https/request_count');
    expect(condition.filter).toContain('resource.type="https_lb_rule"');
    // response_code is an INT64 label: compared as a number.
    expect(condition.filter).toContain(' metric.label.response_code=429');
    const urlMap = /resource\.label\.url_map_name="([^"]+)"/.exec(condition.filter)?.[1];
    expect(run.stdout).toContain(`| gcloud compute url-maps import ${urlMap} `);
    expect(condition.aggregations).toEqual([
      { alignmentPeriod: '300s', perSeriesAligner: 'ALIGN_DELTA', crossSeriesReducer: 'REDUCE_SUM' },
    ]);
    expect(condition.thresholdValue).toBe(300);
  });

  test('without AUTH_DOMAIN there is no load balancer to count: no 429 policy', () => {
    expect([...sentPolicies({}).policies.keys()].sort()).toEqual([
      'latency_p99',
      'server_errors',
      'signing_unavailable',
    ]);
  });

  test('no notification channel by default', () => {
    for (const policy of policies.values()) expect(policy.notificationChannels).toEqual([]);
  });
});

describe('the alerts’ settings reach the policies', () => {
  const channels = ['projects/mlab-sandbox/notificationChannels/1234567890', 'projects/123456/notificationChannels/42'];
  const { policies } = sentPolicies({
    AUTH_DOMAIN,
    ALERT_NOTIFICATION_CHANNELS: channels.join(','),
    ALERT_5XX_PERCENT: '12.5',
    ALERT_LATENCY_P99_MS: '2500',
    ALERT_EDGE_429_COUNT: '0',
  });

  test('ALERT_NOTIFICATION_CHANNELS, to every policy', () => {
    expect(policies.size).toBe(4);
    for (const policy of policies.values()) expect(policy.notificationChannels).toEqual(channels);
  });

  test.each([
    ['server_errors', 0.125],
    ['signing_unavailable', 0],
    ['latency_p99', 2500],
    ['edge_429', 0],
  ])('%s: threshold %d', (id, value) => {
    expect(threshold(policies.get(id) as Policy).thresholdValue).toBe(value);
  });

  test.each([
    ['0.01', 0.0001],
    ['100', 1],
    ['7', 0.07],
  ])('ALERT_5XX_PERCENT=%s is a ratio of %d', (percent, ratio) => {
    const policy = sentPolicies({ ALERT_5XX_PERCENT: percent }).policies.get('server_errors') as Policy;
    expect(threshold(policy).thresholdValue).toBe(ratio);
  });
});

describe('the dry run’s alert policy lines', () => {
  const run = deploy(['--dry-run'], { ...SETTINGS, AUTH_DOMAIN });
  const ids = ['server_errors', 'signing_unavailable', 'latency_p99', 'edge_429'];

  test('each: looked up by its label, created when absent (again while Monitoring lags), updated when found', () => {
    for (const id of ids) {
      const list = `gcloud alpha monitoring policies list --project=mlab-sandbox --filter=userLabels.${LABEL}=${id}`;
      const at = run.lines.indexOf(`${CHECK}${list} --format='value(name)' | grep -q .`);
      expect([id, at]).toEqual([id, expect.any(Number)]);
      expect(at).toBeGreaterThan(0);
      expect(run.lines[at + 1]).toMatch(
        new RegExp(
          `^tries=0; until out="\\$\\(sed .* scripts/deploy/alerts/${id}\\.json \\| ` +
            'gcloud alpha monitoring policies create --project=mlab-sandbox --policy-from-file=- 2>&1\\)"; ' +
            `do \\[\\[ "\\$out" == \\*'Cannot find metric'\\* \\]\\] && \\[ \\$\\(\\(tries \\+= 1\\)\\) -lt 10 \\]`,
        ),
      );
      expect(run.lines[at + 2]).toMatch(
        new RegExp(
          `^${WHEN_FOUND}condition="\\$\\(${list} --format='value\\(conditions\\[0\\]\\.name\\)' --limit=1\\)" && ` +
            `sed -e "s\\|\\\\"conditionThreshold\\\\": \\{\\|\\\\"name\\\\": \\\\"\\$condition\\\\", &\\|" .* ` +
            `scripts/deploy/alerts/${id}\\.json \\| ` +
            'gcloud alpha monitoring policies update "\\$\\{condition%/conditions/\\*\\}" ' +
            '--project=mlab-sandbox --policy-from-file=-$',
        ),
      );
    }
  });

  test('an update sends the same policy as the create, with the existing condition’s name', () => {
    const gcloud =
      'gcloud() { if [[ " $* " == *" --format=value(conditions[0].name) "* ]]; ' +
      'then echo projects/mlab-sandbox/alertPolicies/77/conditions/88; else echo "$*" >&2; cat; fi; }';
    for (const id of ids) {
      const create = run.lines.find((l) => l.startsWith('tries=0;') && l.includes(`/alerts/${id}.json `)) as string;
      const update = run.lines.find((l) => l.startsWith(WHEN_FOUND) && l.includes(`/alerts/${id}.json `)) as string;
      const sent = (line: string) => spawnSync('bash', ['-c', `${gcloud}\n${line}`], { cwd: ROOT, encoding: 'utf8' });
      const created = sent(`${/until out="\$\((.*?) 2>&1\)"; do/.exec(create)?.[1]}`);
      const updated = sent(update.slice(WHEN_FOUND.length));
      expect(updated.stderr).toBe(
        'alpha monitoring policies update projects/mlab-sandbox/alertPolicies/77 ' +
          '--project=mlab-sandbox --policy-from-file=-\n',
      );
      const policy = JSON.parse(updated.stdout) as Policy;
      expect(policy.conditions[0].name).toBe('projects/mlab-sandbox/alertPolicies/77/conditions/88');
      delete policy.conditions[0].name;
      expect(policy).toEqual(JSON.parse(created.stdout));
    }
  });
});
