/** .github/workflows/deploy.yml deploys the dist/ its test job tested, and builds nothing itself. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const workflow = readFileSync(join(__dirname, '..', '..', '..', '.github', 'workflows', 'deploy.yml'), 'utf8');
const [testJob = '', deployJob = ''] = workflow.split(/^jobs:$/m)[1]?.split(/^ {2}deploy:$/m) ?? [];

describe('the CI workflow', () => {
  it('tests the dist/ it hands on: the smoke test reads it, and it is uploaded with its dotfiles', () => {
    expect(testJob).toMatch(/- run: \.ci\/run\n\s+env:\n\s+BUNDLE_SMOKE_DIST: dist\n/);
    const upload = new RegExp(
      String.raw`uses: actions/upload-artifact@v4\n\s+with:\n\s+name: dist\n` +
        String.raw`\s+path: dist/\n\s+include-hidden-files: true`,
    );
    expect(testJob).toMatch(upload);
  });

  it('deploys that artifact with --skip-build, and runs no npm that could build again', () => {
    expect(deployJob).toMatch(/needs: test\n/);
    expect(deployJob).toMatch(/uses: actions\/download-artifact@v4\n\s+with:\n\s+name: dist\n\s+path: dist\//);
    const runs = deployJob.match(/bash scripts\/deploy\/deploy\.sh[^\n]*/g) ?? [];
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) expect(run).toContain('--skip-build');
    expect(deployJob).not.toMatch(/\bnpm\b|setup-node/);
  });
});

describe('the deploy job', () => {
  const script = readFileSync(join(__dirname, '..', '..', '..', 'scripts', 'deploy', 'deploy.sh'), 'utf8');

  it('runs for main only, in the production environment', () => {
    expect(deployJob).toMatch(/^ {4}if: github\.ref == 'refs\/heads\/main'$/m);
    expect(deployJob).toMatch(/^ {4}environment: production$/m);
  });

  it("passes AUTH_DOMAIN, INGRESS, every edge and alert setting, the Go service's names, empty when unset", () => {
    // Every EDGE_* and ALERT_* setting deploy.sh reads, so a new one cannot be left out here.
    const edge = [...new Set(script.match(/\bEDGE_[A-Z_]+(?==")/g))].filter((name) => name !== 'EDGE_MAX_COUNT');
    expect(edge).toHaveLength(6);
    const alert = [...new Set(script.match(/^ALERT_[A-Z0-9_]+(?==")/gm))];
    expect(alert).toEqual([
      'ALERT_NOTIFICATION_CHANNELS',
      'ALERT_5XX_PERCENT',
      'ALERT_LATENCY_P99_MS',
      'ALERT_EDGE_429_COUNT',
    ]);
    for (const name of [
      'AUTH_DOMAIN',
      'INGRESS',
      ...edge,
      ...alert,
      'FORWARDED_FOR_HOP',
      'CLIENT_INTEGRATION_NS',
      'PLATFORM_NS',
      'TOKEN_ISSUER',
    ]) {
      expect([name, deployJob.includes(`\n          ${name}: \${{ vars.${name} }}\n`)]).toEqual([name, true]);
    }
  });
});

describe("the README's workload identity provider", () => {
  const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const ci = readme.split(/^### CI$/m)[1]?.split(/^##/m)[0] ?? '';

  it('admits only this repository, and only its main branch: the repository alone is not enough', () => {
    const condition = /--attribute-condition="([^"]*)"/.exec(ci)?.[1];
    expect(condition).toBe("assertion.repository=='$REPO' && assertion.ref=='refs/heads/main'");
  });
});
