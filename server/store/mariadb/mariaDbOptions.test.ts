import { describe, expect, it } from 'vitest';
import { formatQuery, mariaDbPoolOptions } from './mariaDbOptions.js';

describe('formatQuery (the pool\'s queryFormat)', () => {
  it('sends a statement without values as it is, however large, with its ? and quotes untouched', () => {
    const sql = `INSERT INTO t (a, b) VALUES ${Array.from({ length: 2000 }, (_, i) => `(X'${i.toString(16).padStart(4, '0')}', 'why?')`).join(',')}`;
    expect(formatQuery(sql)).toBe(sql);
    expect(formatQuery(sql, [])).toBe(sql);
    expect(formatQuery(sql, null)).toBe(sql);
  });

  it('formats a statement with values as mysql2 does: escaped literals in the places of its ?', () => {
    expect(formatQuery('SELECT ?, ?, ? FROM t WHERE a = ?', [1, "it's", null, Buffer.from('ab')])).toBe("SELECT 1, 'it\\'s', NULL FROM t WHERE a = X'6162'");
    expect(formatQuery("SELECT '?' AS q, ?", ['x'])).toBe("SELECT '?' AS q, 'x'");
  });

  it('is what every pooled connection formats with', () => {
    expect(mariaDbPoolOptions({ addr: '127.0.0.1:3306', tls: false, tls_insecure_skip_verify: false }, { connectTimeoutMs: 1000, connectionLimit: 2, queueLimit: 0 }, 'x').queryFormat).toBe(formatQuery);
  });
});
