// Versioned schema of the MariaDB/MySQL driver. Append a migration to change the schema; never
// edit one that has shipped. Every table uses a binary collation so paths and users compare exactly.

/** One schema step: the statements that take the schema from version-1 to version. */
export interface Migration { version: number; statements: string[] }

const T = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

/** All migrations, in order. */
export const migrations: Migration[] = [
  {
    version: 1,
    statements: [
      `CREATE TABLE IF NOT EXISTS dman_heads (
        user VARCHAR(64) NOT NULL PRIMARY KEY,
        rev BIGINT NOT NULL,
        last_commit_at BIGINT NULL
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_entries (
        user VARCHAR(64) NOT NULL,
        path_key BINARY(32) NOT NULL,
        rev BIGINT NOT NULL,
        deleted TINYINT NOT NULL,
        size BIGINT NOT NULL,
        entry MEDIUMTEXT NOT NULL,
        PRIMARY KEY (user, path_key),
        KEY by_rev (user, rev)
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_versions (
        user VARCHAR(64) NOT NULL,
        rev BIGINT NOT NULL,
        path_key BINARY(32) NOT NULL,
        hash CHAR(64) NULL,
        updated_at BIGINT NOT NULL,
        entry MEDIUMTEXT NOT NULL,
        PRIMARY KEY (user, rev),
        KEY by_path (user, path_key, rev),
        KEY by_hash (hash)
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_idempotency (
        user VARCHAR(64) NOT NULL,
        k VARCHAR(128) NOT NULL,
        created_at BIGINT NOT NULL,
        result LONGTEXT NOT NULL,
        PRIMARY KEY (user, k),
        KEY by_time (created_at)
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_blobs (
        hash CHAR(64) NOT NULL PRIMARY KEY,
        size BIGINT NOT NULL,
        chunks INT NOT NULL,
        upload_id CHAR(36) NOT NULL,
        created_at BIGINT NOT NULL
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_uploads (
        upload_id CHAR(36) NOT NULL PRIMARY KEY,
        started_at BIGINT NOT NULL
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_blob_chunks (
        upload_id CHAR(36) NOT NULL,
        seq INT NOT NULL,
        data LONGBLOB NOT NULL,
        PRIMARY KEY (upload_id, seq)
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_blob_owners (
        user VARCHAR(64) NOT NULL,
        hash CHAR(64) NOT NULL,
        PRIMARY KEY (user, hash),
        KEY by_hash (hash)
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_tokens (
        id VARCHAR(128) NOT NULL PRIMARY KEY,
        hash CHAR(64) NOT NULL,
        rec TEXT NOT NULL,
        KEY by_hash (hash)
      ) ${T}`,
      `CREATE TABLE IF NOT EXISTS dman_audit (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        time BIGINT NOT NULL,
        user VARCHAR(64) NULL,
        rec TEXT NOT NULL,
        KEY by_time (time)
      ) ${T}`,
    ],
  },
  {
    // gc's grace period counts from the latest upload of a blob, not its first.
    version: 2,
    statements: [
      'ALTER TABLE dman_blobs ADD COLUMN uploaded_at BIGINT NOT NULL DEFAULT 0',
      'UPDATE dman_blobs SET uploaded_at = created_at',
    ],
  },
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = migrations[migrations.length - 1]!.version;
