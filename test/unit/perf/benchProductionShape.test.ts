import { signingKeySecret } from '../../../scripts/dev/signingSecret';
import { NOT_IN_PRODUCTION, productionEnvironment } from '../../../scripts/perf/bench/productionShape';
import { coldStartFigures } from '../../../scripts/perf/bench/stats';

describe("the benchmark's production shape", () => {
  const addresses = {
    metadataHost: '127.0.0.1:1001',
    datastoreHost: '127.0.0.1:1002',
    secretManagerHost: '127.0.0.1:1003',
    caFile: '/tmp/ca/ca.pem',
  };
  const settings = {
    projectId: 'token-exchange-bench',
    integrationNamespace: 'bench-ci-x',
    platformNamespace: 'bench-pc-x',
    home: '/tmp/empty-home',
  };

  it('points each API at its stand-in over HTTPS, trusting their CA, with an empty HOME', () => {
    expect(productionEnvironment(addresses, settings)).toEqual({
      PROJECT_ID: 'token-exchange-bench',
      CLIENT_INTEGRATION_NS: 'bench-ci-x',
      PLATFORM_NS: 'bench-pc-x',
      SIGNING_KEY_SECRET: 'projects/token-exchange-bench/secrets/token-exchange-signing-key',
      SIGNING_KEY_VERSION: 'current',
      DATASTORE_API_ENDPOINT: '127.0.0.1:1002',
      SECRET_MANAGER_API_ENDPOINT: '127.0.0.1:1003',
      GCE_METADATA_HOST: '127.0.0.1:1001',
      NODE_EXTRA_CA_CERTS: '/tmp/ca/ca.pem',
      HOME: '/tmp/empty-home',
    });
  });

  it('sets nothing that would make a run emulator-shaped or spare the auth library its work', () => {
    const env = productionEnvironment(addresses, settings);
    for (const name of NOT_IN_PRODUCTION) expect([name, env[name]]).toEqual([name, undefined]);
    expect(signingKeySecret(settings.projectId)).toBe(env.SIGNING_KEY_SECRET);
  });
});

describe('cold-start figures', () => {
  it('takes medians and divides by hello-world', () => {
    const figures = coldStartFigures([330.4, 300.2, 360.6, 310, 320], [300, 290, 310, 280, 320], 200);
    expect(figures).toEqual({
      medianMs: 320,
      runsMs: [330, 300, 361, 310, 320],
      medianCpuMs: 300,
      timesHelloWorld: 1.6,
    });
  });

  it('has no ratio without a baseline', () => {
    expect(coldStartFigures([300], [], Number.NaN).timesHelloWorld).toBeNaN();
    expect(coldStartFigures([], [], 200).medianMs).toBeNaN();
  });
});
