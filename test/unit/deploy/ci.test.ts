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
