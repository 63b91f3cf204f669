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

/** The `"$(gcloud functions describe …)"` a network endpoint group's create line reads its service from. */
const serviceOf = (fn: string): string =>
  `"$(gcloud functions describe ${fn} --gen2 --region=us-east1 --project=mlab-sandbox ` +
  `--format='value(serviceConfig.service.basename())')"`;

const NEGS: Array<[string, string]> = [
  ['exchangeIntegration', 'token-exchange-integration'],
  ['exchangeAutojoin', 'token-exchange-autojoin'],
  ['jwks', 'token-exchange-jwks'],
];

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
    // the functions' own URLs are not the way in any more
    expect(run.lines.filter((l) => l.startsWith('gcloud functions describe'))).toEqual([]);
  });

  test.each(FUNCTIONS)(
    '%s stays open at its own URL until INGRESS=internal-and-gclb closes it, still without a Google identity',
    (name) => {
      const f = flags(line(`gcloud functions deploy ${name} `));
      expect(f.get('--ingress-settings')).toBe('all');
      expect(f.get('--allow-unauthenticated')).toBe(true);
      const closing = deploy(['--dry-run'], { ...SETTINGS, AUTH_DOMAIN, INGRESS: 'internal-and-gclb' });
      expect(flags(commandLine(closing, `gcloud functions deploy ${name} `)).get('--ingress-settings')).toBe(
        'internal-and-gclb',
      );
    },
  );

  test.each(NEGS)(
    '%s: a serverless network endpoint group of the Cloud Run type, naming the service the deployed function reports',
    (fn, name) => {
      const create =
        `gcloud compute network-endpoint-groups create ${name} --region=us-east1 --network-endpoint-type=serverless ` +
        `--cloud-run-service=${serviceOf(fn)} --project=mlab-sandbox`;
      expect(run.lines[index(`gcloud compute network-endpoint-groups create ${name} `) - 1]).toBe(
        `${CHECK}gcloud compute network-endpoint-groups describe ${name} --region=us-east1 --project=mlab-sandbox`,
      );
      expect(line(`gcloud compute network-endpoint-groups create ${name} `)).toBe(create);
      expect(run.stdout).not.toContain('--cloud-function-name');
      const backend = flags(line(`gcloud compute backend-services create ${name} `));
      expect(backend.get('--global')).toBe(true);
      expect(backend.get('--load-balancing-scheme')).toBe('EXTERNAL_MANAGED');
      const add = flags(line(`gcloud compute backend-services add-backend ${name} `));
      expect(add.get('--network-endpoint-group')).toBe(name);
      expect(add.get('--network-endpoint-group-region')).toBe('us-east1');
      // Added only when the backend service does not list that group yet (gcloud joins them with ";").
      const holds =
        `gcloud compute backend-services describe ${name} --global --project=mlab-sandbox ` +
        `--format='value(backends[].group)' | grep -Eq '/networkEndpointGroups/${name}(;|$)'`;
      expect(run.lines[index(`gcloud compute backend-services add-backend ${name} `) - 1]).toBe(`${CHECK}${holds}`);
    },
  );

  test.each(NEGS)(
    '%s: a group found of the 1st-gen type is replaced, under "when found": detached, deleted, made again, re-added',
    (_, name) => {
      const firstGen =
        `gcloud compute network-endpoint-groups describe ${name} --region=us-east1 --project=mlab-sandbox ` +
        `--format='value(cloudFunction.function)' | grep -q .`;
      const holds =
        `gcloud compute backend-services describe ${name} --global --project=mlab-sandbox ` +
        `--format='value(backends[].group)' | grep -Eq '/networkEndpointGroups/${name}(;|$)'`;
      const at = run.lines.indexOf(`${CHECK}${firstGen} && ${holds}`);
      expect(at).toBeGreaterThan(index(`gcloud compute backend-services create ${name} `));
      expect(run.lines.slice(at, at + 7)).toEqual([
        `${CHECK}${firstGen} && ${holds}`,
        `${WHEN_FOUND}gcloud compute backend-services remove-backend ${name} --global ` +
          `--network-endpoint-group=${name} --network-endpoint-group-region=us-east1 --project=mlab-sandbox`,
        `${CHECK}${firstGen}`,
        `${WHEN_FOUND}gcloud compute network-endpoint-groups delete ${name} --region=us-east1 ` +
          '--project=mlab-sandbox --quiet',
        `${WHEN_FOUND}${line(`gcloud compute network-endpoint-groups create ${name} `)}`,
        // then the add-backend finds the group missing from its backend service and adds it again
        `${CHECK}${holds}`,
        line(`gcloud compute backend-services add-backend ${name} `),
      ]);
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
    const functionOf = (backend: string | undefined): string | undefined => {
      const name = backend?.slice(BACKEND.length);
      return /gcloud functions describe (\S+) /.exec(
        line(`gcloud compute network-endpoint-groups create ${name} `),
      )?.[1];
    };
    expect(negs.map((l) => /gcloud functions describe (\S+) /.exec(l)?.[1])).toEqual([...FUNCTION_NAMES]);
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

  test('ends with what to do next, in order: the CNAME, the certificate, the A record, then ingress', () => {
    const tail = run.lines.slice(-5);
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
    expect(tail[4]).toMatch(/^echo 'ingress: all, .*deploy again with INGRESS=internal-and-gclb'$/);
    const closing = deploy(['--dry-run'], { ...SETTINGS, AUTH_DOMAIN, INGRESS: 'internal-and-gclb' });
    expect(closing.lines[closing.lines.length - 1]).toMatch(/^echo 'front door: /);
  });

  test.each([
    ['token-exchange-edge', '600', '60', '300'],
    ['token-exchange-edge-jwks', '1200', '60', '60'],
  ])(
    'Cloud Armor policy %s bans a client IP above %s requests per %s s for %s s, answering 429',
    (policy, ...limit) => {
      expect(flags(line(`gcloud compute security-policies create ${policy} `)).get('--type')).toBe('CLOUD_ARMOR');
      const rule = line(`gcloud compute security-policies rules create 1000 --security-policy=${policy} `);
      const f = flags(rule);
      expect(Object.fromEntries([...f].filter(([name]) => name !== '--description'))).toEqual({
        '--security-policy': policy,
        '--src-ip-ranges': '*',
        '--action': 'rate-based-ban',
        '--rate-limit-threshold-count': limit[0],
        '--rate-limit-threshold-interval-sec': limit[1],
        '--ban-duration-sec': limit[2],
        '--conform-action': 'allow',
        '--exceed-action': 'deny-429',
        '--enforce-on-key': 'IP',
        '--project': 'mlab-sandbox',
      });
      // When the rule exists, the same settings are applied to it (a changed threshold takes effect).
      expect(run.lines[run.lines.indexOf(rule) + 1]).toBe(
        `${WHEN_FOUND}${rule.replace(' rules create ', ' rules update ')}`,
      );
    },
  );

  test('every backend has a policy, since a rate-based rule counts per backend: jwks its own', () => {
    const attached = run.lines
      .filter((l) => l.startsWith('gcloud compute backend-services update '))
      .map((l) => [l.split(' ')[4], flags(l).get('--security-policy')]);
    expect(attached).toEqual([
      ['token-exchange-integration', 'token-exchange-edge'],
      ['token-exchange-autojoin', 'token-exchange-edge'],
      ['token-exchange-jwks', 'token-exchange-edge-jwks'],
    ]);
  });

  test('the edge limits follow their settings, each backend its own', () => {
    const tuned = deploy(['--dry-run'], {
      ...SETTINGS,
      AUTH_DOMAIN,
      EDGE_RATE_LIMIT_COUNT: '3000',
      EDGE_RATE_LIMIT_INTERVAL_SECONDS: '600',
      EDGE_BAN_SECONDS: '60',
      EDGE_JWKS_RATE_LIMIT_COUNT: '10000',
      EDGE_JWKS_RATE_LIMIT_INTERVAL_SECONDS: '10',
      EDGE_JWKS_BAN_SECONDS: '30',
    });
    const limit = (policy: string): unknown[] => {
      const f = flags(
        commandLine(tuned, `gcloud compute security-policies rules create 1000 --security-policy=${policy} `),
      );
      return ['--rate-limit-threshold-count', '--rate-limit-threshold-interval-sec', '--ban-duration-sec'].map((name) =>
        f.get(name),
      );
    };
    expect(limit('token-exchange-edge')).toEqual(['3000', '600', '60']);
    expect(limit('token-exchange-edge-jwks')).toEqual(['10000', '10', '30']);
  });

  test('a resource is created only where a look-up precedes it; only what can change is updated or replaced', () => {
    const unchecked = run.lines.filter(
      (l, i) =>
        // Anywhere in the line: a create may sit inside a loop that tries it again.
        /\bgcloud (?:[a-z-]+ ){1,4}(?:create|add-backend) /.test(l) &&
        !l.startsWith('#') &&
        !run.lines[i - 1].startsWith(CHECK),
    );
    expect(unchecked).toEqual([]);
    const replaced = [
      'backend-services remove-backend',
      'network-endpoint-groups delete',
      'network-endpoint-groups create',
    ];
    expect(
      run.lines
        .filter((l) => l.startsWith(WHEN_FOUND))
        .map((l) => /gcloud ((?:alpha )?\S+ \S+ (?:rules )?(?:update|remove-backend|delete|create))/.exec(l)?.[1]),
    ).toEqual([
      'logging metrics update',
      'logging metrics update',
      'monitoring dashboards update',
      ...['server_errors', 'signing_unavailable', 'latency_p99', 'edge_429'].map(
        () => 'alpha monitoring policies update',
      ),
      'compute security-policies rules update',
      'compute security-policies rules update',
      ...NEGS.flatMap(() => replaced.map((verb) => `compute ${verb}`)),
    ]);
  });
});
