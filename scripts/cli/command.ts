/**
 * The shape of a `token-admin <noun> <verb>` command, its help text, and the session it runs
 * in: clients made on first use from the global options and the environment.
 */
import { Datastore } from '@google-cloud/datastore';
import { datastoreOptions } from '../../shared/platform/googleClients';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import {
  ConfigError,
  isSecretName,
  isVersionAlias,
  loadDatastoreSettings,
  loadTimingSettings,
} from '../../shared/platform/config';
import type { AdminContext } from '../../shared/admin/context';
import type { SigningKeyAdminContext } from '../../shared/admin/signingKeyRotation';
import { secretManagerClient } from '../../shared/platform/googleClients';
import { isEmulatorReady } from '../dev/emulator';
import { UsageError } from './args';
import type { OutputStream } from './output';
import type { Destination } from './serviceErrors';

export type Env = Readonly<Record<string, string | undefined>>;

export interface CliIO {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: Env;
  /** Read by `signing-key stage -` (default: process.stdin). */
  readonly stdin?: AsyncIterable<Buffer | string>;
  /** The clock of every rule with a time in it (tests move it; default: the system's). */
  readonly now?: () => Date;
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** Shown in help as `--name <value>`. */
  readonly value?: string;
  readonly short?: string;
}

export type Values = Readonly<Record<string, string | boolean | undefined>>;

export interface Invocation {
  readonly values: Values;
  readonly positionals: readonly string[];
  readonly io: CliIO;
  readonly session: Session;
  readonly asJson: boolean;
  out(text: string): void;
  note(text: string): void;
}

export interface Command {
  readonly noun: string;
  readonly verb: string;
  readonly summary: string;
  /** Positionals in the usage line, e.g. `<integration-id>`. */
  readonly usage?: string;
  readonly positionals: readonly [min: number, max: number];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Extra lines for --help: what the command does beyond its summary. */
  readonly details?: readonly string[];
  readonly examples: readonly string[];
  /** Needs the Secret Manager options (`--secret`, `--alias`) rather than Datastore's. */
  readonly secretManager?: boolean;
  run(call: Invocation): Promise<void>;
}

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  project: { type: 'string', value: 'id', description: 'Google Cloud project (default: PROJECT_ID, else detected)' },
  'integration-ns': {
    type: 'string',
    value: 'ns',
    description: 'namespace of integrations (default: CLIENT_INTEGRATION_NS, else client-integration)',
  },
  'platform-ns': {
    type: 'string',
    value: 'ns',
    description: 'namespace of organisations (default: PLATFORM_NS, else platform-credentials)',
  },
  json: { type: 'boolean', description: 'print JSON instead of tables' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

export const SECRET_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  secret: {
    type: 'string',
    value: 'projects/<p>/secrets/<name>',
    description: 'the signing-key secret (default: SIGNING_KEY_SECRET)',
  },
  alias: {
    type: 'string',
    value: 'name',
    description: 'the version alias signers read (default: SIGNING_KEY_VERSION if an alias, else current)',
  },
};

function optionLine(name: string, spec: OptionSpec): [string, string] {
  const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` <${spec.value}>` : ''}`;
  return [flag, spec.description];
}

function optionBlock(options: Readonly<Record<string, OptionSpec>>): string {
  const lines = Object.entries(options).map(([name, spec]) => optionLine(name, spec));
  const width = Math.max(...lines.map(([flag]) => flag.length));
  return lines.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`).join('\n');
}

export function commandHelp(command: Command): string {
  const parts = [
    `Usage: token-admin ${command.noun} ${command.verb}${command.usage ? ` ${command.usage}` : ''} [options]`,
    '',
    command.summary,
    ...(command.details && command.details.length > 0 ? ['', ...command.details] : []),
  ];
  if (Object.keys(command.options).length > 0) parts.push('', 'Options:', optionBlock(command.options));
  if (command.secretManager) parts.push('', 'Secret Manager options:', optionBlock(SECRET_OPTIONS));
  parts.push('', 'Global options:', optionBlock(GLOBAL_OPTIONS));
  if (command.examples.length > 0) parts.push('', 'Examples:', ...command.examples.map((example) => `  ${example}`));
  return `${parts.join('\n')}\n`;
}

export function nounHelp(noun: string, commands: readonly Command[]): string {
  const verbs = commands.filter((c) => c.noun === noun);
  const width = Math.max(...verbs.map((c) => c.verb.length));
  return [
    `Usage: token-admin ${noun} <command> [options]`,
    '',
    'Commands:',
    ...verbs.map((c) => `  ${c.verb.padEnd(width)}  ${c.summary}`),
    '',
    `Run token-admin ${noun} <command> --help for its options.`,
    '',
  ].join('\n');
}

export function mainHelp(commands: readonly Command[]): string {
  const names = commands.map((c) => `${c.noun} ${c.verb}`);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'Usage: token-admin <noun> <verb> [options]',
    '',
    'Administers the token exchange: integrations, organisations and their API keys in Datastore',
    '(the emulator when DATASTORE_EMULATOR_HOST is set), and the signing key in Secret Manager.',
    '',
    'Commands:',
    ...commands.map((c, i) => `  ${names[i].padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    optionBlock(GLOBAL_OPTIONS),
    '',
    "Run token-admin <noun> <verb> --help for a command's options and examples; token-admin --version",
    'names the version and the Node it runs on.',
    '',
  ].join('\n');
}

/** What to say when no project is named and none can be detected. */
export const NO_PROJECT = 'no Google Cloud project: set PROJECT_ID or pass --project <id>';

/** How long an emulator has to answer before a command gives up on it. */
const EMULATOR_DEADLINE_MS = 3000;

/** Clients and settings, each made on first use: `key list` never opens Secret Manager. */
export class Session {
  private datastore?: Datastore;
  private secretManager?: SecretManagerServiceClient;

  constructor(
    private readonly io: CliIO,
    private readonly values: Values,
  ) {}

  now(): Date {
    return (this.io.now ?? (() => new Date()))();
  }

  private option(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === 'string' ? value : undefined;
  }

  /** The environment with the global options applied over it, checked by the shared rules. */
  private env(): Env {
    const env: Record<string, string | undefined> = { ...this.io.env };
    const project = this.option('project');
    if (project !== undefined) env.PROJECT_ID = project;
    const integrationNs = this.option('integration-ns');
    if (integrationNs !== undefined) env.CLIENT_INTEGRATION_NS = integrationNs;
    const platformNs = this.option('platform-ns');
    if (platformNs !== undefined) env.PLATFORM_NS = platformNs;
    return env;
  }

  /**
   * Before a Datastore command, on an emulator: a missing project is named at once (the
   * library would spend seconds looking for one, then say "Unable to detect a Project Id"),
   * and an emulator that does not answer fails within seconds, where gRPC retries for over
   * a minute. Against Google's Datastore the project may still be detected (gcloud's
   * configuration, the metadata server); a failure there gets the same hint.
   */
  async checkDatastore(): Promise<void> {
    const host = this.io.env.DATASTORE_EMULATOR_HOST;
    if (!host) return;
    if (loadDatastoreSettings(this.env()).projectId === undefined && !this.io.env.DATASTORE_PROJECT_ID)
      throw new ConfigError(NO_PROJECT);
    if (!(await isEmulatorReady(host, EMULATOR_DEADLINE_MS))) {
      throw new ConfigError(
        `cannot reach Datastore at ${host} (DATASTORE_EMULATOR_HOST): ` +
          'is the emulator running? npm start prints the host to use',
      );
    }
  }

  /**
   * Where this command's calls go, for the words of a failure: Datastore's emulator and
   * project, or Secret Manager's stand-in and the secret (from --secret or SIGNING_KEY_SECRET).
   */
  destination(command: Pick<Command, 'secretManager'>): Destination {
    const env = this.env();
    if (command.secretManager) {
      const { secret, setting } = this.secretNamed();
      return {
        service: 'Secret Manager',
        emulatorHost: env.SECRET_MANAGER_EMULATOR_HOST || undefined,
        secret: secret || undefined,
        secretSetting: setting,
      };
    }
    return {
      service: 'Datastore',
      emulatorHost: env.DATASTORE_EMULATOR_HOST || undefined,
      projectId: env.PROJECT_ID || env.DATASTORE_PROJECT_ID || undefined,
    };
  }

  admin(): AdminContext {
    const settings = loadDatastoreSettings(this.env());
    if (this.datastore === undefined) {
      // The client would read DATASTORE_EMULATOR_HOST from process.env; the CLI's env may differ.
      this.datastore = new Datastore(
        datastoreOptions({ projectId: settings.projectId, emulatorHost: settings.datastoreEmulatorHost }),
      );
    }
    const now = (): Date => this.now();
    return { datastore: this.datastore, namespaces: settings, now };
  }

  /** The secret a Secret Manager command works on, and where its name came from. */
  private secretNamed(): { secret: string | undefined; setting: '--secret' | 'SIGNING_KEY_SECRET' } {
    const fromOption = this.option('secret');
    if (fromOption !== undefined) return { secret: fromOption, setting: '--secret' };
    return { secret: this.env().SIGNING_KEY_SECRET, setting: 'SIGNING_KEY_SECRET' };
  }

  signingKeys(): SigningKeyAdminContext {
    const env = this.env();
    const { secret } = this.secretNamed();
    if (!secret)
      throw new UsageError(
        'no signing-key secret: pass --secret projects/<project>/secrets/<name> or set SIGNING_KEY_SECRET',
      );
    if (!isSecretName(secret))
      throw new UsageError(
        `the secret must look like projects/<project>/secrets/<name>, got ${JSON.stringify(secret)}`,
      );
    const alias = this.option('alias') ?? this.aliasFromEnv(env);
    if (!isVersionAlias(alias))
      throw new UsageError(
        '--alias must be a version alias (a letter, then letters, digits, - or _; not latest), ' +
          `got ${JSON.stringify(alias)}`,
      );
    this.secretManager ??= secretManagerClient(env);
    const now = (): Date => this.now();
    return { client: this.secretManager, secret, alias, timing: loadTimingSettings(env), now };
  }

  private aliasFromEnv(env: Env): string {
    const version = env.SIGNING_KEY_VERSION;
    if (!version) return 'current';
    if (!isVersionAlias(version)) {
      throw new ConfigError(
        `SIGNING_KEY_VERSION is ${JSON.stringify(version)}, not an alias: ` +
          'a rotation needs signers to read an alias (pass --alias)',
      );
    }
    return version;
  }

  async close(): Promise<void> {
    await this.secretManager?.close();
    // The Datastore client has no close of its own; its gapic clients hold the channels.
    const clients = (this.datastore as unknown as { clients_?: Map<string, { close(): Promise<void> }> } | undefined)
      ?.clients_;
    if (clients) await Promise.all([...clients.values()].map((client) => client.close().catch(() => undefined)));
  }
}
