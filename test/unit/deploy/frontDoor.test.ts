/**
 * scripts/deploy/deploy.sh with AUTH_DOMAIN: the load balancer at the Go service's paths, its
 * certificate, and Cloud Armor's per-IP ban, read from the dry run.
 */
import {
  AUTH_DOMAIN,
  CHECK,
  FUNCTIONS,
  SETTINGS,
  WHEN_FOUND,
  commandLine,
  deploy,
  flags,
  type Run,
} from '../../support/deployScript';
import { FUNCTIONS as FUNCTIONS_BY_NAME, FUNCTION_NAMES } from '../../../shared/platform/functions';

const BACKEND = 'https://www.googleapis.com/compute/v1/projects/mlab-sandbox/global/backendServices/';
const CERT = 'token-exchange-auth-mlab-sandbox-measurementlab-net';

interface UrlMap {
  name: string;
  defaultService?: string;
  hostRules?: Array<{ hosts: string[]; pathMatcher: string }>;
  pathMatchers?: Array<{
    name: string;
    defaultService: string;
    pathRules: Array<{ paths: string[]; service: string }>;
  }>;
  defaultUrlRedirect?: Record<string, unknown>;
}

/** The definition a `echo '<json>' | gcloud compute url-maps import <name>` line feeds in. */
function urlMap(run: Run, name: string): UrlMap {
  const line = run.lines.find((l) => l.includes(`| gcloud compute url-maps import ${name} `));
  const json = line && /^echo '(.*)' \| /.exec(line);
  if (!json) throw new Error(`no url-maps import of ${name} in:\n${run.stdout}`);
  return JSON.parse(json[1].replace(/'\\''/g, "'")) as UrlMap;
}

/** Where a request for `path` on `host` goes, as the load balancer reads the map. */
function route(map: UrlMap, host: string, path: string): string | undefined {
  const matcher = map.hostRules?.find((rule) => rule.hosts.includes(host))?.pathMatcher;
  const paths = map.pathMatchers?.find((m) => m.name === matcher);
  if (!paths) return map.defaultService;
  return paths.pathRules.find((rule) => rule.paths.includes(path))?.service ?? paths.defaultService;
}

describe('deploy.sh --dry-run with AUTH_DOMAIN', () => {
  const run = deploy(['--dry-run'], { ...SETTINGS, AUTH_DOMAIN });
  const line = (prefix: string): string => commandLine(run, prefix);
  const index = (prefix: string): number => run.lines.indexOf(line(prefix));

  test('runs nothing and prints the front door after the functions, the metrics and the dashboard', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const dashboard = run.lines.findIndex((l) => l.includes('| gcloud monitoring dashboards create '));
    expect(dashboard).toBeGreaterThan(index('gcloud functions deploy jwks '));
    expect(index('gcloud compute network-endpoint-groups create')).toBeGreaterThan(dashboard);
    // the functions' own URLs no longer answer from outside
    expect(run.stdout).not.toContain('gcloud functions describe');
  });

  test.each(FUNCTIONS)('%s takes traffic only from the load balancer, still without a Google identity', (name) => {
    const f = flags(line(`gcloud functions deploy ${name} `));
    expect(f.get('--ingress-settings')).toBe('internal-and-gclb');
    expect(f.get('--allow-unauthenticated')).toBe(true);
  });

  test.each([
    ['exchangeIntegration', 'token-exchange-integration'],
    ['exchangeAutojoin', 'token-exchange-autojoin'],
    ['jwks', 'token-exchange-jwks'],
  ])(
    '%s: a serverless network endpoint group in its region, in a global backend service of the same name',
    (fn, name) => {
      const neg = flags(line(`gcloud compute network-endpoint-groups create ${name} `));
      expect(neg.get('--network-endpoint-type')).toBe('serverless');
      expect(neg.get('--cloud-function-name')).toBe(fn);
      expect(neg.get('--region')).toBe('us-east1');
      expect(run.lines[index(`gcloud compute network-endpoint-groups create ${name} `) - 1]).toBe(
        `${CHECK}gcloud compute network-endpoint-groups describe ${name} --region=us-east1 --project=mlab-sandbox`,
      );
      const backend = flags(line(`gcloud compute backend-services create ${name} `));
      expect(backend.get('--global')).toBe(true);
      expect(backend.get('--load-balancing-scheme')).toBe('EXTERNAL_MANAGED');
      const add = flags(line(`gcloud compute backend-services add-backend ${name} `));
      expect(add.get('--network-endpoint-group')).toBe(name);
      expect(add.get('--network-endpoint-group-region')).toBe('us-east1');
      // Added only when the backend service does not list that group yet.
      expect(run.lines[index(`gcloud compute backend-services add-backend ${name} `) - 1]).toBe(
        `${CHECK}gcloud compute backend-services describe ${name} --global --project=mlab-sandbox ` +
          `--format='value(backends[].group)' | grep -q '/networkEndpointGroups/${name}$'`,
      );
    },
  );

  test("the URL map sends the Go service's four paths on AUTH_DOMAIN to the three functions", () => {
    const map = urlMap(run, 'token-exchange');
    expect(map.name).toBe('token-exchange');
    expect(route(map, AUTH_DOMAIN, '/v0/token/integration')).toBe(`${BACKEND}token-exchange-integration`);
    expect(route(map, AUTH_DOMAIN, '/v0/token/autojoin')).toBe(`${BACKEND}token-exchange-autojoin`);
    expect(route(map, AUTH_DOMAIN, '/.well-known/jwks.json')).toBe(`${BACKEND}token-exchange-jwks`);
    expect(route(map, AUTH_DOMAIN, '/health')).toBe(`${BACKEND}token-exchange-jwks`); // jwks answers /health itself
    expect(route(map, 'other.example.org', '/v0/token/integration')).toBe(`${BACKEND}token-exchange-jwks`);
    // import replaces without a prompt
    expect(flags(line('echo \'{"name":"token-exchange",')).get('--quiet')).toBe(true);
  });

  test('each function of shared/platform/functions.ts, and only those, answers its Go service path', () => {
    const map = urlMap(run, 'token-exchange');
    const negs = run.lines.filter((l) => l.startsWith('gcloud compute network-endpoint-groups create '));
    const functionOf = (backend: string | undefined): unknown => {
      const name = backend?.slice(BACKEND.length);
      return flags(line(`gcloud compute network-endpoint-groups create ${name} `)).get('--cloud-function-name');
    };
    expect(negs.map((l) => flags(l).get('--cloud-function-name'))).toEqual([...FUNCTION_NAMES]);
    for (const name of FUNCTION_NAMES) {
      expect([name, functionOf(route(map, AUTH_DOMAIN, FUNCTIONS_BY_NAME[name].goServicePath))]).toEqual([name, name]);
    }
  });

  test('plain HTTP is redirected to HTTPS with 308, so a POST stays a POST', () => {
    expect(urlMap(run, 'token-exchange-http-redirect')).toEqual({
      name: 'token-exchange-http-redirect',
      description: expect.any(String),
      defaultUrlRedirect: { httpsRedirect: true, redirectResponseCode: 'PERMANENT_REDIRECT' },
    });
    const proxy = flags(line('gcloud compute target-http-proxies create token-exchange-http '));
    expect(proxy.get('--url-map')).toBe('token-exchange-http-redirect');
    const rule = flags(line('gcloud compute forwarding-rules create token-exchange-http '));
    expect([rule.get('--target-http-proxy'), rule.get('--ports'), rule.get('--address')]).toEqual([
      'token-exchange-http',
      '80',
      'token-exchange-ip',
    ]);
  });

  test(
    'HTTPS on one global address, with a Google-managed ' + 'certificate for AUTH_DOMAIN through a DNS authorization',
    () => {
      expect(flags(line('gcloud compute addresses create token-exchange-ip ')).get('--global')).toBe(true);
      expect(flags(line(`gcloud certificate-manager dns-authorizations create ${CERT} `)).get('--domain')).toBe(
        AUTH_DOMAIN,
      );
      const cert = flags(line(`gcloud certificate-manager certificates create ${CERT} `));
      expect([cert.get('--domains'), cert.get('--dns-authorizations')]).toEqual([AUTH_DOMAIN, CERT]);
      const entry = flags(line(`gcloud certificate-manager maps entries create ${CERT} `));
      expect([entry.get('--map'), entry.get('--certificates'), entry.get('--hostname')]).toEqual([
        'token-exchange',
        CERT,
        AUTH_DOMAIN,
      ]);
      const proxy = flags(line('gcloud compute target-https-proxies create token-exchange-https '));
      expect([proxy.get('--url-map'), proxy.get('--certificate-map')]).toEqual(['token-exchange', 'token-exchange']);
      const rule = flags(line('gcloud compute forwarding-rules create token-exchange-https '));
      expect([
        rule.get('--target-https-proxy'),
        rule.get('--ports'),
        rule.get('--address'),
        rule.get('--load-balancing-scheme'),
      ]).toEqual(['token-exchange-https', '443', 'token-exchange-ip', 'EXTERNAL_MANAGED']);
    },
  );

  test('ends with what to do in DNS, in order: the CNAME, the certificate state to wait for, then the A record', () => {
    const tail = run.lines.slice(-4);
    expect(tail[0]).toMatch(
      new RegExp(
        `^gcloud certificate-manager dns-authorizations describe ${CERT} ` +
          '.*dnsResourceRecord\\.name,dnsResourceRecord\\.type,dnsResourceRecord\\.data',
      ),
    );
    expect(tail[1]).toMatch(new RegExp(`^gcloud certificate-manager certificates describe ${CERT} .*managed\\.state`));
    expect(tail[2]).toMatch(/^gcloud compute addresses describe token-exchange-ip --global .*\(address\)'$/);
    expect(tail[3]).toBe(
      `echo 'front door: https://${AUTH_DOMAIN}/v0/token/integration https://${AUTH_DOMAIN}/v0/token/autojoin https://${AUTH_DOMAIN}/.well-known/jwks.json https://${AUTH_DOMAIN}/health'`,
    );
  });

  test(
    'Cloud Armor bans a client IP above 600 requests a minute ' +
      'for 5 minutes, answering 429, on the exchange backends only',
    () => {
      expect(flags(line('gcloud compute security-policies create token-exchange-edge ')).get('--type')).toBe(
        'CLOUD_ARMOR',
      );
      const rule = line('gcloud compute security-policies rules create 1000 ');
      const f = flags(rule);
      expect(Object.fromEntries([...f].filter(([name]) => name !== '--description'))).toEqual({
        '--security-policy': 'token-exchange-edge',
        '--src-ip-ranges': '*',
        '--action': 'rate-based-ban',
        '--rate-limit-threshold-count': '600',
        '--rate-limit-threshold-interval-sec': '60',
        '--ban-duration-sec': '300',
        '--conform-action': 'allow',
        '--exceed-action': 'deny-429',
        '--enforce-on-key': 'IP',
        '--project': 'mlab-sandbox',
      });
      // When the rule exists, the same settings are applied to it (a changed threshold takes effect).
      expect(run.lines[run.lines.indexOf(rule) + 1]).toBe(
        `${WHEN_FOUND}${rule.replace(' rules create ', ' rules update ')}`,
      );
      const attached = run.lines.filter(
        (l) =>
          l.includes('--security-policy=token-exchange-edge') &&
          l.startsWith('gcloud compute backend-services update '),
      );
      expect(attached.map((l) => l.split(' ')[4])).toEqual(['token-exchange-integration', 'token-exchange-autojoin']);
    },
  );

  test('the edge limit follows its settings', () => {
    const tuned = deploy(['--dry-run'], {
      ...SETTINGS,
      AUTH_DOMAIN,
      EDGE_RATE_LIMIT_COUNT: '3000',
      EDGE_RATE_LIMIT_INTERVAL_SECONDS: '600',
      EDGE_BAN_SECONDS: '60',
    });
    const f = flags(commandLine(tuned, 'gcloud compute security-policies rules create 1000 '));
    expect([
      f.get('--rate-limit-threshold-count'),
      f.get('--rate-limit-threshold-interval-sec'),
      f.get('--ban-duration-sec'),
    ]).toEqual(['3000', '600', '60']);
  });

  test('a resource is created only where a look-up precedes it; only what can change is updated', () => {
    const unchecked = run.lines.filter(
      (l, i) =>
        / (create|add-backend) /.test(l.split('|').pop() as string) &&
        !l.startsWith('#') &&
        !run.lines[i - 1].startsWith(CHECK),
    );
    expect(unchecked).toEqual([]);
    expect(
      run.lines.filter((l) => l.startsWith(WHEN_FOUND)).map((l) => /gcloud (\S+ \S+ (?:rules )?update)/.exec(l)?.[1]),
    ).toEqual([
      'logging metrics update',
      'logging metrics update',
      'monitoring dashboards update',
      'compute security-policies rules update',
    ]);
  });
});
