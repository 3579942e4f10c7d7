// Picks the Store driver named by the config. Never falls back to another driver: a config
// naming Redis whose server is down must fail at start-up, not quietly write to disk.
import { DmanError } from '../../shared/errors.js';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { silentLogger, type Logger } from '../../engine/log.js';
import { DiskStore } from './DiskStore.js';
import { MemoryStore } from './MemoryStore.js';
import { MariaDbStore } from './mariadb/MariaDbStore.js';
import { RedisStore } from './redis/RedisStore.js';
import type { Store } from './Store.js';

export interface CreateStoreOptions {
  /** `storage_driver` from the config ('maria' and 'mysql' are aliases of 'mariadb'), or 'memory' for tests. */
  driver: EffectiveConfig['storage_driver'] | 'maria' | 'mysql' | 'memory';
  /** Data dir of the disk driver (required for 'disk'). */
  dataDir?: string;
  redis?: EffectiveConfig['redis'];
  db?: EffectiveConfig['db'];
  log?: Logger;
  /** Disk driver only: skip fsyncs (speed tests only). */
  fsync?: boolean;
}

/** Creates the driver named by `opts.driver` (not yet opened: call `open()`). */
export function createStore(opts: CreateStoreOptions): Store {
  const log = opts.log ?? silentLogger();
  switch (opts.driver) {
    case 'memory':
      return new MemoryStore();
    case 'disk':
      if (!opts.dataDir) {
        throw new DmanError('CONFIG_INVALID', 'storage_driver is "disk" but no data dir was given', {
          hint: 'Set data_dir in dman.yaml or pass --data-dir DIR to `dman serve`.',
          context: { key: 'data_dir', driver: 'disk' },
        });
      }
      return new DiskStore({ dataDir: opts.dataDir, log, fsync: opts.fsync });
    case 'redis':
      return new RedisStore({ redis: opts.redis ?? { db: 0, tls: false, tls_insecure_skip_verify: false }, log });
    case 'maria':
    case 'mysql':
    case 'mariadb':
      return new MariaDbStore({ db: opts.db ?? { tls: false, tls_insecure_skip_verify: false }, log });
    default:
      throw new DmanError('CONFIG_INVALID', `Unknown storage_driver ${JSON.stringify(opts.driver)}: use disk, redis or mariadb`, { context: { key: 'storage_driver' } });
  }
}
